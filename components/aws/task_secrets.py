"""A service's secret settings on ECS: its own Secrets Manager secret for the values the stack holds,
references to secrets that exist, and the execution role that may read exactly those.

ECS hands a container its `secrets` at start, fetched with the task *execution* role. The cluster's
shared execution role would let every service read every service's secrets, so a service with secrets
gets an execution role of its own, allowed to read its own secrets only.
"""
from __future__ import annotations

import json
import re

SECRETS_MANAGER_REF = re.compile(
    r"^(?P<arn>arn:aws(?:-cn|-us-gov)?:secretsmanager:(?P<region>[a-z0-9-]+):\d{12}:secret:[A-Za-z0-9/_+=.@-]+?)"
    r"(?::(?P<key>[^:]*):(?P<stage>[^:]*):(?P<version>[^:]*))?$")
"""A secret's ARN, optionally with ECS's :<json-key>:<version-stage>:<version-id> suffix (each may be empty)."""
SSM_REF = re.compile(r"^(?P<arn>arn:aws(?:-cn|-us-gov)?:ssm:(?P<region>[a-z0-9-]+):\d{12}:parameter/[A-Za-z0-9/_.-]+)$")
RANDOM_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")
RECOVERY_WINDOW_DAYS = 7
"""A deleted secret can be restored for this long (AWS allows 7-30); `destroy` then `up` within it fails on the name."""


def parse_ref(ref: str) -> tuple[str, str] | None:
    """(region, IAM resource) of a reference ECS can resolve, or None."""
    match = SECRETS_MANAGER_REF.match(ref)
    if match:
        arn = match.group("arn")
        # ECS resolves a partial ARN (without AWS's 6-character suffix) too; IAM then needs the suffix's wildcard.
        return match.group("region"), arn if RANDOM_SUFFIX.search(arn) else f"{arn}-??????"
    match = SSM_REF.match(ref)
    return (match.group("region"), match.group("arn")) if match else None


def container_secrets(own_secret_arn: str | None, values: list[str], refs: dict[str, str]) -> list[dict]:
    """The container definition's `secrets`: each value as a JSON key of the service's own secret."""
    entries = {key: f"{own_secret_arn}:{key}::" for key in values}
    entries.update(refs)
    return [{"name": key, "valueFrom": entries[key]} for key in sorted(entries)]


def read_policy(own_secret_arn: str | None, refs: dict[str, str]) -> str:
    """Exactly the reads its secrets need: its own secret, the referenced secrets and parameters."""
    secrets = sorted({*([own_secret_arn] if own_secret_arn else []),
                      *(parse_ref(r)[1] for r in refs.values() if ":secretsmanager:" in r)})
    parameters = sorted({parse_ref(r)[1] for r in refs.values() if ":ssm:" in r})
    statements = []
    if secrets:
        statements.append({"Sid": "OwnSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                           "Resource": secrets})
    if parameters:
        statements.append({"Sid": "OwnParameters", "Effect": "Allow", "Action": ["ssm:GetParameters"],
                           "Resource": parameters})
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def refs_problem(ref: str, region: str) -> str | None:
    parsed = parse_ref(ref)
    if parsed is None:
        return ("a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>, optionally "
                ":<json-key>::) or an SSM parameter ARN (arn:aws:ssm:<region>:<account>:parameter/<name>)")
    if parsed[0] != region:
        return f"a secret in the stack's region {region} (ECS reads it there)"
    return None

