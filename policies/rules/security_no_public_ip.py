"""security-no-public-ip: tasks and nodes have no public IP address; only the load balancer is public.

aws: ECS services do not assign public IPs; launch templates and instances do not associate
one. azure: AKS pools keep enableNodePublicIP off. gcp: GKE nodes are private (the cluster's
privateClusterConfig.enablePrivateNodes, or a node pool's networkConfig.enablePrivateNodes).
docker: only the load-balancer container (labelled component: load_balancer) publishes a port on the
Docker host; the gateways and services are reached through it, on the stack's network.
"""
from __future__ import annotations

from .common import Stack, dig, labels_of, listed, message, show, stack_policy, truthy, unknown
from .types import (
    AWS_ECS_SERVICE,
    AWS_INSTANCE,
    AWS_LAUNCH_TEMPLATE,
    AZ_AGENT_POOL,
    AZ_MANAGED_CLUSTER,
    DOCKER_CONTAINER,
    GCP_CLUSTER,
    GCP_NODE_POOL,
)

NAME = "security-no-public-ip"
TOKENS = {
    AWS_ECS_SERVICE: ("networkConfiguration",),
    AWS_LAUNCH_TEMPLATE: ("networkInterfaces",),
    AWS_INSTANCE: ("associatePublicIpAddress",),
    AZ_AGENT_POOL: ("enableNodePublicIP",),
    AZ_MANAGED_CLUSTER: ("agentPoolProfiles",),
    GCP_CLUSTER: ("privateClusterConfig", "removeDefaultNodePool", "nodePools", "enableAutopilot"),
    GCP_NODE_POOL: ("networkConfig", "cluster"),
    DOCKER_CONTAINER: ("ports", "labels"),
}
PASSES = "prod needs false: only the load balancer faces the internet"


def _public(value) -> bool:
    return not unknown(value) and truthy(value)


def _aws_and_azure(stack: Stack, report):
    for r in stack.resources:
        props, t = stack.props[r.urn], r.resource_type
        found = []
        if t == AWS_ECS_SERVICE:
            found = [("networkConfiguration.assignPublicIp", dig(props, "networkConfiguration.assignPublicIp"))]
        elif t == AWS_LAUNCH_TEMPLATE:
            found = [(f"networkInterfaces[{i}].associatePublicIpAddress", n.get("associatePublicIpAddress"))
                     for i, n in enumerate(listed(props.get("networkInterfaces"))) if isinstance(n, dict)]
        elif t == AWS_INSTANCE:
            found = [("associatePublicIpAddress", props.get("associatePublicIpAddress"))]
        elif t == AZ_AGENT_POOL:
            found = [("enableNodePublicIP", props.get("enableNodePublicIP"))]
        elif t == AZ_MANAGED_CLUSTER:
            found = [(f"agentPoolProfiles[{p.get('name') or i}].enableNodePublicIP", p.get("enableNodePublicIP"))
                     for i, p in enumerate(listed(props.get("agentPoolProfiles"))) if isinstance(p, dict)]
        for path, value in found:
            if _public(value):
                report(message(r.name, t, path, value, PASSES, NAME), r.urn)


def _gcp(stack: Stack, report):
    passes = "prod needs private nodes (no public IP): enablePrivateNodes true"
    for cluster in stack.of_type(GCP_CLUSTER):
        props = stack.props[cluster.urn]
        private = truthy(dig(props, "privateClusterConfig.enablePrivateNodes"))
        pools = [p for p in listed(props.get("nodePools")) if isinstance(p, dict)]
        for i, pool in enumerate(pools):
            own = dig(pool, "networkConfig.enablePrivateNodes")
            if not (truthy(own) or (own is None and private)):
                report(message(cluster.name, cluster.resource_type,
                               f"nodePools[{pool.get('name') or i}].networkConfig.enablePrivateNodes", own, passes,
                               NAME, None if own is not None else "not set and the cluster's nodes are public"),
                       cluster.urn)
        # The default pool (kept unless removeDefaultNodePool) and Autopilot's nodes follow the cluster.
        keeps_nodes = truthy(props.get("enableAutopilot")) or not truthy(props.get("removeDefaultNodePool"))
        if not pools and keeps_nodes and not private:
            report(message(cluster.name, cluster.resource_type, "privateClusterConfig.enablePrivateNodes",
                           dig(props, "privateClusterConfig.enablePrivateNodes"), passes, NAME), cluster.urn)
    for pool in stack.of_type(GCP_NODE_POOL):
        own = dig(stack.props[pool.urn], "networkConfig.enablePrivateNodes")
        if truthy(own):
            continue
        clusters = [c for c in stack.of_type(GCP_CLUSTER)
                    if stack.references(pool, "cluster", c, ("id", "name", "selfLink"))]
        cluster_private = any(truthy(dig(stack.props[c.urn], "privateClusterConfig.enablePrivateNodes"))
                              for c in clusters)
        if own is False or own == "false" or (own is None and not cluster_private):
            report(message(pool.name, pool.resource_type, "networkConfig.enablePrivateNodes", own, passes, NAME,
                           None if own is not None else "not set and its cluster's nodes are public"), pool.urn)


def _docker(stack: Stack, report):
    for container in stack.of_type(DOCKER_CONTAINER):
        props = stack.props[container.urn]
        if labels_of(props).get("component") == "load_balancer":
            continue
        for i, port in enumerate(p for p in listed(props.get("ports")) if isinstance(p, dict)):
            published = f"{port.get('ip') or '0.0.0.0'}:{show(port.get('external'))}->{show(port.get('internal'))}"
            report(message(container.name, container.resource_type, f"ports[{i}]", port,
                           "only the load-balancer container publishes a port; reach this one through it", NAME,
                           published), container.urn)


def validate(args, report):
    stack = Stack(args.resources)
    _aws_and_azure(stack, report)
    _gcp(stack, report)
    _docker(stack, report)


POLICY = stack_policy(
    NAME,
    "Tasks and nodes have no public IP address; only the load balancer is public.",
    validate,
    "Run tasks and nodes in private subnets (aws: assign_public_ip=False with a NAT gateway or VPC endpoints; "
    "azure: enableNodePublicIP false; gcp: private nodes; docker: publish the load balancer's port only).",
)
