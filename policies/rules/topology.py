"""Stack-wide answers the stack rules share: what a load balancer routes to, and how many
instances a workload keeps at its minimum. Links follow property dependencies (the engine
records which resource each input came from) or equal arn/id values when those are known;
an Application Gateway's backend pool reaches a Kubernetes Service by the address that Service
pins for its internal load balancer, a GCP backend service by the name of the standalone NEG that
the Service's cloud.google.com/neg annotation asks GKE for.
"""
from __future__ import annotations

import re
from typing import Any

from .common import Stack, dig, is_gateway, items, listed, number, show, unknown
from .kube import GKE_NEG, namespace, neg_names, pinned_address, service_selects, template_labels
from .kube import name as k8s_name
from .types import (
    AWS_ASG,
    AWS_ECS_SERVICE,
    AWS_LISTENER_RULES,
    AWS_LISTENERS,
    AWS_SCALABLE_TARGET,
    AWS_TARGET_GROUPS,
    GCP_REGION_BACKEND_SERVICE,
    K8S_DEPLOYMENT,
    K8S_HPAS,
    K8S_REPLICASET,
    K8S_REPLICATED,
    K8S_SERVICE,
    K8S_STATEFULSET,
)

K8S_HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
"""Gateway API routes are CustomResources: the token is the CRD's group/version:kind."""
AWS_TG_ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
KIND = {K8S_DEPLOYMENT: "Deployment", K8S_STATEFULSET: "StatefulSet", K8S_REPLICASET: "ReplicaSet"}


class Backend:
    """Something behind a load balancer that runs `minimum` instances at its minimum; `gateway`
    when it is the gateway fleet (labelled/tagged `component: gateway`)."""

    def __init__(self, resource: Any, minimum: float, source: str, gateway: bool = False):
        self.resource, self.minimum, self.source, self.gateway = resource, minimum, source, gateway


# --- Kubernetes -----------------------------------------------------------------------------

def k8s_min_instances(stack: Stack, workload: Any) -> tuple[float, str]:
    """(minimum, where it comes from): an HPA's minReplicas when one scales it, else spec.replicas."""
    props = stack.props[workload.urn]
    ns, name = namespace(props), k8s_name(props, workload.name)
    for hpa in stack.of_type(*K8S_HPAS):
        h = stack.props[hpa.urn]
        ref = dig(h, "spec.scaleTargetRef") or {}
        if namespace(h) == ns and ref.get("name") == name and ref.get("kind") == KIND.get(workload.resource_type):
            return number(h, "spec.minReplicas", 1.0), f"{hpa.name} spec.minReplicas"
    return number(props, "spec.replicas", 1.0), f"{workload.name} spec.replicas"


def k8s_service_backends(stack: Stack, service: Any) -> list[Backend]:
    props = stack.props[service.urn]
    out = []
    for workload in stack.of_type(*K8S_REPLICATED):
        w = stack.props[workload.urn]
        if namespace(w) == namespace(props) and service_selects(props, template_labels(w, workload.resource_type)):
            minimum, source = k8s_min_instances(stack, workload)
            out.append(Backend(workload, minimum, source, is_gateway(w)))
    return out


def _k8s_services_named(stack: Stack, ns: str, names: set[str]) -> list[Any]:
    return [s for s in stack.of_type(K8S_SERVICE)
            if namespace(stack.props[s.urn]) == ns and k8s_name(stack.props[s.urn], s.name) in names]


def k8s_ingress_backends(stack: Stack, ingress: Any) -> list[Backend]:
    props = stack.props[ingress.urn]
    names = {dig(props, "spec.defaultBackend.service.name")}
    for rule in listed(dig(props, "spec.rules")):
        for path in listed(dig(rule, "http.paths")):
            names.add(dig(path, "backend.service.name"))
    services = _k8s_services_named(stack, namespace(props), {n for n in names if n})
    return [b for s in services for b in k8s_service_backends(stack, s)]


def is_mesh_route(props: dict) -> bool:
    """An HTTPRoute attached to Services (the Gateway API's mesh use, GAMMA), not to a Gateway."""
    parents = [p for p in listed(dig(props, "spec.parentRefs")) if isinstance(p, dict)]
    return bool(parents) and all(p.get("kind") == "Service" and (p.get("group") or "") in ("", "core")
                                 for p in parents)


def k8s_route_backends(stack: Stack, route: Any) -> list[Backend]:
    props = stack.props[route.urn]
    out = []
    for rule in listed(dig(props, "spec.rules")):
        for ref in listed(rule.get("backendRefs")):
            if (ref.get("kind") or "Service") == "Service":
                services = _k8s_services_named(stack, ref.get("namespace") or namespace(props), {ref.get("name")})
                out += [b for s in services for b in k8s_service_backends(stack, s)]
    return out


# --- AWS ------------------------------------------------------------------------------------

def aws_listeners(stack: Stack, lb: Any) -> list[Any]:
    return [listener for listener in stack.of_type(*AWS_LISTENERS)
            if stack.references(listener, "loadBalancerArn", lb)]


def aws_target_groups(stack: Stack, lb: Any) -> list[Any]:
    groups = []
    for listener in aws_listeners(stack, lb):
        rules = [r for r in stack.of_type(*AWS_LISTENER_RULES) if stack.references(r, "listenerArn", listener)]
        for tg in stack.of_type(*AWS_TARGET_GROUPS):
            if tg not in groups and (stack.references(listener, "defaultActions", tg)
                                     or any(stack.references(r, "actions", tg) for r in rules)):
                groups.append(tg)
    return groups


def aws_ecs_min(stack: Stack, service: Any) -> tuple[float, str]:
    props = stack.props[service.urn]
    service_name = props.get("name")
    for target in stack.of_type(AWS_SCALABLE_TARGET):
        t = stack.props[target.urn]
        resource_id = t.get("resourceId")
        if stack.depends_on(target, "resourceId", service) or (
                isinstance(resource_id, str) and isinstance(service_name, str)
                and resource_id.endswith(f"/{service_name}")):
            return number(t, "minCapacity", 0.0), f"{target.name} minCapacity"
    return number(props, "desiredCount", 0.0), f"{service.name} desiredCount"


def aws_lb_backends(stack: Stack, lb: Any) -> list[Backend]:
    out = []
    for tg in aws_target_groups(stack, lb):
        for service in stack.of_type(AWS_ECS_SERVICE):
            if stack.references(service, "loadBalancers", tg):
                minimum, source = aws_ecs_min(stack, service)
                out.append(Backend(service, minimum, source, is_gateway(stack.props[service.urn])))
        for group in stack.of_type(AWS_ASG):
            if stack.references(group, "targetGroupArns", tg):
                props = stack.props[group.urn]
                out.append(Backend(group, number(props, "minSize", 0.0), f"{group.name} minSize", is_gateway(props)))
        attachments = [a for a in stack.of_type(AWS_TG_ATTACHMENT) if stack.references(a, "targetGroupArn", tg)]
        if attachments:
            # Attached instances carry no tags here: the target group's own tag says what they are.
            out.append(Backend(tg, float(len(attachments)), f"{len(attachments)} target group attachment(s)",
                               is_gateway(stack.props[tg.urn])))
    return out


class Reach:
    """Where a cloud load balancer outside Kubernetes leads: the Kubernetes `services` it reaches
    (an Application Gateway's pool address, a backend service's NEG), the `backends` behind them,
    each link that leads to no Service (`unfollowed`: "<path> is <value> ..." saying why), and
    `undecided` when an unknown value (during a preview) could still be the missing link."""

    def __init__(self):
        self.services, self.backends, self.unfollowed, self.undecided = [], [], [], False

    def add_backends(self, stack: Stack):
        for service in self.services:
            self.backends += [b for b in k8s_service_backends(stack, service)
                              if b.resource not in [seen.resource for seen in self.backends]]
        return self


# --- Azure ----------------------------------------------------------------------------------

def k8s_load_balancer_services(stack: Stack) -> list[Any]:
    return [s for s in stack.of_type(K8S_SERVICE) if dig(stack.props[s.urn], "spec.type") == "LoadBalancer"]


def az_gateway_reach(stack: Stack, gateway: Any) -> Reach:
    reach = Reach()
    pinned = [(s, pinned_address(stack.props[s.urn])) for s in k8s_load_balancer_services(stack)]
    for i, pool in enumerate(items(stack.props[gateway.urn], "backendAddressPools")):
        addresses = dig(pool, "backendAddresses")
        reach.undecided |= unknown(addresses)
        for j, address in enumerate(listed(addresses)):
            path = f"backendAddressPools[{pool.get('name') or i}].backendAddresses[{j}]"
            ip, fqdn = dig(address, "ipAddress"), dig(address, "fqdn")
            if unknown(ip) or (ip is None and unknown(fqdn)):
                reach.undecided = True
            elif ip is not None:
                matched = [s for s, value in pinned if value == ip]
                if not matched:
                    reach.undecided |= any(unknown(value) for _, value in pinned)
                    reach.unfollowed.append(f"{path}.ipAddress is {show(ip)} and no Service of type LoadBalancer "
                                            "in this stack pins that address")
                reach.services += [s for s in matched if s not in reach.services]
            elif fqdn is not None:
                # A name resolves only at run time: nothing in the stack says which Service it is.
                reach.unfollowed.append(f"{path}.fqdn is {show(fqdn)}, a name the pack cannot follow to a "
                                        "Service (list the Service's pinned ipAddress instead)")
    return reach.add_backends(stack)


# --- GCP ------------------------------------------------------------------------------------

NEG_GROUP = re.compile(r"(?:^|/)(?:zones|regions)/([^/]+)/networkEndpointGroups/([^/]+)$")
"""A NEG's URL, full (https://www.googleapis.com/compute/v1/projects/...) or relative (projects/...)."""


def gcp_scheme(type_token: str, props: dict) -> str:
    """A backend service's load-balancing scheme; unset means EXTERNAL for a global backend
    service and INTERNAL for a regional one (the provider's defaults)."""
    return props.get("loadBalancingScheme") or ("INTERNAL" if type_token == GCP_REGION_BACKEND_SERVICE
                                                else "EXTERNAL")


def gcp_backend_reach(stack: Stack, backend: Any) -> Reach:
    """Each `backends[*].group` NEG leads to the Services whose cloud.google.com/neg annotation
    names it (GKE gives the NEG of every zone the same name; the zone is only reported)."""
    reach, groups = Reach(), stack.props[backend.urn].get("backends")
    named = [(s, neg_names(stack.props[s.urn])) for s in stack.of_type(K8S_SERVICE)]
    unmatched: dict[str, list[str]] = {}
    reach.undecided = unknown(groups)
    for i, entry in enumerate(listed(groups)):
        group, path = dig(entry, "group"), f"backends[{i}].group"
        found = NEG_GROUP.search(group) if isinstance(group, str) else None
        if unknown(group):
            reach.undecided = True
        elif found:
            matched = [s for s, names in named if names and found.group(2) in names]
            reach.services += [s for s in matched if s not in reach.services]
            if not matched:
                unmatched.setdefault(found.group(2), []).append(found.group(1))
        elif isinstance(group, str) and "/instanceGroups/" in group:
            # An instance group holds nodes, not pods: nothing says which Deployment answers there.
            reach.unfollowed.append(f"{path} is {show(group)}, an instance group, which the pack cannot follow to "
                                    "a Service (use the gateway Service's NEG instead)")
        else:
            reach.unfollowed.append(f"{path} is {show(group)}, not a network endpoint group the pack can follow")
    if unmatched:  # an annotation unknown until the update may still name the NEG
        reach.undecided |= any(names is None for _, names in named)
    reach.unfollowed += [f"backends[*].group names the NEG {show(neg)} (in {', '.join(zones)}) and no Service's "
                         f"{GKE_NEG} annotation names it" for neg, zones in unmatched.items()]
    return reach.add_backends(stack)
