"""prod-service-mesh: prod traffic between the gateway and the services goes through a service mesh.

A mesh gives every hop mutual TLS, retries and per-request balancing that kube-proxy cannot.
On the Kubernetes-based targets (kubernetes, azure, gcp) each Namespace of the stack that holds
Deployments must inject the mesh's proxy: label `istio-injection: enabled`, label
`istio.io/rev: <revision>` (revision-based installs, the AKS Istio add-on) or annotation
`linkerd.io/inject: enabled`. Injection is asked of the namespace, not of each pod, so a workload
added later is in the mesh too; a pod template that opts out (`sidecar.istio.io/inject: "false"`,
`linkerd.io/inject: disabled`) is reported. A Deployment in a namespace this stack does not
create cannot be verified and is reported as such; the mesh's own control-plane namespaces
(istio-system, aks-istio-system, one labelled linkerd.io/is-control-plane: "true") are not judged.
On aws, ECS Service Connect is the mesh: every ECS service has `serviceConnectConfiguration.enabled: true`.
The local target creates none of these (and prod-no-single-host-target refuses it).
Values unknown during a preview count as set.
"""
from __future__ import annotations

from .common import Stack, dig, message, show, stack_policy, truthy, unknown
from .kube import (
    ISTIO_INJECTION,
    ISTIO_REVISION,
    LINKERD_INJECT,
    annotations,
    istio_injected,
    labels,
    linkerd_injected,
    mesh_control_plane,
    mesh_opt_outs,
    namespace,
)
from .types import AWS_ECS_SERVICE, K8S_DEPLOYMENT, K8S_NAMESPACE

NAME = "prod-service-mesh"
TOKENS: dict[str, tuple[str, ...]] = {K8S_NAMESPACE: ("metadata",), K8S_DEPLOYMENT: ("metadata", "spec"),
                                      AWS_ECS_SERVICE: ("serviceConnectConfiguration",)}
INJECTION = (f"label {ISTIO_INJECTION}: enabled (or {ISTIO_REVISION}: <revision>), or annotation "
             f"{LINKERD_INJECT}: enabled on the namespace; set `mesh: istio` or `mesh: linkerd` in the stack")
"""What passes on Kubernetes."""


def _injection_found(props: dict) -> str:
    """The namespace's injection label and annotation as found (the text after `<path> is`)."""
    found = labels(props)
    text = show(found.get(ISTIO_INJECTION))
    if found.get(ISTIO_INJECTION) is not None and found.get(ISTIO_REVISION) is not None:
        text += f" (so metadata.labels[{ISTIO_REVISION}] {show(found[ISTIO_REVISION])} is ignored)"
    elif found.get(ISTIO_INJECTION) is None:
        text += f", metadata.labels[{ISTIO_REVISION}] is {show(found.get(ISTIO_REVISION))}"
    return text + f" and metadata.annotations[{LINKERD_INJECT}] is {show(annotations(props).get(LINKERD_INJECT))}"


def _namespace_of(stack: Stack, deployment, namespaces: list):
    """(the Namespace resource holding `deployment`, its namespace name); the resource is None when no
    Namespace of the stack has that name, and the name None when the pack cannot tell (a preview)."""
    props = stack.props[deployment.urn]
    wanted = dig(props, "metadata.namespace")
    if unknown(wanted):  # computed from a Namespace's name: follow the engine's dependency
        owners = [n for n in namespaces if stack.depends_on(deployment, "metadata", n)]
        return (owners[0], "") if len(owners) == 1 else (None, None)
    wanted = namespace(props)
    for candidate in namespaces:
        if dig(stack.props[candidate.urn], "metadata.name") == wanted:
            return candidate, wanted
    if any(unknown(dig(stack.props[n.urn], "metadata.name")) for n in namespaces):
        return None, None  # a Namespace whose name is not known yet may be this one
    return None, wanted


def validate(args, report):
    stack = Stack(args.resources)
    namespaces = stack.of_type(K8S_NAMESPACE)
    held: dict[str, list] = {}  # Namespace URN -> the Deployments in it
    for deployment in stack.of_type(K8S_DEPLOYMENT):
        props = stack.props[deployment.urn]
        for path, value in mesh_opt_outs(props, deployment.resource_type):
            report(message(deployment.name, deployment.resource_type, path, value,
                           "prod needs every pod of the gateway and the services in the service mesh: remove it so "
                           "the namespace's injection applies", NAME), deployment.urn)
        owner, wanted = _namespace_of(stack, deployment, namespaces)
        if owner is not None:
            held.setdefault(owner.urn, []).append(deployment)
        elif wanted is not None:
            found = show(wanted) if dig(props, "metadata.namespace") is not None else f"not set ({show(wanted)})"
            report(message(deployment.name, deployment.resource_type, "metadata.namespace", wanted,
                           f"no Namespace of this stack is named {show(wanted)}, so the pack cannot verify that its "
                           "pods are in a service mesh; prod needs the namespace created by the stack with "
                           + INJECTION, NAME, found_text=found), deployment.urn)
    for urn, deployments in held.items():
        ns = stack.by_urn[urn]
        props = stack.props[urn]
        istio, linkerd = istio_injected(props), linkerd_injected(props)
        if istio is not False or linkerd is not False or mesh_control_plane(props):
            continue  # injected, can't tell yet (a label unknown during a preview), or the mesh itself
        report(message(ns.name, ns.resource_type, f"metadata.labels[{ISTIO_INJECTION}]", None,
                       f"namespace {show(dig(props, 'metadata.name'))} holds "
                       f"{', '.join(sorted(d.name for d in deployments))} and prod sends the traffic between the "
                       "gateway and the services through a service mesh: " + INJECTION, NAME,
                       found_text=_injection_found(props)), urn)
    for service in stack.of_type(AWS_ECS_SERVICE):
        props = stack.props[service.urn]
        connect = props.get("serviceConnectConfiguration")
        if unknown(connect) or truthy(dig(props, "serviceConnectConfiguration.enabled")):
            continue
        path = "serviceConnectConfiguration" if connect is None else "serviceConnectConfiguration.enabled"
        report(message(service.name, service.resource_type, path, dig(props, path),
                       "prod connects the gateway and the services through ECS Service Connect, the mesh on aws: "
                       "serviceConnectConfiguration with enabled: true and the cluster's namespace (the aws target "
                       "sets it on every service)", NAME), service.urn)


POLICY = stack_policy(
    NAME,
    "Prod traffic between the gateway and the services goes through a service mesh: Istio or Linkerd injection "
    "on every namespace with workloads, ECS Service Connect on aws.",
    validate,
    "Set `mesh: istio` or `mesh: linkerd` in the stack (the Kubernetes-based targets then label the namespace "
    "istio-injection: enabled or annotate it linkerd.io/inject: enabled); do not opt pods out; on aws keep "
    "ECS Service Connect on.",
)
