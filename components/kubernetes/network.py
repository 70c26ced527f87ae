"""prod NetworkPolicies: deny everything, then open exactly the paths the topology uses.

client -> (load balancer or ingress controller) -> gateway -> services, plus DNS for all.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.gateway import GATEWAY_APP
from components.kubernetes.workload import WorkloadContext, metadata

DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


class NetworkPolicies(pulumi.ComponentResource):
    TYPE = "apigw:kubernetes:NetworkPolicies"

    def __init__(self, name: str, ctx: WorkloadContext, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        spec = ctx.spec
        child = pulumi.ResourceOptions.merge(ctx.opts, pulumi.ResourceOptions(parent=self))
        service_apps = [s.name for s in spec.services]

        def policy(key: str, body: dict) -> k8s.networking.v1.NetworkPolicy:
            return k8s.networking.v1.NetworkPolicy(
                f"{name}-{key}", metadata=metadata(ctx, key, key, "network-policy"), spec=body, opts=child)

        self.policies = [
            policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            policy("allow-dns", {
                "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}], "ports": DNS_PORTS}]}),
            policy("allow-lb-to-gateway", {
                "podSelector": {"matchLabels": {"app": GATEWAY_APP}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [self._load_balancer_source(ctx)],
                             "ports": [{"protocol": "TCP", "port": spec.gateway.port}]}]}),
            policy("allow-gateway-to-services", {
                "podSelector": {"matchLabels": {"app": GATEWAY_APP}}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchExpressions": [
                    {"key": "app", "operator": "In", "values": service_apps}]}}],
                    "ports": sorted(({"protocol": "TCP", "port": s.port} for s in spec.services),
                                    key=lambda p: p["port"])}]}),
        ]
        for service in spec.services:
            self.policies.append(policy(f"allow-gateway-to-{service.name}", {
                "podSelector": {"matchLabels": {"app": service.name}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": GATEWAY_APP}}}],
                             "ports": [{"protocol": "TCP", "port": service.port}]}]}))
        self.register_outputs({})

    @staticmethod
    def _load_balancer_source(ctx: WorkloadContext) -> dict:
        if ctx.options.exposure == "ingress":
            return {"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": ctx.options.ingress_namespace}}}
        # A cloud load balancer reaches pods from node or LB addresses that are not known in
        # advance; the port is what is restricted.
        return {"ipBlock": {"cidr": "0.0.0.0/0"}}
