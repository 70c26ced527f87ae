"""One backend service (users-api, ...): Deployment, ClusterIP Service, HPA and PDB."""
from __future__ import annotations

import pulumi

from components.kubernetes.workload import (SERVICE_UID, WorkloadContext, autoscaled_deployment,
                                             cluster_service, container, http_probes, pod_spec)
from components.spec import Service

SERVICE_PORT = 80
"""Port of every backend's ClusterIP Service; the gateway addresses `<name>.<namespace>.svc:80`."""


class BackendService(pulumi.ComponentResource):
    TYPE = "apigw:kubernetes:BackendService"

    def __init__(self, name: str, service: Service, ctx: WorkloadContext,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        health = ctx.spec.load_balancer.health_check
        main = container(
            service.name, service.image, service.port, service.cpu_millicores, service.memory_mib,
            http_probes(service.health_check_path, service.port, health), SERVICE_UID,
            env=[{"name": k, "value": v} for k, v in sorted(service.environment.items())],
        )
        workloads = autoscaled_deployment(ctx, name, service.name, "service", service.instances,
                                          pod_spec(ctx, service.name, [main]), parent=self)
        self.deployment, self.autoscaler = workloads[0], workloads[1]
        self.disruption_budget = workloads[2] if len(workloads) > 2 else None
        self.service = cluster_service(ctx, name, service.name, "service", service.port, parent=self,
                                       service_port=SERVICE_PORT)
        self.dns_name = f"{service.name}.{ctx.options.namespace}.svc.cluster.local"
        self.register_outputs({"dns_name": self.dns_name})
