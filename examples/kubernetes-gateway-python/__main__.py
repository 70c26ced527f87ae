"""The gateway fleet in front of two services on the cluster of the current kubeconfig context.

Only the components, no stack spec: a namespace, two BackendService components and a GatewayFleet
that routes /orders and /stock to them. `pulumi up` needs the Pulumi CLI and a cluster;
`make plan PROGRAM=examples/kubernetes-gateway-python` plans it offline.
"""
import pulumi
import pulumi_kubernetes as k8s
from apigw_platform.kubernetes.args import (
                                            BackendServiceArgs,
                                            ExposureArgs,
                                            GatewayArgs,
                                            GatewayFleetArgs,
                                            InstanceRange,
                                            PodSettings,
                                            ProbeArgs,
                                            ServiceArgs,
)
from apigw_platform.kubernetes.gateway import GatewayFleet
from apigw_platform.kubernetes.service import BackendService

NAMESPACE = "shop"

namespace = k8s.core.v1.Namespace("shop", metadata={"name": NAMESPACE, "labels": {
    "pod-security.kubernetes.io/enforce": "restricted"}})
pods = PodSettings(namespace=NAMESPACE, probe=ProbeArgs(interval_s=5, timeout_s=2), labels={"team": "shop"})
in_namespace = pulumi.ResourceOptions(depends_on=[namespace])

services = {
    name: BackendService(name, BackendServiceArgs(ServiceArgs(
        name=name, image="traefik/whoami:v1.10.3", port=8080, path_prefix=f"/{name}", health_check_path="/health",
        instances=InstanceRange(min=2, max=4), cpu_millicores=100, memory_mib=64), pods), opts=in_namespace)
    for name in ("orders", "stock")
}
gateway = GatewayFleet("gateway", GatewayFleetArgs(
    gateway=GatewayArgs(image="nginxinc/nginx-unprivileged:1.27.3-alpine", port=8080,
                        instances=InstanceRange(min=2, max=6), cpu_millicores=250, memory_mib=128),
    pods=pods,
    routes={name: f"/{name}" for name in services},
    # Each service's pods by their headless Service, looked up while nginx runs: the gateway balances
    # and retries over the instances themselves.
    upstreams={name: service.endpoints_address for name, service in services.items()},
    resolver="kube-dns.kube-system.svc.cluster.local",
    exposure=ExposureArgs(kind="load_balancer"),
), opts=pulumi.ResourceOptions(depends_on=[namespace, *(s.endpoints for s in services.values())]))

pulumi.export("gateway_service", gateway.service.metadata["name"])
