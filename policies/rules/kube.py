"""Kubernetes helpers shared by the rules: where a workload keeps its pod spec, selectors, spreading,
and what a Service asks of the cloud (an internal balancer, a pinned address, standalone GKE NEGs)."""
from __future__ import annotations

import json
from typing import Any

from .common import dig, listed, unknown
from .types import K8S_CRONJOB, K8S_POD

HOSTNAME_KEY = "kubernetes.io/hostname"
ZONE_KEYS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")

INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",  # AKS
    "networking.gke.io/load-balancer-type": "internal",  # GKE
    "cloud.google.com/load-balancer-type": "internal",  # GKE, before 1.17
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",  # EKS, in-tree (deprecated)
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",  # AWS Load Balancer Controller
}
"""Annotations that give a Service of type LoadBalancer a private address only (values compared
case-insensitively: GKE documents "Internal")."""
AZURE_LB_IPV4 = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
"""The address AKS gives a Service's load balancer (spec.loadBalancerIP is the deprecated way)."""
GKE_NEG = "cloud.google.com/neg"
"""GKE creates a standalone network endpoint group per zone for each port named in this annotation's
JSON (`{"exposed_ports": {"80": {"name": "<neg>"}}}`); `{"ingress": true}` NEGs get generated names."""


def pod_spec_path(type_token: str) -> str:
    if type_token == K8S_POD:
        return "spec"
    if type_token == K8S_CRONJOB:
        return "spec.jobTemplate.spec.template.spec"
    return "spec.template.spec"


def pod_spec(props: dict, type_token: str) -> dict:
    spec = dig(props, pod_spec_path(type_token))
    return spec if isinstance(spec, dict) else {}


def template_labels(props: dict, type_token: str) -> dict:
    path = ("metadata.labels" if type_token == K8S_POD
            else pod_spec_path(type_token)[:-len(".spec")] + ".metadata.labels")
    found = dig(props, path)
    return found if isinstance(found, dict) else {}


def containers(spec: dict, init: bool = False) -> list[tuple[str, dict]]:
    """(field, container) pairs: field is `containers` or `initContainers`."""
    fields = ("containers", "initContainers") if init else ("containers",)
    return [(f, c) for f in fields for c in listed(spec.get(f)) if isinstance(c, dict)]


def container_path(type_token: str, field: str, container: dict, index: int) -> str:
    return f"{pod_spec_path(type_token)}.{field}[{container.get('name') or index}]"


def namespace(props: dict) -> str:
    return dig(props, "metadata.namespace") or "default"


def name(props: dict, fallback: str) -> str:
    return dig(props, "metadata.name") or fallback


def selector_matches(selector: Any, labels: dict) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a pod's labels."""
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in listed(selector.get("matchExpressions")):
        key, op, values = expr.get("key"), expr.get("operator"), listed(expr.get("values"))
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def service_selects(service_props: dict, labels: dict) -> bool:
    selector = dig(service_props, "spec.selector")
    return isinstance(selector, dict) and bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def spread_constraints(spec: dict, keys: tuple[str, ...]) -> list[dict]:
    return [c for c in listed(spec.get("topologySpreadConstraints"))
            if isinstance(c, dict) and c.get("topologyKey") in keys]


def required_anti_affinity(spec: dict, keys: tuple[str, ...]) -> bool:
    terms = listed(dig(spec, "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution"))
    return any(isinstance(t, dict) and t.get("topologyKey") in keys for t in terms)


def annotations(props: dict) -> dict:
    found = dig(props, "metadata.annotations")
    return found if isinstance(found, dict) else {}


def internal_load_balancer(props: dict) -> bool | None:
    """Does the Service ask its cloud for an internal load balancer? None when an annotation that
    decides it is unknown until the update (can't tell yet)."""
    found = [(annotations(props).get(key), internal) for key, internal in INTERNAL_LB_ANNOTATIONS.items()]
    if any(isinstance(value, str) and value.lower() == internal for value, internal in found):
        return True
    return None if any(unknown(value) for value, _ in found) else False


def pinned_address(props: dict):
    """The address a Service of type LoadBalancer asks for (None when it takes any)."""
    return annotations(props).get(AZURE_LB_IPV4) or dig(props, "spec.loadBalancerIP")


def neg_names(props: dict) -> set[str] | None:
    """The NEG names a Service's cloud.google.com/neg annotation gives GKE (exposed_ports[*].name);
    None while the annotation is unknown (a preview). A NEG without a name cannot be followed by one."""
    value = annotations(props).get(GKE_NEG)
    if unknown(value):
        return None
    try:
        ports = (json.loads(value) if isinstance(value, str) else value or {}).get("exposed_ports")
    except (ValueError, AttributeError):
        return set()  # not the JSON object GKE reads: GKE creates no NEG either
    return {p["name"] for p in (ports.values() if isinstance(ports, dict) else [])
            if isinstance(p, dict) and isinstance(p.get("name"), str)}


# --- service meshes ---------------------------------------------------------------------------

ISTIO_INJECTION = "istio-injection"
"""Namespace label: `enabled` injects Istio's sidecar (any other value turns injection off, and
then istio.io/rev is ignored, as Istio's webhooks select namespaces)."""
ISTIO_REVISION = "istio.io/rev"
"""Namespace label: a revision-based install (the AKS Istio add-on's `asm-1-xx` too) injects with any value."""
ISTIO_POD_INJECT = "sidecar.istio.io/inject"
"""Pod label (or older annotation): "false" keeps a pod out of Istio's mesh."""
LINKERD_INJECT = "linkerd.io/inject"
"""Annotation: `enabled` on a namespace injects Linkerd's proxy; `disabled` on a pod keeps it out."""
ISTIO_ROOT_NAMESPACE = "istio-system"
AKS_ISTIO_ROOT_NAMESPACE = "aks-istio-system"
"""The AKS managed Istio add-on's root namespace (mesh-wide PeerAuthentications live there)."""


LINKERD_CONTROL_PLANE = "linkerd.io/is-control-plane"
"""Namespace label of Linkerd's control plane (its pods carry their own proxy; the namespace is never injected)."""


def mesh_control_plane(props: dict) -> bool:
    """Is a Namespace a mesh's own control plane (istio-system, aks-istio-system, Linkerd's)? Its
    workloads are the mesh, not traffic between the gateway and the services."""
    return dig(props, "metadata.name") in (ISTIO_ROOT_NAMESPACE, AKS_ISTIO_ROOT_NAMESPACE) \
        or labels(props).get(LINKERD_CONTROL_PLANE) == "true"


def labels(props: dict) -> dict:
    found = dig(props, "metadata.labels")
    return found if isinstance(found, dict) else {}


def istio_injected(props: dict) -> bool | None:
    """Does a Namespace get Istio's sidecar? None when a label that decides it is unknown (a preview)."""
    found = dig(props, "metadata.labels")
    if unknown(found):
        return None
    injection = labels(props).get(ISTIO_INJECTION)
    if injection is not None:
        return None if unknown(injection) else injection == "enabled"
    revision = labels(props).get(ISTIO_REVISION)
    return None if unknown(revision) else bool(revision)


def linkerd_injected(props: dict) -> bool | None:
    """Does a Namespace get Linkerd's proxy? None when the annotation is unknown (a preview)."""
    found = dig(props, "metadata.annotations")
    if unknown(found):
        return None
    value = annotations(props).get(LINKERD_INJECT)
    return None if unknown(value) else value == "enabled"


def mesh_opt_outs(props: dict, type_token: str) -> list[tuple[str, object]]:
    """(path, value) of each pod-template label or annotation that keeps a workload's pods out of the mesh."""
    template = "metadata" if type_token == K8S_POD else pod_spec_path(type_token)[:-len(".spec")] + ".metadata"
    found = []
    for field in ("labels", "annotations"):
        values = dig(props, f"{template}.{field}")
        values = values if isinstance(values, dict) else {}
        istio = values.get(ISTIO_POD_INJECT)
        if isinstance(istio, (str, bool)) and not unknown(istio) and str(istio).lower() == "false":
            found.append((f"{template}.{field}[{ISTIO_POD_INJECT}]", istio))
        linkerd = values.get(LINKERD_INJECT)
        if field == "annotations" and isinstance(linkerd, str) and linkerd == "disabled":
            found.append((f"{template}.{field}[{LINKERD_INJECT}]", linkerd))
    return found
