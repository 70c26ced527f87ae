"""The azure target's secret settings, checked with the rest of the spec: the reference syntax and the Key Vault
secret names the stack gives the values it stores (components/azure/secrets.py makes them).

Pure Python (no Pulumi import): the spec checks use it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..secrets import check_refs
from ..validation import Problems
from .options import KEY_VAULT_ID_RE

SECRET_REF_RE = re.compile(KEY_VAULT_ID_RE.pattern.removesuffix("$") + r"/secrets/(?P<secret>[-a-zA-Z0-9]{1,127})$",
                           re.IGNORECASE)
SECRET_REF_SYNTAX = ("a Key Vault secret's resource id: /subscriptions/<subscription>/resourceGroups/<group>/providers/"
                     "Microsoft.KeyVault/vaults/<vault>/secrets/<name> (a vault with Azure RBAC, in the stack's "
                     "tenant; the service reads the latest version)")
SECRET_NAME_MAX = 127


@dataclass(frozen=True)
class KeyVaultRef:
    """An existing Key Vault secret: the role assignment's scope, and what the CSI driver fetches."""

    id: str
    vault: str
    secret: str


def parse_ref(ref: str) -> KeyVaultRef | None:
    match = SECRET_REF_RE.match(ref)
    return KeyVaultRef(ref, match.group("name").lower(), match.group("secret")) if match else None


def vault_secret_name(service: str, key: str) -> str:
    """The stack's Key Vault secret holding `key` of `service` (Key Vault names take letters, digits and '-')."""
    return f"{service}-{key.replace('_', '-')}"


def check_secrets(p: Problems, spec) -> None:
    """References in the syntax above; the values' Key Vault names within Key Vault's limits and apart (Key Vault
    compares names without case, and `_` becomes `-`)."""
    check_refs(p, spec, parse_ref, SECRET_REF_SYNTAX)
    taken: dict[str, str] = {}
    for service in spec.services:
        for key, setting in sorted(service.secrets.items()):
            if setting.value is None:
                continue
            path, name = f"services.{service.name}.environment.{key}", vault_secret_name(service.name, key)
            if len(name) > SECRET_NAME_MAX:
                p.add(path, key, f"a shorter name: the Key Vault secret {name} would be longer than "
                                 f"{SECRET_NAME_MAX} characters")
            elif name.lower() in taken:
                p.add(path, key, f"a name apart from {taken[name.lower()]}: both would be the Key Vault "
                                 f"secret {name}")
            else:
                taken[name.lower()] = path
