"""prod-load-balanced-gateway: a prod stack has a load balancer in front of at least 2 gateway instances.

The reference's production setup: a load balancer, then API gateway servers 1..N. This stack
rule follows the routes the program declares (Ingress/HTTPRoute/LoadBalancer Service to the
Deployment behind it; ALB listener to target group to ECS service, auto scaling group or
attachments) to the gateway fleet (labelled or tagged `component: gateway`) and counts its
instances at their minimum (HPA minReplicas, scalable-target min capacity, ...). An entry point
that only reaches other programs does not count. On the single-host targets HAProxy is the entry
point and balances over every gateway: a process with role load_balancer (local), a container
labelled component: load_balancer (docker).

A cloud load balancer in front of the cluster is an entry point of its own, and the Kubernetes
Service it reaches is a hop, not a second entry point:
- an Application Gateway: each backend pool address (`backendAddresses[*].ipAddress`) leads to
  the Services of type LoadBalancer that pin it (the annotation
  service.beta.kubernetes.io/azure-load-balancer-ipv4, or spec.loadBalancerIP);
- an external GCP backend service (scheme EXTERNAL or EXTERNAL_MANAGED; unset is EXTERNAL for a
  global one): each `backends[*].group` NEG (a full or relative URL ending in
  `networkEndpointGroups/<name>`) leads to the Services whose cloud.google.com/neg annotation
  names it in `exposed_ports[*].name` (an `{"ingress": true}` NEG's generated name cannot be).
Then to the Deployment those Services select. Any such backend service counts, whether or not a
forwarding rule, target proxy and URL map serve it (security-https judges the proxies); an
internal one serves clients inside the VPC only and is not judged here. A load balancer whose
links reach no Service is reported with each link and why (no Service pins the address or names
the NEG; an `fqdn` or an instance group cannot be followed), unless a value unknown during a
preview could still be the link.
"""
from __future__ import annotations

from .common import (
    GATEWAY_COMPONENT,
    PROD_MIN_INSTANCES,
    Stack,
    labels_of,
    resource_message,
    setting,
    show,
    stack_policy,
    unknown,
)
from .kube import AZURE_LB_IPV4, GKE_NEG
from .topology import (
    AWS_TG_ATTACHMENT,
    K8S_HTTP_ROUTE,
    Backend,
    aws_lb_backends,
    az_gateway_reach,
    gcp_backend_reach,
    gcp_scheme,
    is_mesh_route,
    k8s_ingress_backends,
    k8s_load_balancer_services,
    k8s_route_backends,
    k8s_service_backends,
)
from .types import (
    AWS_ASG,
    AWS_ECS_SERVICE,
    AWS_LBS,
    AWS_LISTENER_RULES,
    AWS_LISTENERS,
    AWS_SCALABLE_TARGET,
    AWS_TARGET_GROUPS,
    AZ_APP_GATEWAY,
    DOCKER_CONTAINER,
    GCP_BACKEND_SERVICES,
    K8S_HPAS,
    K8S_INGRESS,
    K8S_REPLICATED,
    K8S_SERVICE,
)

NAME = "prod-load-balanced-gateway"
LOCAL_PROCESS = "pulumi-python:dynamic/local:Process"
"""The local target's processes (components/local/provider.py); `role` says what each one is.
Not a provider SDK token, so not in TOKENS: tests/test_policy_tokens.py checks it against local-dev."""
DOCKER_LOAD_BALANCER = "load_balancer"
"""The `component` label of the docker target's HAProxy container (its gateways are `component: gateway`)."""

TOKENS = {
    K8S_INGRESS: ("spec", "metadata"), K8S_SERVICE: ("spec", "metadata"),
    **{t: ("spec", "metadata") for t in (*K8S_REPLICATED, *K8S_HPAS)},
    **{t: () for t in AWS_LBS},
    **{t: ("loadBalancerArn", "defaultActions") for t in AWS_LISTENERS},
    **{t: ("listenerArn", "actions") for t in AWS_LISTENER_RULES},
    **{t: ("tags",) for t in AWS_TARGET_GROUPS},
    AWS_ECS_SERVICE: ("loadBalancers", "desiredCount", "name", "tags"),
    AWS_SCALABLE_TARGET: ("resourceId", "minCapacity"),
    AWS_ASG: ("targetGroupArns", "minSize", "tags"),
    AWS_TG_ATTACHMENT: ("targetGroupArn",),
    AZ_APP_GATEWAY: ("backendAddressPools",),
    **{t: ("backends", "loadBalancingScheme") for t in GCP_BACKEND_SERVICES},
    DOCKER_CONTAINER: ("labels",),
}


def cloud_reaches(stack: Stack) -> dict:
    """Each Application Gateway's and external backend service's Reach, by URN."""
    reaches = {g.urn: az_gateway_reach(stack, g) for g in stack.of_type(AZ_APP_GATEWAY)}
    for backend in stack.of_type(*GCP_BACKEND_SERVICES):
        scheme = gcp_scheme(backend.resource_type, stack.props[backend.urn])
        if unknown(scheme) or scheme.startswith("EXTERNAL"):
            reaches[backend.urn] = gcp_backend_reach(stack, backend)
    return reaches


def load_balancers(stack: Stack, reaches: dict) -> list[tuple[object, list]]:
    """Every entry point the program declares, with what it routes to (`reaches`: see cloud_reaches)."""
    hops = [s for reach in reaches.values() for s in reach.services]
    entries = [(i, k8s_ingress_backends(stack, i)) for i in stack.of_type(K8S_INGRESS)]
    # A route whose parents are Services is a mesh's (GAMMA: Linkerd's retries and timeouts), not an entry point.
    entries += [(r, k8s_route_backends(stack, r)) for r in stack.of_type(K8S_HTTP_ROUTE)
                if not is_mesh_route(stack.props[r.urn])]
    entries += [(s, k8s_service_backends(stack, s)) for s in k8s_load_balancer_services(stack) if s not in hops]
    entries += [(lb, reaches[lb.urn].backends) for lb in stack.resources if lb.urn in reaches]
    entries += [(lb, aws_lb_backends(stack, lb)) for lb in stack.of_type(*AWS_LBS)]
    local = [p for p in stack.of_type(LOCAL_PROCESS) if stack.props[p.urn].get("role") == "load_balancer"]
    gateways = [p for p in stack.of_type(LOCAL_PROCESS) if stack.props[p.urn].get("role") == "gateway"]
    # HAProxy balances over every gateway process together: the fleet is their count.
    fleet = [Backend(gateways[0], len(gateways), f"{len(gateways)} gateway processes", True)] if gateways else []
    entries += [(lb, fleet) for lb in local]
    return entries + _docker_entries(stack)


def _docker_entries(stack: Stack) -> list[tuple[object, list]]:
    """The docker target's HAProxy container balances over every gateway container together."""
    containers = stack.of_type(DOCKER_CONTAINER)

    def labelled(component: str) -> list:
        return [c for c in containers if labels_of(stack.props[c.urn]).get("component") == component]
    gateways = labelled(GATEWAY_COMPONENT)
    fleet = [Backend(gateways[0], len(gateways), f"{len(gateways)} gateway containers", True)] if gateways else []
    return [(lb, fleet) for lb in labelled(DOCKER_LOAD_BALANCER)]


def validate(args, report):
    stack = Stack(args.resources)
    floor = setting(args, "minInstances", PROD_MIN_INSTANCES)
    reaches = cloud_reaches(stack)
    entries = load_balancers(stack, reaches)
    if not entries:
        report(f"the stack has no load balancer (no Ingress, HTTPRoute, Service of type LoadBalancer, ALB, "
               f"Application Gateway or external backend service); prod needs one in front of at least {floor} "
               f"gateway instances ({NAME})")
        return
    fronts_gateway = any(b.gateway for _, backends in entries for b in backends)
    for lb, backends in entries:
        if not backends and lb.urn in reaches:
            _unreached(lb, reaches[lb.urn], floor, report)
        elif not backends:
            report(resource_message(lb.name, lb.resource_type,
                                    "routes to no instances this program runs (no matching Service, Deployment, "
                                    f"ECS service or auto scaling group); prod needs at least {floor} gateway "
                                    "instances behind it", NAME), lb.urn)
        elif not fronts_gateway:
            # Other entry points (a dashboard's Ingress) may route elsewhere, but one must reach the gateway.
            names = ", ".join(f"{b.resource.name} ({b.resource.resource_type})" for b in backends)
            report(resource_message(lb.name, lb.resource_type,
                                    f"routes to {names}, none of them the gateway fleet (labelled or tagged "
                                    f"component: gateway); prod needs the load balancer in front of at least {floor} "
                                    "gateway instances", NAME), lb.urn)
        for backend in backends:
            if backend.gateway and backend.minimum < floor:
                report(resource_message(
                    lb.name, lb.resource_type,
                    f"routes to {backend.resource.name} ({backend.resource.resource_type}), which runs "
                    f"{show(backend.minimum)} instance(s) at its minimum ({backend.source}); prod needs at least "
                    f"{floor} gateway instances behind the load balancer", NAME), lb.urn)


def _unreached(lb, reach, floor: int, report):
    if reach.undecided:
        return  # a link unknown until the update may still lead to the gateway fleet
    if lb.resource_type == AZ_APP_GATEWAY:
        why = "; ".join(reach.unfollowed) or "backendAddressPools lists no backend address"
        needs = (f"a pool to list the address that a Service of type LoadBalancer of this stack pins (annotation "
                 f"{AZURE_LB_IPV4} or spec.loadBalancerIP)")
    else:
        why = "; ".join(reach.unfollowed) or "backends lists no backend group"
        needs = f"a backend group to be a NEG that a Service of this stack names in its {GKE_NEG} annotation"
    report(resource_message(lb.name, lb.resource_type,
                            f"{why}; prod needs {needs}, with at least {floor} gateway instances behind it", NAME),
           lb.urn)


POLICY = stack_policy(
    NAME,
    "A prod stack has a load balancer in front of at least 2 gateway instances.",
    validate,
    "Expose the gateway through the target's load balancer (Ingress/Service, ALB, Application Gateway, "
    "Cloud Load Balancing) and keep gateway instances.min >= 2 (the prod preset is 3).",
    config={"minInstances": {"type": "integer", "minimum": 1, "default": PROD_MIN_INSTANCES}},
)
