"""Secret service settings, shared by the targets: checking each target's reference syntax, and the
one rule of the program that a secret value never becomes a plain environment variable.

Pure Python (no Pulumi import): the spec checks use it.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from .validation import Problems

K8S_SECRET_REF = re.compile(r"^(?P<name>[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)/(?P<key>[-._a-zA-Z0-9]{1,253})$")
"""<Secret name>/<key>: a Secret of the workloads' namespace (DNS subdomain name, key as Kubernetes allows)."""


def kubernetes_ref(ref: str) -> tuple[str, str] | None:
    match = K8S_SECRET_REF.match(ref)
    return (match.group("name"), match.group("key")) if match else None


def check_refs(p: Problems, spec, parse: Callable[[str], object | None], allowed: str) -> None:
    """Each `secret_ref` in the target's syntax, reported at its key path."""
    for service in spec.services:
        for key, setting in sorted(service.secrets.items()):
            if setting.ref is not None and parse(setting.ref) is None:
                p.add(f"services.{service.name}.environment.{key}.secret_ref", setting.ref, allowed)


def refuse_secrets(p: Problems, spec, why: str) -> None:
    """For a target that cannot keep secrets yet: every secret setting is refused, never passed on plain."""
    for service in spec.services:
        for key in sorted(service.secrets):
            p.add(f"services.{service.name}.environment.{key}", "[secret]", why)
