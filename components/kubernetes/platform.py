"""The Kubernetes target: the whole platform on an existing cluster.

`deploy_workloads` is the workload library that the azure (AKS) and gcp (GKE) targets call
with their cluster's provider; `build` is the kubernetes target itself (current kubeconfig).
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.gateway import GatewayFleet
from components.kubernetes.monitoring import Monitoring
from components.kubernetes.network import NetworkPolicies
from components.kubernetes.options import KubernetesOptions
from components.kubernetes.service import BackendService
from components.kubernetes.workload import WorkloadContext, labels
from components.spec import StackSpec

# Istio's names for the spec's algorithms (DestinationRule trafficPolicy.loadBalancer).
ISTIO_LB = {"round_robin": {"simple": "ROUND_ROBIN"}, "least_connections": {"simple": "LEAST_REQUEST"},
            "random": {"simple": "RANDOM"}, "source_ip_hash": {"consistentHash": {"useSourceIp": True}}}


class Platform(pulumi.ComponentResource):
    """Namespace, backend services, gateway fleet, exposure and (prod) NetworkPolicies."""

    TYPE = "apigw:kubernetes:Platform"

    def __init__(self, name: str, spec: StackSpec, options: KubernetesOptions,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=opts.provider if opts else None)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": options.namespace, "labels": namespace_labels(spec),
                      "annotations": ({"linkerd.io/inject": "enabled"} if spec.mesh == "linkerd" else {})},
            opts=child)
        ctx = WorkloadContext(spec, options, self.namespace.metadata["name"],
                              opts=pulumi.ResourceOptions(provider=opts.provider if opts else None))
        self.services = {s.name: BackendService(f"{name}-{s.name}", s, ctx, opts=child) for s in spec.services}
        self.gateway = GatewayFleet(
            f"{name}-gateway", ctx, {n: svc.dns_name for n, svc in self.services.items()},
            # nginx resolves upstream names when it starts: the Services must exist first.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                depends_on=[svc.service for svc in self.services.values()])))
        self.network_policies = NetworkPolicies(f"{name}-network", ctx, opts=child) \
            if spec.phase == "prod" else None
        self.monitoring = Monitoring(f"{name}-monitoring", ctx, opts=child) if spec.monitoring.enabled else None
        if spec.mesh == "istio":
            for service in spec.services:
                k8s.apiextensions.CustomResource(
                    f"{name}-{service.name}-destination-rule",
                    api_version="networking.istio.io/v1", kind="DestinationRule",
                    metadata={"name": service.name, "namespace": ctx.namespace,
                              "labels": labels(spec, service.name, "mesh")},
                    spec={"host": self.services[service.name].dns_name,
                          "trafficPolicy": {"loadBalancer": ISTIO_LB[spec.load_balancer.algorithm]}},
                    opts=child)
        self.register_outputs({"namespace": self.namespace.metadata["name"]})


def namespace_labels(spec: StackSpec) -> dict[str, str]:
    pod_security = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    mesh = {"istio-injection": "enabled"} if spec.mesh == "istio" else {}
    return {**labels(spec, spec.project, "platform"), **pod_security, **mesh}


def deploy_workloads(spec: StackSpec, options: KubernetesOptions,
                     opts: pulumi.ResourceOptions | None = None) -> Platform:
    return Platform(f"{spec.project}", spec, options, opts)


def build(spec: StackSpec) -> dict:
    platform = deploy_workloads(spec, spec.options)
    gateway = platform.gateway
    outputs: dict = {"namespace": platform.namespace.metadata["name"],
                     "gateway_service": gateway.service.metadata["name"]}
    if gateway.ingress is not None:
        scheme = "https" if spec.load_balancer.tls_certificate else "http"
        outputs["url"] = f"{scheme}://{spec.options.host}" if spec.options.host else None
    else:
        outputs["load_balancer_address"] = gateway.service.status.apply(_load_balancer_address)
    return outputs


def _load_balancer_address(status) -> str | None:
    ingress = (status.load_balancer.ingress or []) if status and status.load_balancer else []
    return (ingress[0].hostname or ingress[0].ip) if ingress else None
