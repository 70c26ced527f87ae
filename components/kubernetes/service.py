"""One backend service (users-api, ...): Deployment, ClusterIP Service, HPA and PDB."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .args import BackendServiceArgs
from .options import ENDPOINTS_SUFFIX
from .secret_delivery import deliver
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
        self.secret = self._secret(name, service, pods, child)
        # Settings from an external store (Key Vault, Secret Manager), read as the service's own ServiceAccount.
        self.store = deliver(name, service, pods, child)
        main = container(
            service.name, service.image, service.port, service.cpu_millicores, service.memory_mib,
            http_probes(service.health_check_path, service.port, pods.probe), SERVICE_UID,
            env=self._environment(service) + self.store.env, volumeMounts=self.store.mounts,
        )
        pod = self.store.pod(pod_spec(pods, service.name, [main], self.store.volumes))
        workloads = autoscaled_deployment(
            pods, name, service.name, "service", service.instances, pod,
            pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=self.store.resources))
            if self.store.resources else child, pod_annotations=self.store.pod_annotations)
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

    @staticmethod
    def _secret(name: str, service, pods, child) -> k8s.core.v1.Secret | None:
        """The service's own secret settings. Immutable and named by Pulumi (`<name>-secrets-<suffix>`): a
        changed value makes a new Secret, so the Deployment's reference changes and its pods roll, which a
        Secret updated in place would not do (env is read at container start)."""
        if not service.secrets:
            return None
        meta = metadata(pods, "", service.name, "service")
        del meta["name"]
        return k8s.core.v1.Secret(
            f"{name}-secrets", metadata=meta, type="Opaque", immutable=True,
            string_data={key: pulumi.Output.secret(value) for key, value in sorted(service.secrets.items())},
            opts=child)

    def _environment(self, service) -> list[dict]:
        env: list[dict] = [{"name": k, "value": v} for k, v in sorted(service.environment.items())]
        refs = {key: (self.secret.metadata.name, key) for key in service.secrets}
        refs.update({key: (ref.name, ref.key) for key, ref in service.secret_refs.items()})
        env += [{"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": secret_key}}}
                for key, (secret, secret_key) in sorted(refs.items())]
        return env
