"""prod-spread-across-hosts: instances spread over hosts; no host ports, no host network.

This is the reference's "same server, multiple ports" anti-pattern: several instances on one
host share its failure and its resources. Kubernetes workloads need a hostname topology spread
(DoNotSchedule) or a required pod anti-affinity on the hostname; hostPort and hostNetwork tie
pods to ports of a node. ECS tasks must not use host networking or static host ports, and EC2
services must spread over container instances.
"""
from __future__ import annotations

import json

from .common import listed, message, plain, resource_message, resource_policy, unknown
from .kube import (
    HOSTNAME_KEY,
    container_path,
    containers,
    pod_spec,
    pod_spec_path,
    required_anti_affinity,
    spread_constraints,
)
from .types import AWS_ECS_SERVICE, AWS_ECS_TASK_DEFINITION, K8S_POD_BEARING, K8S_REPLICATED

NAME = "prod-spread-across-hosts"

TOKENS = {
    **{t: ("spec",) for t in K8S_POD_BEARING},
    AWS_ECS_TASK_DEFINITION: ("networkMode", "containerDefinitions", "requiresCompatibilities"),
    AWS_ECS_SERVICE: ("launchType", "capacityProviderStrategies", "orderedPlacementStrategies", "placementConstraints"),
}


def _kubernetes(args, props, report):
    t = args.resource_type
    spec = pod_spec(props, t)
    base = pod_spec_path(t)
    if spec.get("hostNetwork") is True:
        report(message(args.name, t, f"{base}.hostNetwork", True,
                       "prod needs false: pods on the node's network compete for its ports", NAME))
    for index, (field, container) in enumerate(containers(spec, init=True)):
        for port in listed(container.get("ports")):
            if isinstance(port, dict) and port.get("hostPort"):
                report(message(args.name, t, f"{container_path(t, field, container, index)}.ports"
                               f"[{port.get('name') or port.get('containerPort')}].hostPort", port.get("hostPort"),
                               "prod needs no hostPort: it pins one instance per node port (use a Service)", NAME))
    if t not in K8S_REPLICATED or required_anti_affinity(spec, (HOSTNAME_KEY,)):
        return
    constraints = spread_constraints(spec, (HOSTNAME_KEY,))
    path = f"{base}.topologySpreadConstraints"
    passes = (f"prod needs a constraint on {HOSTNAME_KEY} with whenUnsatisfiable DoNotSchedule "
              "(or a required pod anti-affinity on the hostname)")
    if not constraints:
        report(message(args.name, t, path, None, passes, NAME, f"without a {HOSTNAME_KEY} constraint"))
    elif not any((c.get("whenUnsatisfiable") or "DoNotSchedule") == "DoNotSchedule" for c in constraints):
        report(message(args.name, t, f"{path}[{HOSTNAME_KEY}].whenUnsatisfiable",
                       constraints[0].get("whenUnsatisfiable"),
                       "prod needs DoNotSchedule: ScheduleAnyway lets every instance land on one host", NAME))


def _task_definition(args, props, report):
    mode = props.get("networkMode")
    if mode == "host":
        report(message(args.name, args.resource_type, "networkMode", mode,
                       'prod needs "awsvpc": host networking runs tasks on the host\'s ports', NAME))
        return
    if mode not in (None, "bridge"):
        return  # awsvpc: each task has its own network interface
    raw = props.get("containerDefinitions")
    if not isinstance(raw, str) or unknown(raw):
        return
    try:
        definitions = json.loads(raw)
    except ValueError:
        return
    for container in definitions if isinstance(definitions, list) else []:
        for mapping in listed(container.get("portMappings")):
            if isinstance(mapping, dict) and mapping.get("hostPort"):
                report(message(args.name, args.resource_type,
                               f"containerDefinitions[{container.get('name')}].portMappings"
                               f"[{mapping.get('containerPort')}].hostPort", mapping.get("hostPort"),
                               f'prod needs no static host port with networkMode {mode or "bridge (the default)"}: '
                               'use "awsvpc" or dynamic ports (hostPort 0)', NAME))


FARGATE = ("FARGATE", "FARGATE_SPOT")


def _on_ec2_hosts(props) -> bool:
    """Do the service's tasks share EC2 container instances? launchType defaults to EC2 (the
    provider's default) unless a capacity provider strategy names only Fargate providers."""
    providers = [s.get("capacityProvider") for s in listed(props.get("capacityProviderStrategies"))
                 if isinstance(s, dict)]
    if providers:
        return not all(p in FARGATE or unknown(p) for p in providers)
    return (props.get("launchType") or "EC2") == "EC2"


def _ecs_service(args, props, report):
    if not _on_ec2_hosts(props):
        return  # Fargate gives every task its own host; EXTERNAL instances are the owner's
    strategies = listed(props.get("orderedPlacementStrategies"))
    constraints = listed(props.get("placementConstraints"))
    spread = any(s.get("type") == "spread" and s.get("field") in ("instanceId", "host") for s in strategies)
    distinct = any(c.get("type") == "distinctInstance" for c in constraints)
    if not (spread or distinct):
        how = (f'launchType {props["launchType"]}' if props.get("launchType")
               else "capacityProviderStrategies on EC2" if props.get("capacityProviderStrategies")
               else "launchType not set (defaults to EC2)")
        report(resource_message(args.name, args.resource_type,
                                f"runs on shared EC2 hosts ({how}) and orderedPlacementStrategies has no spread over "
                                "instanceId and placementConstraints no distinctInstance; prod needs one of them so "
                                "tasks land on different hosts (or launchType FARGATE)", NAME))


def validate(args, report):
    props = plain(args.props)
    if args.resource_type in K8S_POD_BEARING:
        _kubernetes(args, props, report)
    elif args.resource_type == AWS_ECS_TASK_DEFINITION:
        _task_definition(args, props, report)
    elif args.resource_type == AWS_ECS_SERVICE:
        _ecs_service(args, props, report)


POLICY = resource_policy(
    NAME,
    "Instances spread over hosts; no hostPort, no hostNetwork "
    "(the reference's same-server-multiple-ports anti-pattern).",
    validate,
    "Keep the hostname topology spread constraint of the prod preset; expose pods through a Service, never "
    "hostPort/hostNetwork; on ECS use awsvpc networking and, on EC2, a spread placement over instanceId.",
)
