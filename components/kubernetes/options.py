"""The `<project>:kubernetes` block: where and how the platform lands on a cluster.

Pure Python; registered with the spec so bad values are reported with the rest.
Azure and GCP reuse these options for the workloads they run on AKS and GKE.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from ..validation import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    LABEL_KEY_RULE,
    LABEL_VALUE_RULE,
    Problems,
    is_label_key,
    is_label_value,
)

ENDPOINTS_SUFFIX = "-endpoints"
"""Each service's headless Service is `<name>-endpoints` (components/kubernetes/service.py imports it)."""
SECRET_FILE_SUFFIX = "_FILE"
"""`<KEY>_FILE` names the file of a secret setting when a CSI driver cannot make it a variable itself
(components/kubernetes/secret_delivery.py; the gcp target checks that no other setting has that name)."""
RESERVED_SERVICE_NAMES = {"services": "the NetworkPolicy allow-gateway-to-services already opens the gateway's "
                                      "egress to every service"}
"""Service names whose objects would take the name of one the workloads create for themselves."""

EXPOSURES = ("load_balancer", "ingress")
MAX_RELEASE = 26
"""kube-prometheus-stack names its cluster-wide objects after its fullname, truncated to 26."""


@dataclass(frozen=True)
class KubernetesOptions:
    namespace: str = "apigw"
    exposure: str = "load_balancer"
    """How clients reach the gateway: a Service of type LoadBalancer, or an Ingress."""
    ingress_class: str = "nginx"
    host: str | None = None
    """Ingress host name; required with TLS so the certificate matches."""
    hpa_cpu_utilization_percent: int = 70
    ingress_namespace: str = "ingress-nginx"
    """Where the ingress controller runs: prod NetworkPolicies admit the gateway's traffic from it."""
    install_mesh: bool = True
    """With a mesh: install its control plane (false: the cluster already runs it)."""
    install_monitoring_stack: bool = True
    """With monitoring on: install kube-prometheus-stack (false: the cluster already runs one)."""
    metrics_backend: str = "kube-prometheus-stack"
    """Who collects the workloads' metrics: one of the target's metrics_backends (components/targets.py)."""
    monitoring_namespace: str = ""
    """Namespace of the kube-prometheus-stack release; default `<namespace>-monitoring` (one per stack)."""
    monitoring_release: str = ""
    """Its Helm release name (at most 26 characters); default `<namespace>-kps`."""
    node_exporter: bool = True
    """Run the node exporter: one release per cluster may (staging sharing prod's cluster: false)."""
    dns: Peer = field(default_factory=lambda: Peer("kube-system", {"k8s-app": "kube-dns"}))
    """The cluster DNS the NetworkPolicies admit: CoreDNS by default; `cidrs` for NodeLocal DNSCache."""
    ingress_controller: Peer | None = None
    """The ingress controller's pods (labels) or addresses (cidrs, for a host-network controller);
    default: every pod of ingress_namespace."""


@dataclass(frozen=True)
class Peer:
    """A NetworkPolicy source or destination as the stack writes it: `{namespace, pod_labels}` or `{cidrs}`."""

    namespace: str | None = None
    pod_labels: dict[str, str] = field(default_factory=dict)
    cidrs: tuple[str, ...] = ()


def _check_labels(p: Problems, labels: dict[str, str], path: str) -> None:
    for key, value in labels.items():
        if not is_label_key(key):
            p.add(f"{path}.{key}", key, LABEL_KEY_RULE)
        elif not is_label_value(value):
            p.add(f"{path}.{key}", value, LABEL_VALUE_RULE)


def _dns_label(p: Problems, value: str, path: str, what: str = "") -> None:
    if not DNS_LABEL.match(value):
        p.add(path, value, f"{what}a DNS label (lowercase letters, digits, '-')")


def _dns_name(p: Problems, value: str | None, path: str, what: str) -> None:
    if value is not None and (len(value) > 253 or not DNS_SUBDOMAIN.match(value)):
        p.add(path, value, f"{what}: a DNS name (lowercase letters, digits, '-' and '.')")


def _addresses(cidr: str) -> int | None:
    try:
        return ipaddress.ip_network(cidr, strict=False).num_addresses
    except ValueError:
        return None  # reported by _peer


INGRESS_ONLY = ("ingress_class", "host", "ingress_namespace", "ingress_controller")
"""Keys that only an Ingress uses: refused with exposure load_balancer rather than ignored."""


def _peer(p: Problems, raw: dict, key: str, default: Peer | None, namespace: str | None = None) -> Peer | None:
    path = f"kubernetes.{key}"
    block = p.mapping(raw, key, path)
    if not block:
        return default
    p.unknown_keys(block, ("pod_labels", "cidrs") if namespace else ("namespace", "pod_labels", "cidrs"), path)
    cidrs = block.get("cidrs") or []
    if not isinstance(cidrs, list):
        p.add(f"{path}.cidrs", cidrs, "a list of CIDRs such as 169.254.20.10/32")
        cidrs = []
    for cidr in cidrs:
        try:
            ipaddress.ip_network(str(cidr))
        except ValueError:
            p.add(f"{path}.cidrs", cidr, "a CIDR such as 169.254.20.10/32 or 10.0.0.0/16")
    labels = p.string_map(block, "pod_labels", f"{path}.pod_labels")
    _check_labels(p, labels, f"{path}.pod_labels")
    own_namespace = p.string(block, "namespace", f"{path}.namespace", None) if not namespace else namespace
    if own_namespace and not namespace:
        _dns_label(p, own_namespace, f"{path}.namespace", "a namespace name: ")
    if cidrs and (labels or "namespace" in block):
        p.add(path, block, "either cidrs, or namespace and pod_labels (not both)")
    if not cidrs and not labels and not own_namespace:
        p.add(path, block, "a namespace, pod_labels or cidrs")
    return Peer(own_namespace, labels, tuple(str(c) for c in cidrs))


def parse_kubernetes_options(raw: dict, p: Problems, spec) -> KubernetesOptions:
    p.unknown_keys(raw, ("namespace", "exposure", "ingress_class", "host", "hpa_cpu_utilization_percent",
                         "ingress_namespace", "install_mesh", "install_monitoring_stack", "metrics_backend",
                         "monitoring_namespace",
                         "monitoring_release", "node_exporter", "dns", "ingress_controller"), "kubernetes")
    namespace = p.string(raw, "namespace", "kubernetes.namespace", "apigw") or "apigw"
    _dns_label(p, namespace, "kubernetes.namespace")
    exposure = p.choice(raw, "exposure", "kubernetes.exposure", "load_balancer", EXPOSURES)
    ingress_namespace = p.string(raw, "ingress_namespace", "kubernetes.ingress_namespace",
                                 "ingress-nginx") or "ingress-nginx"
    _dns_label(p, ingress_namespace, "kubernetes.ingress_namespace")
    options = KubernetesOptions(
        namespace=namespace,
        exposure=exposure or "load_balancer",
        ingress_class=p.string(raw, "ingress_class", "kubernetes.ingress_class", "nginx") or "nginx",
        host=p.string(raw, "host", "kubernetes.host", None),
        hpa_cpu_utilization_percent=p.integer(raw, "hpa_cpu_utilization_percent",
                                              "kubernetes.hpa_cpu_utilization_percent", 70, 10, 100) or 70,
        ingress_namespace=ingress_namespace,
        install_mesh=p.boolean(raw, "install_mesh", "kubernetes.install_mesh", True),
        metrics_backend=_metrics_backend(p, raw, spec),
        install_monitoring_stack=p.boolean(raw, "install_monitoring_stack",
                                           "kubernetes.install_monitoring_stack", True),
        monitoring_namespace=p.string(raw, "monitoring_namespace", "kubernetes.monitoring_namespace",
                                      f"{namespace}-monitoring") or f"{namespace}-monitoring",
        monitoring_release=p.string(raw, "monitoring_release", "kubernetes.monitoring_release",
                                    f"{namespace}-kps") or f"{namespace}-kps",
        node_exporter=p.boolean(raw, "node_exporter", "kubernetes.node_exporter", True),
        dns=_peer(p, raw, "dns", KubernetesOptions().dns),
        ingress_controller=_peer(p, raw, "ingress_controller", None, ingress_namespace),
    )
    _dns_name(p, options.host, "kubernetes.host", "the Ingress host")
    _dns_name(p, options.ingress_class, "kubernetes.ingress_class", "an IngressClass name")
    if options.exposure != "ingress":
        for key in (k for k in INGRESS_ONLY if k in raw):
            p.add(f"kubernetes.{key}", raw[key], f"nothing with exposure {options.exposure}: only an Ingress uses it")
    if options.dns.cidrs and _addresses(options.dns.cidrs[0]) not in (1, None):
        p.add("kubernetes.dns.cidrs", options.dns.cidrs[0],
              "a single address first (e.g. 169.254.20.10/32): the gateway's nginx uses it as its DNS resolver")
    return options


EXPOSURE_KEYS = ("exposure", *INGRESS_ONLY)
"""Keys about how clients reach the gateway: a target with a load balancer of its own (azure, gcp)
refuses them rather than ignore them."""


def parse_external_workloads(raw: dict, p: Problems, spec, target: str, how: str) -> KubernetesOptions:
    """The kubernetes block of a target whose own load balancer reaches the gateway Service (`how`):
    everything but the exposure keys, with exposure `external`."""
    for key in (k for k in EXPOSURE_KEYS if k in raw):
        p.add(f"kubernetes.{key}", raw[key], f"nothing on the {target} target: {how}")
    options = parse_kubernetes_options({k: v for k, v in raw.items() if k not in EXPOSURE_KEYS}, p, spec)
    return replace(options, exposure="external")


def _metrics_backend(p: Problems, raw: dict, spec) -> str:
    from ..targets import target
    backends = target(spec.target).metrics_backends if spec.target else ("kube-prometheus-stack",)
    return p.choice(raw, "metrics_backend", "kubernetes.metrics_backend", backends[0], backends) or backends[0]


def check_kubernetes_spec(spec, p: Problems) -> None:
    """What the neutral spec allows but the workloads on a cluster cannot honour."""
    options: KubernetesOptions = spec.options
    _check_labels(p, spec.labels, "labels")
    if spec.monitoring.enabled and options.install_monitoring_stack:
        if len(options.monitoring_release) > MAX_RELEASE or not DNS_LABEL.match(options.monitoring_release):
            key = "monitoring_release" if options.monitoring_release != f"{options.namespace}-kps" else "namespace"
            p.add(f"kubernetes.{key}", getattr(options, key),
                  f"a release name (kubernetes.monitoring_release, default <namespace>-kps) that is a DNS label "
                  f"of at most {MAX_RELEASE} characters: kube-prometheus-stack truncates longer names, and two "
                  "stacks would share cluster-wide objects")
        if len(options.monitoring_namespace) > 63 or not DNS_LABEL.match(options.monitoring_namespace):
            p.add("kubernetes.monitoring_namespace", options.monitoring_namespace,
                  "a DNS label of at most 63 characters")
    if not is_label_value(spec.project):
        p.add("<project name>", spec.project, f"a project name that is also {LABEL_VALUE_RULE} "
                                              "(it is every object's app.kubernetes.io/part-of label)")
    names = {service.name for service in spec.services}
    for service in spec.services:
        if service.name in RESERVED_SERVICE_NAMES:
            p.add(f"services.{service.name}", service.name,
                  f"a name the workloads do not use themselves: {RESERVED_SERVICE_NAMES[service.name]}")
        elif spec.mesh == "none" and len(service.name) > 63 - len(ENDPOINTS_SUFFIX):
            p.add(f"services.{service.name}", service.name,
                  f"at most {63 - len(ENDPOINTS_SUFFIX)} characters: its headless Service "
                  f"{service.name}{ENDPOINTS_SUFFIX} must be a DNS label of at most 63")
        elif spec.mesh == "none" and service.name.endswith(ENDPOINTS_SUFFIX) and \
                service.name.removesuffix(ENDPOINTS_SUFFIX) in names:
            p.add(f"services.{service.name}", service.name,
                  f"a name other than the headless Service of {service.name.removesuffix(ENDPOINTS_SUFFIX)}")
    if options.exposure == "load_balancer" and spec.load_balancer.tls_certificate:
        # The gateway speaks plain HTTP inside the cluster; TLS ends at the Ingress controller.
        p.add("kubernetes.exposure", options.exposure,
              "ingress when load_balancer.tls_certificate is set (TLS terminates at the Ingress)")
    if options.exposure == "ingress" and spec.load_balancer.tls_certificate and not options.host:
        p.add("kubernetes.host", None, "a host name when exposure is ingress and TLS is on")
