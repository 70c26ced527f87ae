"""The gcp target's secret settings, checked with the rest of the spec: the reference syntax, the Secret Manager
ids the stack gives the values it stores (components/gcp/secrets.py makes them), and the `<KEY>_FILE` variables
that name the files GKE's Secret Manager add-on writes.

Pure Python (no Pulumi import): the spec checks use it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..kubernetes.options import SECRET_FILE_SUFFIX as FILE_SUFFIX
from ..secrets import check_refs
from ..stackfile import OPAQUE_SECRET
from ..validation import Problems

SECRET_REF_RE = re.compile(r"^projects/(?P<project>[a-z][-a-z0-9]{4,28}[a-z0-9]|[0-9]{1,20})/secrets/"
                           r"(?P<secret>[-_a-zA-Z0-9]{1,255})(/versions/(?P<version>[1-9][0-9]{0,18}|latest))?$")
SECRET_REF_SYNTAX = ("a Secret Manager secret: projects/<project id or number>/secrets/<name>, optionally "
                     "/versions/<number or latest> (default latest; a global secret)")


@dataclass(frozen=True)
class SecretManagerRef:
    """An existing Secret Manager secret: the IAM binding's secret, and the version the add-on mounts."""

    project: str
    secret: str
    version: str

    @property
    def resource_name(self) -> str:
        return f"projects/{self.project}/secrets/{self.secret}/versions/{self.version}"


def parse_ref(ref: str) -> SecretManagerRef | None:
    match = SECRET_REF_RE.match(ref)
    return SecretManagerRef(match.group("project"), match.group("secret"), match.group("version") or "latest") \
        if match else None


def secret_prefix(project: str, stack: str) -> str:
    """What the stack's Secret Manager secrets start with: apart per stack in a shared project."""
    return re.sub(r"[^-_a-zA-Z0-9]", "-", f"{project}-{stack}")


def secret_id(prefix: str, service: str, key: str) -> str:
    """The stack's Secret Manager secret holding `key` of `service` (a key has no '-': the last one ends the
    service's name, so no two settings share a secret)."""
    return f"{prefix}-{service}-{key}"


def check_secrets(p: Problems, spec) -> None:
    """References in the syntax above; no `<KEY>_FILE` that is already another setting of the service."""
    check_refs(p, spec, parse_ref, SECRET_REF_SYNTAX)
    for service in spec.services:
        for key in sorted(service.secrets):
            other = f"{key}{FILE_SUFFIX}"
            if other in service.environment or other in service.secrets:
                p.add(f"services.{service.name}.environment.{other}", _shown(service, other),
                      f"unset: on gcp the service reads {key} from the file that {other} names (GKE's Secret "
                      "Manager add-on writes files only)")


def _shown(service, key: str):
    """A setting as a problem shows it: a secret value never."""
    if key in service.environment:
        return service.environment[key]
    setting = service.secrets[key]
    return {"secret_ref": setting.ref} if setting.ref is not None else OPAQUE_SECRET
