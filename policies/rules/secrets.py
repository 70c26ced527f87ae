"""What the pack needs to see secrets: which names look like credentials, and which values Pulumi marks secret.

pulumi_policy hands a rule its resource's properties with Pulumi's secret marker taken off. The engine
sends secrets marked (as the offline check does), so `mark_secrets` keeps the mark on secret strings: a
secret string reaches the rules as a `SecretText` (a str), which `security-secret-env` refuses in a
plain environment variable.
"""
from __future__ import annotations

import re

import pulumi_policy.deserialize as _deserialize

CREDENTIAL_NAME = re.compile(
    r"(^|_)(PASSWORD|PASSWD|PWD|PASSPHRASE|TOKEN|SECRET|KEY|APIKEY|CREDENTIALS?|PRIVATE_KEY|DSN)$", re.IGNORECASE)
"""Environment variable names of credentials: *_PASSWORD, *_TOKEN, *_SECRET, *_KEY, ... (a whole `_` part)."""


class SecretText(str):
    """A string Pulumi marked secret."""


def mark_secrets() -> None:
    """Keep the secret mark on strings when pulumi_policy deserializes properties (idempotent)."""
    original = _deserialize._deserialize_property
    if getattr(original, "_marks_secrets", False):
        return

    def deserialize(prop, proxy_secrets: bool = False):
        if (isinstance(prop, dict) and prop.get(_deserialize.SPECIAL_SIG_KEY) == _deserialize.SPECIAL_SECRET_SIG
                and "value" in prop and not proxy_secrets):
            value = original(prop["value"], proxy_secrets)
            return SecretText(value) if isinstance(value, str) else value
        return original(prop, proxy_secrets)

    deserialize._marks_secrets = True
    _deserialize._deserialize_property = deserialize


def is_secret(value) -> bool:
    return isinstance(value, SecretText)


def looks_like_credential(name: str, allowed: frozenset[str] = frozenset()) -> bool:
    return bool(CREDENTIAL_NAME.search(name)) and name not in allowed
