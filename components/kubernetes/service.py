"""One backend service (users-api, ...): Deployment, ClusterIP Service, HPA and PDB."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .args import BackendServiceArgs
from .options import ENDPOINTS_SUFFIX
from .workload import (
    SERVICE_UID,
    autoscaled_deployment,
    child_options,
    cluster_service,
    container,
    http_probes,
    metadata,
    pod_spec,
)

SERVICE_PORT = 80
"""Port of every ClusterIP Service of the workloads (`<name>.<namespace>.svc:80`: each backend's, which
a mesh balances, and the gateway's, which a balancer outside the cluster targets)."""


def service_address(service: str, namespace: str) -> str:
    """The service's ClusterIP Service by its DNS name: one address, balanced by kube-proxy or a mesh."""
    return f"{service}.{namespace}.svc.cluster.local:{SERVICE_PORT}"


def endpoints_address(service: str, namespace: str, port: int) -> str:
    """The service's pods, one A record each, on their container port."""
    return f"{service}{ENDPOINTS_SUFFIX}.{namespace}.svc.cluster.local:{port}"


class BackendService(pulumi.ComponentResource):
    TYPE = "apigw:kubernetes:BackendService"

    def __init__(self, name: str, args: BackendServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        service, pods = args.service, args.pods
        child = child_options(self, opts)
        main = container(
            service.name, service.image, service.port, service.cpu_millicores, service.memory_mib,
            http_probes(service.health_check_path, service.port, pods.probe), SERVICE_UID,
            env=[{"name": k, "value": v} for k, v in sorted(service.environment.items())],
        )
        workloads = autoscaled_deployment(pods, name, service.name, "service", service.instances,
                                          pod_spec(pods, service.name, [main]), child)
        self.deployment, self.autoscaler = workloads[0], workloads[1]
        self.disruption_budget = workloads[2] if len(workloads) > 2 else None
        self.service = cluster_service(pods, name, service.name, "service", child, service_port=SERVICE_PORT)
        self.address = service_address(service.name, pods.namespace)
        self.endpoints = None
        if args.endpoints_service:
            meta = metadata(pods, f"{service.name}{ENDPOINTS_SUFFIX}", service.name, "service")
            # Not-ready pods stay out of the DNS answer (publishNotReadyAddresses defaults to false).
            self.endpoints = k8s.core.v1.Service(
                f"{name}-endpoints", metadata=meta,
                spec={"clusterIP": "None", "selector": {"app": service.name},
                      "ports": [{"name": "http", "port": service.port, "targetPort": "http", "protocol": "TCP"}]},
                opts=child)
            self.endpoints_address = endpoints_address(service.name, pods.namespace, service.port)
        self.register_outputs({"address": self.address})
