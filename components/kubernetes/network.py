"""NetworkPolicies: deny everything, then open exactly the paths the topology uses.

clients (load balancer, ingress controller or an external balancer's ranges) -> gateway -> services,
plus DNS for all.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .args import ExposureArgs, NetworkPoliciesArgs, PeerArgs
from .gateway import GATEWAY_APP, METRICS_PORT
from .mesh import ISTIO_NAMESPACE, ISTIOD_PORT, LINKERD_CONTROL_PORTS, LINKERD_INBOUND_PORT, LINKERD_NAMESPACE
from .workload import child_options, labels

MESH_METRICS_PORTS = {"istio": 15090, "linkerd": 4191}
"""Where Prometheus reads each mesh's proxy metrics (Envoy's http-envoy-prom, Linkerd's linkerd-admin)."""
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
ANYWHERE = "0.0.0.0/0"


def peers(peer: PeerArgs) -> list[dict]:
    """A NetworkPolicy's `from`/`to` entries for `peer`."""
    if peer.cidrs:
        return [{"ipBlock": {"cidr": cidr}} for cidr in peer.cidrs]
    entry: dict = {}
    if peer.namespace:
        entry["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": peer.namespace}}
    if peer.pod_labels:
        entry["podSelector"] = {"matchLabels": dict(peer.pod_labels)}
    if not entry:
        raise ValueError("a NetworkPolicy peer needs a namespace, pod labels or CIDRs")
    return [entry]


def gateway_sources(exposure: ExposureArgs) -> list[dict]:
    """Who may reach the gateway port."""
    if exposure.kind == "ingress":
        ingress = exposure.ingress
        if ingress and ingress.controller:
            return peers(ingress.controller)
        return peers(PeerArgs(namespace=ingress.controller_namespace if ingress else "ingress-nginx"))
    if exposure.kind == "external" and not exposure.source_cidrs:
        raise ValueError("exposure external: source_cidrs must name the ranges the outside load balancer "
                         "and its health checks come from (the NetworkPolicy admits only those)")
    # A cloud load balancer reaches pods from node or LB addresses that are not known in
    # advance; without given ranges, the port is what is restricted.
    return [{"ipBlock": {"cidr": cidr}} for cidr in (exposure.source_cidrs or [ANYWHERE])]


def mesh_control_plane(mesh: str) -> dict | None:
    """The egress every meshed pod needs: its sidecar to the mesh's control plane (config and certificates)."""
    if mesh == "istio":
        return {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ISTIO_NAMESPACE}},
                        "podSelector": {"matchLabels": {"app": "istiod"}}}],
                "ports": [{"protocol": "TCP", "port": ISTIOD_PORT}]}
    if mesh == "linkerd":
        return {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": LINKERD_NAMESPACE}}}],
                "ports": [{"protocol": "TCP", "port": port} for port in LINKERD_CONTROL_PORTS]}
    return None


class NetworkPolicies(pulumi.ComponentResource):
    TYPE = "apigw:kubernetes:NetworkPolicies"

    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = child_options(self, opts)
        services = sorted(args.service_ports)
        # Linkerd's proxies send meshed traffic to each other's inbound port, not the service's own.
        proxy_ports = [LINKERD_INBOUND_PORT] if args.mesh == "linkerd" else []

        def policy(key: str, body: dict) -> k8s.networking.v1.NetworkPolicy:
            meta = {"name": key, "namespace": args.namespace, "labels": labels(args.labels, key, "network-policy")}
            return k8s.networking.v1.NetworkPolicy(f"{name}-{key}", metadata=meta, spec=body, opts=child)

        self.policies = [
            policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            policy("allow-dns", {
                "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{"to": peers(args.dns), "ports": DNS_PORTS}]}),
            policy("allow-lb-to-gateway", {
                "podSelector": {"matchLabels": {"app": GATEWAY_APP}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": gateway_sources(args.exposure),
                             "ports": [{"protocol": "TCP", "port": args.gateway_port}]}]}),
            policy("allow-gateway-to-services", {
                "podSelector": {"matchLabels": {"app": GATEWAY_APP}}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchExpressions": [
                    {"key": "app", "operator": "In", "values": services}]}}],
                    "ports": sorted(({"protocol": "TCP", "port": port}
                                     for port in {*args.service_ports.values(), *proxy_ports}),
                                    key=lambda p: p["port"])}]}),
        ]
        if args.metrics_scraper is not None:
            mesh_port = {"istio": MESH_METRICS_PORTS["istio"], "linkerd": MESH_METRICS_PORTS["linkerd"]}.get(args.mesh)
            self.policies.append(policy("allow-metrics-scrape", {
                "podSelector": {}, "policyTypes": ["Ingress"],
                "ingress": [{"from": peers(args.metrics_scraper),
                             "ports": [{"protocol": "TCP", "port": port}
                                       for port in (METRICS_PORT, mesh_port) if port is not None]}]}))
        control_plane = mesh_control_plane(args.mesh)
        if control_plane:
            self.policies.append(policy("allow-mesh-control-plane", {
                "podSelector": {}, "policyTypes": ["Egress"], "egress": [control_plane]}))
        for service in services:
            self.policies.append(policy(f"allow-gateway-to-{service}", {
                "podSelector": {"matchLabels": {"app": service}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": GATEWAY_APP}}}],
                             "ports": [{"protocol": "TCP", "port": port}
                                       for port in (args.service_ports[service], *proxy_ports)]}]}))
        self.register_outputs({})
