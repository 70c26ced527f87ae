"""security-secret-env: no credential and no secret in a plain environment variable.

A plain environment variable is stored in clear text in the Pulumi state, in the Deployment or task
definition, and shown by `kubectl describe` or the ECS console. A secret belongs in the platform's store
and reaches the container by reference: `valueFrom.secretKeyRef` (Kubernetes), the task definition's
`secrets` (ECS). Flagged: a plain value whose name looks like a credential (*_PASSWORD, *_TOKEN,
*_SECRET, *_KEY, ...; the `allowed_names` config lists false positives), and any value Pulumi marks secret.
A Docker container's `envs` are judged too (Docker has no secret store outside swarm mode: the docker
target refuses secret settings, so none should ever reach one).
"""
from __future__ import annotations

import json

from .common import listed, plain, resource_message, resource_policy, setting, unknown
from .kube import container_path, containers, pod_spec
from .secrets import is_secret, looks_like_credential
from .types import AWS_ECS_TASK_DEFINITION, DOCKER_CONTAINER, K8S_POD_BEARING

NAME = "security-secret-env"
TOKENS = {**{t: ("spec",) for t in K8S_POD_BEARING}, AWS_ECS_TASK_DEFINITION: ("containerDefinitions",),
          DOCKER_CONTAINER: ("envs",)}
FIX = "move it to the service's secret settings (pulumi config set --secret, or {secret_ref: ...})"


def _plain_env(resource_type: str, props: dict, raw_definitions) -> list[tuple[str, str, object]]:
    """(path, name, value) of every plain environment variable the resource gives a container."""
    found = []
    if resource_type in K8S_POD_BEARING:
        for index, (field, container) in enumerate(containers(pod_spec(props, resource_type), init=True)):
            where = container_path(resource_type, field, container, index)
            for entry in listed(container.get("env")):
                if isinstance(entry, dict) and "value" in entry and "valueFrom" not in entry:
                    found.append((f"{where}.env[{entry.get('name')}]", str(entry.get("name")), entry.get("value")))
    elif resource_type == AWS_ECS_TASK_DEFINITION and isinstance(raw_definitions, str) and not unknown(raw_definitions):
        try:
            definitions = json.loads(raw_definitions)
        except ValueError:
            return found
        for index, container in enumerate(definitions if isinstance(definitions, list) else []):
            for entry in listed(container.get("environment")) if isinstance(container, dict) else []:
                if isinstance(entry, dict):
                    where = f"containerDefinitions[{container.get('name') or index}].environment"
                    found.append((f"{where}[{entry.get('name')}]", str(entry.get("name")), entry.get("value")))
    elif resource_type == DOCKER_CONTAINER:
        # `KEY=VALUE` strings: a secret value makes the whole entry secret, so the entry is what is judged.
        for entry in listed(props.get("envs")):
            if isinstance(entry, str) and not unknown(entry):
                name, _, value = entry.partition("=")
                found.append((f"envs[{name}]", name, entry if is_secret(entry) else value))
    return found


def validate(args, report):
    allowed = frozenset(setting(args, "allowed_names", []))
    raw_definitions = args.props.get("containerDefinitions") if args.resource_type == AWS_ECS_TASK_DEFINITION else None
    if is_secret(raw_definitions):
        report(resource_message(args.name, args.resource_type, "containerDefinitions holds a secret value inline (in "
                                f"clear text in the task definition); pass it in `secrets`: {FIX}", NAME))
    for path, name, value in _plain_env(args.resource_type, plain(args.props), raw_definitions):
        if is_secret(value):
            report(resource_message(args.name, args.resource_type, f"{path} is a secret in a plain environment "
                                    f"variable (clear text in the object and its API); {FIX}", NAME))
        elif looks_like_credential(name, allowed):
            report(resource_message(args.name, args.resource_type, f"{path} looks like a credential ({name}) in a "
                                    f"plain environment variable; {FIX}, or list the name in this rule's "
                                    "allowed_names if it is not one", NAME))


POLICY = resource_policy(
    NAME,
    "No credential and no secret in a plain environment variable: secrets reach containers by reference.",
    validate,
    "Set the value with `pulumi config set --secret --path 'apigw:services.<svc>.environment.<KEY>' ...` (or "
    "reference an existing secret: `<KEY>: {secret_ref: ...}`): the stack stores it in the target's secret "
    "store and the container reads it by reference.",
    config={"allowed_names": {"type": "array", "items": {"type": "string"},
                              "description": "Environment variable names that look like credentials but are not"}},
)
