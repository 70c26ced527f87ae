"""The API gateway fleet: nginx with a generated config, autoscaled, exposed to clients.

The nginx config comes from components/gateway/nginx.py, the same generator the AWS and
local targets use, with one upstream per backend addressed by its Service DNS name.
"""
from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s

from components.gateway.nginx import render_gateway_config
from components.kubernetes.service import SERVICE_PORT
from components.kubernetes.workload import (GATEWAY_UID, SCRATCH_MOUNT, WorkloadContext,
                                            autoscaled_deployment, container, http_probes, labels,
                                            metadata, pod_spec)

GATEWAY_APP = "gateway"
CONFIG_DIR = "/etc/nginx/gateway"


class GatewayFleet(pulumi.ComponentResource):
    TYPE = "apigw:kubernetes:GatewayFleet"

    def __init__(self, name: str, ctx: WorkloadContext, service_dns: dict[str, str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        spec, gateway = ctx.spec, ctx.spec.gateway
        child = pulumi.ResourceOptions.merge(ctx.opts, pulumi.ResourceOptions(parent=self))
        nginx_conf = render_gateway_config(
            spec, {svc: [f"{dns}:{SERVICE_PORT}"] for svc, dns in service_dns.items()},
            pid_path=f"{SCRATCH_MOUNT}/nginx.pid", temp_dir=SCRATCH_MOUNT)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=metadata(ctx, f"{GATEWAY_APP}-nginx", GATEWAY_APP, "gateway"),
            data={"nginx.conf": nginx_conf}, opts=child)
        main = container(
            "nginx", gateway.image, gateway.port, gateway.cpu_millicores, gateway.memory_mib,
            http_probes(gateway.health_check_path, gateway.port, spec.load_balancer.health_check),
            GATEWAY_UID,
            # Bypass the image's entrypoint scripts: they rewrite files under /etc/nginx,
            # which is read-only here.
            command=["nginx", "-c", f"{CONFIG_DIR}/nginx.conf", "-g", "daemon off;"],
            volumeMounts=[{"name": "nginx-config", "mountPath": CONFIG_DIR, "readOnly": True}],
        )
        pod = pod_spec(ctx, GATEWAY_APP, [main], volumes=[
            {"name": "nginx-config", "configMap": {"name": f"{GATEWAY_APP}-nginx"}}])
        # A changed config must roll the pods: nginx reads it only at start.
        checksum = hashlib.sha256(nginx_conf.encode()).hexdigest()
        workloads = autoscaled_deployment(ctx, name, GATEWAY_APP, "gateway", gateway.instances, pod,
                                          parent=self, pod_annotations={"checksum/nginx-config": checksum})
        self.deployment, self.autoscaler = workloads[0], workloads[1]
        self.disruption_budget = workloads[2] if len(workloads) > 2 else None

        exposed_by_service = ctx.options.exposure == "load_balancer"
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=metadata(ctx, GATEWAY_APP, GATEWAY_APP, "gateway"),
            spec={"type": "LoadBalancer" if exposed_by_service else "ClusterIP",
                  "selector": {"app": GATEWAY_APP},
                  "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
            opts=child)
        self.ingress = None if exposed_by_service else self._ingress(name, ctx, child)
        self.register_outputs({"service": self.service.metadata["name"]})

    @staticmethod
    def _ingress(name: str, ctx: WorkloadContext, child: pulumi.ResourceOptions) -> k8s.networking.v1.Ingress:
        spec, options = ctx.spec, ctx.options
        tls = spec.load_balancer.tls_certificate
        redirect = "true" if spec.load_balancer.http_to_https_redirect else "false"
        rule: dict = {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
            "service": {"name": GATEWAY_APP, "port": {"name": "http"}}}}]}}
        if options.host:
            rule["host"] = options.host
        body: dict = {"ingressClassName": options.ingress_class, "rules": [rule]}
        if tls:
            body["tls"] = [{"secretName": tls, "hosts": [options.host]}]
        return k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata={"name": GATEWAY_APP, "namespace": ctx.namespace,
                      "labels": labels(spec, GATEWAY_APP, "gateway"),
                      # ingress-nginx's names; other controllers ignore them (see the README).
                      "annotations": {"nginx.ingress.kubernetes.io/ssl-redirect": redirect,
                                      "nginx.ingress.kubernetes.io/force-ssl-redirect": redirect}},
            spec=body, opts=child)
