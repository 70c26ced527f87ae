"""One backend service (users-api, ...): Deployment, ClusterIP Service, HPA and PDB."""
from __future__ import annotations

import pulumi

from .args import BackendServiceArgs
from .workload import (SERVICE_UID, autoscaled_deployment, child_options, cluster_service,
                                            container, http_probes, pod_spec)

SERVICE_PORT = 80
"""Port of every backend's ClusterIP Service; the gateway addresses `<name>.<namespace>.svc:80`."""


def service_address(service: str, namespace: str) -> str:
    """The "host:port" the gateway proxies to: the service's ClusterIP Service by its DNS name."""
    return f"{service}.{namespace}.svc.cluster.local:{SERVICE_PORT}"


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
        self.register_outputs({"address": self.address})
