"""The API gateway fleet: nginx with a generated config, autoscaled, exposed to clients.

The nginx config comes from components/gateway/nginx.py, the same generator the AWS and
local targets use, with one upstream per backend addressed by its Service DNS name.
"""
from __future__ import annotations

import hashlib
import json
import pathlib

import pulumi
import pulumi_kubernetes as k8s

from ..gateway import log_exporter
from ..gateway.nginx import GatewayRouting, nginx_version_of, render_gateway_config
from ..spec import GATEWAY_NAME
from .args import ExposureArgs, GatewayFleetArgs, IngressArgs, PodSettings
from .service import SERVICE_PORT  # every Service of the workloads: port 80 to the pods' `http` port
from .workload import (
    GATEWAY_UID,
    PRE_STOP_SLEEP_S,
    SCRATCH_MOUNT,
    autoscaled_deployment,
    child_options,
    container,
    http_probes,
    labels,
    metadata,
    pod_spec,
)

GATEWAY_APP = GATEWAY_NAME
CONFIG_DIR = "/etc/nginx/gateway"
SERVICE_TYPES = {"load_balancer": "LoadBalancer", "ingress": "ClusterIP"}
"""The gateway Service's type per exposure; `external` takes the caller's (default ClusterIP)."""


EXPORTER_IMAGE = "python:3.12.11-alpine"
"""The metrics exporter's image: a pinned Python; the exporter itself (standard library) comes from a ConfigMap."""
EXPORTER_DIR = "/opt/apigw-metrics"
METRICS_PORT = log_exporter.METRICS_PORT
EXPORTER_UID = 65532

DNS_REFRESH_S = 5
"""How long nginx keeps a resolved upstream: a new pod gets traffic, and a removed one stops
getting it, within this plus the cluster DNS's own TTL (CoreDNS: 5 s), so within 10 s; the
drain's preStop sleep (components/kubernetes/workload.py) covers the same 10 s."""
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
"""The pod network of an ingress controller whose addresses are not given."""


def trusted_proxies(exposure: ExposureArgs) -> tuple[str, ...]:
    """Who names the client in X-Forwarded-For: the ingress controller, or the outside load
    balancer's ranges. A LoadBalancer Service passes connections on (no header): none."""
    if exposure.kind == "ingress":
        controller = exposure.ingress.controller if exposure.ingress else None
        return tuple(controller.cidrs) if controller and controller.cidrs else PRIVATE_RANGES
    return tuple(exposure.source_cidrs) if exposure.kind == "external" else ()


def gateway_nginx_config(args: GatewayFleetArgs) -> str:
    probe = args.pods.probe
    routing = GatewayRouting.build(args.gateway.port, args.gateway.health_check_path, args.algorithm, args.routes,
                                   max_fails=probe.unhealthy_threshold, fail_timeout_s=probe.interval_s,
                                   limits=args.gateway.limits, trusted_proxies=trusted_proxies(args.exposure),
                                   retries=not args.mesh)
    resolver = f"{args.resolver} valid={DNS_REFRESH_S}s ipv6=off" if args.resolver else None
    note = (f"Each service by its headless Service, resolved every {DNS_REFRESH_S}s: nginx balances over the pods "
            "and retries idempotent requests on another pod." if resolver else
            "Each service by its ClusterIP Service: the mesh balances over the pods and retries.")
    return render_gateway_config(routing, {svc: [address] for svc, address in args.upstreams.items()},
                                 pid_path=f"{SCRATCH_MOUNT}/nginx.pid", temp_dir=SCRATCH_MOUNT,
                                 resolver=resolver, resolve_at_run_time=resolver is not None,
                                 nginx_version=nginx_version_of(args.gateway.image), note=note,
                                 metrics_syslog_port=log_exporter.SYSLOG_PORT if args.metrics_exporter else None)


def exporter_files(args: GatewayFleetArgs) -> dict[str, str]:
    """The exporter's program and the gateway's routes (longest prefix first, as nginx matches them)."""
    routes = sorted(args.routes.items(), key=lambda item: -len(item[1]))
    return {"log_exporter.py": pathlib.Path(log_exporter.__file__).read_text(),
            "routes.json": json.dumps([[prefix, service] for service, prefix in routes])}


def exporter_container() -> dict:
    probe = {"httpGet": {"path": "/metrics", "port": "metrics"}, "periodSeconds": 10, "timeoutSeconds": 2}
    return {
        "name": "metrics", "image": EXPORTER_IMAGE,
        "command": ["python", "-B", f"{EXPORTER_DIR}/log_exporter.py", "--routes", f"{EXPORTER_DIR}/routes.json"],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": EXPORTER_UID, "runAsGroup": EXPORTER_UID,
                            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "metrics-exporter", "mountPath": EXPORTER_DIR, "readOnly": True}],
        "readinessProbe": probe, "livenessProbe": {**probe, "failureThreshold": 6},
        # Counts the requests nginx finishes while it drains, as long as nginx's own sleep.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_S}}},
    }


class GatewayFleet(pulumi.ComponentResource):
    TYPE = "apigw:kubernetes:GatewayFleet"

    def __init__(self, name: str, args: GatewayFleetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        gateway, pods, exposure = args.gateway, args.pods, args.exposure
        child = child_options(self, opts)
        nginx_conf = gateway_nginx_config(args)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=metadata(pods, f"{GATEWAY_APP}-nginx", GATEWAY_APP, "gateway"),
            data={"nginx.conf": nginx_conf}, opts=child)
        main = container(
            "nginx", gateway.image, gateway.port, gateway.cpu_millicores, gateway.memory_mib,
            http_probes(gateway.health_check_path, gateway.port, pods.probe),
            GATEWAY_UID,
            # Bypass the image's entrypoint scripts: they rewrite files under /etc/nginx,
            # which is read-only here.
            command=["nginx", "-c", f"{CONFIG_DIR}/nginx.conf", "-g", "daemon off;"],
            volumeMounts=[{"name": "nginx-config", "mountPath": CONFIG_DIR, "readOnly": True}],
        )
        containers, volumes = [main], [{"name": "nginx-config", "configMap": {"name": f"{GATEWAY_APP}-nginx"}}]
        self.exporter_config = None
        files = exporter_files(args) if args.metrics_exporter else None
        if files is not None:
            self.exporter_config = k8s.core.v1.ConfigMap(
                f"{name}-metrics", metadata=metadata(pods, f"{GATEWAY_APP}-metrics", GATEWAY_APP, "gateway"),
                data=files, opts=child)
            containers.append(exporter_container())
            volumes.append({"name": "metrics-exporter", "configMap": {"name": f"{GATEWAY_APP}-metrics"}})
        pod = pod_spec(pods, GATEWAY_APP, containers, volumes=volumes)
        # A changed config must roll the pods: nginx reads it only at start.
        digest = hashlib.sha256(nginx_conf.encode())
        if files is not None:  # the exporter's program and routes roll the pods too
            digest.update(json.dumps(files, sort_keys=True).encode())
        self.checksum = checksum = digest.hexdigest()
        workloads = autoscaled_deployment(pods, name, GATEWAY_APP, "gateway", gateway.instances, pod, child,
                                          pod_annotations={"checksum/nginx-config": checksum})
        self.deployment, self.autoscaler = workloads[0], workloads[1]
        self.disruption_budget = workloads[2] if len(workloads) > 2 else None

        service_meta = metadata(pods, GATEWAY_APP, GATEWAY_APP, "gateway")
        if exposure.service_annotations:
            service_meta["annotations"] = dict(exposure.service_annotations)
        service_type = SERVICE_TYPES.get(exposure.kind) or exposure.service_type or "ClusterIP"
        service_spec = {"type": service_type, "selector": {"app": GATEWAY_APP},
                        "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]}
        if exposure.external_traffic_policy:
            service_spec["externalTrafficPolicy"] = exposure.external_traffic_policy
        self.service = k8s.core.v1.Service(f"{name}-service", metadata=service_meta, spec=service_spec, opts=child)
        self.ingress = None
        if exposure.kind == "ingress":
            self.ingress = _ingress(name, pods, exposure.ingress or IngressArgs(), child)
        self.register_outputs({"service": self.service.metadata["name"]})


def _ingress(name: str, pods: PodSettings, ingress: IngressArgs,
             child: pulumi.ResourceOptions) -> k8s.networking.v1.Ingress:
    redirect = "true" if ingress.https_redirect else "false"
    rule: dict = {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": GATEWAY_APP, "port": {"name": "http"}}}}]}}
    if ingress.host:
        rule["host"] = ingress.host
    body: dict = {"ingressClassName": ingress.ingress_class, "rules": [rule]}
    if ingress.tls_secret:
        body["tls"] = [{"secretName": ingress.tls_secret, "hosts": [ingress.host]}]
    return k8s.networking.v1.Ingress(
        f"{name}-ingress",
        metadata={"name": GATEWAY_APP, "namespace": pods.namespace,
                  "labels": labels(pods.labels, GATEWAY_APP, "gateway"),
                  # ingress-nginx's names; other controllers ignore them (see the README).
                  "annotations": {"nginx.ingress.kubernetes.io/ssl-redirect": redirect,
                                  "nginx.ingress.kubernetes.io/force-ssl-redirect": redirect}},
        spec=body, opts=child)
