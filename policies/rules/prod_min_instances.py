"""prod-min-instances: every gateway fleet and service can run at least 2 instances at its minimum.

One instance is a single point of failure: a node drain, a deploy or a crash takes the program
down. The gateway fleet (labelled/tagged `component: gateway`) needs 3, like the prod preset.
Node pools and agent pools are checked by prod-min-nodes.
"""
from __future__ import annotations

from .common import (
    PROD_MIN_GATEWAY_INSTANCES,
    PROD_MIN_INSTANCES,
    dig,
    is_gateway,
    message,
    number,
    plain,
    resource_policy,
    setting,
)
from .types import (
    AWS_ASG,
    AWS_ECS_SERVICE,
    AWS_SCALABLE_TARGET,
    K8S_DEPLOYMENT,
    K8S_HPAS,
    K8S_REPLICASET,
    K8S_STATEFULSET,
)

NAME = "prod-min-instances"

# type token -> (property path, the provider's value when it is not set)
MINIMUMS = {
    K8S_DEPLOYMENT: ("spec.replicas", 1.0),
    K8S_STATEFULSET: ("spec.replicas", 1.0),
    K8S_REPLICASET: ("spec.replicas", 1.0),
    **{hpa: ("spec.minReplicas", 1.0) for hpa in K8S_HPAS},
    AWS_ECS_SERVICE: ("desiredCount", 0.0),
    AWS_SCALABLE_TARGET: ("minCapacity", None),
    AWS_ASG: ("minSize", None),
}
TOKENS = {token: (path.split(".")[0],) for token, (path, _) in MINIMUMS.items()}
TOKENS[AWS_SCALABLE_TARGET] += ("serviceNamespace",)
TOKENS[AWS_ECS_SERVICE] += ("schedulingStrategy",)


def validate(args, report):
    if args.resource_type not in MINIMUMS:
        return
    props = plain(args.props)
    if args.resource_type == AWS_SCALABLE_TARGET and props.get("serviceNamespace") != "ecs":
        return  # DynamoDB, Lambda, ... scale capacity, not instances
    if args.resource_type == AWS_ECS_SERVICE and props.get("schedulingStrategy") == "DAEMON":
        return  # one task per container instance: prod-min-nodes' business
    path, unset = MINIMUMS[args.resource_type]
    value = number(props, path, unset)
    gateway = is_gateway(props)
    floor = setting(args, "minGatewayInstances" if gateway else "minInstances",
                    PROD_MIN_GATEWAY_INSTANCES if gateway else PROD_MIN_INSTANCES)
    if value is None or value < floor:
        what = f"prod needs at least {floor}" + (" for the gateway fleet" if gateway else "")
        shown = None if dig(props, path) is None else value
        found_text = f"not set (defaults to {int(unset)})" if shown is None and unset is not None else None
        report(message(args.name, args.resource_type, path, shown, what, NAME, found_text))


POLICY = resource_policy(
    NAME,
    "Every gateway fleet and service runs at least 2 instances at its minimum (3 for the gateway).",
    validate,
    "Raise `instances.min` in the stack file (gateway >= 3, every service >= 2); the program sets "
    "replicas/minReplicas, ECS desired count and scalable-target min capacity from it.",
    config={"minInstances": {"type": "integer", "minimum": 1, "default": PROD_MIN_INSTANCES},
            "minGatewayInstances": {"type": "integer", "minimum": 1, "default": PROD_MIN_GATEWAY_INSTANCES}},
)
