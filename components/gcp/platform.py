"""The GCP target: global external Application Load Balancer -> standalone NEGs -> gateway pods on GKE -> services.

`build(spec)` is what infra/program.py calls; it returns the stack outputs. It is the one place
that reads the stack spec for GCP: it maps it to each component's Args, and the workloads to the
Kubernetes Workloads component (the same one the kubernetes target builds) on the GKE cluster.
"""
from __future__ import annotations

import dataclasses
import json

import pulumi
import pulumi_gcp as gcp

from ..kubernetes.args import ExposureArgs, MeshArgs
from ..kubernetes.gateway import SERVICE_PORT
from ..kubernetes.platform import workloads_args
from ..kubernetes.workloads import Workloads
from ..spec import StackSpec, platform_tags
from .args import (
    AlertsArgs,
    CloudArmorArgs,
    ClusterArgs,
    HealthCheckArgs,
    LoadBalancerArgs,
    NetworkArgs,
    NodePoolArgs,
    SecretManagerSecretsArgs,
    ServiceSecretsArgs,
)
from .cluster import Cluster
from .load_balancer import LoadBalancer
from .monitoring import Alerts
from .negs import NetworkEndpointGroups
from .network import PODS_RANGE, SERVICES_RANGE, Network
from .options import HEALTH_CHECK_SOURCES, LOCALITY_POLICIES, GcpOptions
from .secret_refs import secret_prefix
from .secrets import SecretManagerSecrets

NEG_ANNOTATION = "cloud.google.com/neg"


class Platform(pulumi.ComponentResource):
    """Groups one stack's GCP components; it carries the stack's Google provider to all of them."""

    TYPE = "apigw:gcp:Platform"

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)


def gateway_exposure(options: GcpOptions) -> ExposureArgs:
    """The gateway Service as the load balancer reaches it: a ClusterIP Service whose port GKE exposes as a
    standalone NEG named `neg_name` in each zone; the NetworkPolicy admits Google's proxies and health checks."""
    neg = {"exposed_ports": {str(SERVICE_PORT): {"name": options.neg_name}}}
    return ExposureArgs(kind="external", service_type="ClusterIP",
                        service_annotations={NEG_ANNOTATION: json.dumps(neg)},
                        source_cidrs=list(HEALTH_CHECK_SOURCES))


def gcp_labels(spec: StackSpec, stack: str) -> dict[str, str]:
    """The platform's tags as GCP labels (lowercase keys and values)."""
    return {key: value.lower() for key, value in platform_tags(spec, stack).items()}


def secret_manager_secrets(name: str, spec: StackSpec, stack: str, platform: Platform,
                           child: pulumi.ResourceOptions) -> SecretManagerSecrets | None:
    """The services' secret settings in Secret Manager (None without any): values the stack stores, references to
    existing secrets, each service's ServiceAccount granted its own."""
    options: GcpOptions = spec.options.gcp
    services = [ServiceSecretsArgs(service=s.name, refs={k: v.ref for k, v in s.secrets.items() if v.ref is not None},
                                   values={k: v.value for k, v in s.secrets.items() if v.value is not None})
                for s in spec.services if s.secrets]
    if not services:
        return None
    project = gcp.organizations.get_project_output(project_id=options.project,
                                                   opts=pulumi.InvokeOutputOptions(parent=platform))
    return SecretManagerSecrets(f"{name}-secrets", SecretManagerSecretsArgs(
        project=options.project, project_number=project.number, secret_prefix=secret_prefix(spec.project, stack),
        namespace=spec.options.kubernetes.namespace, services=services), opts=child)


def build(spec: StackSpec) -> dict:
    options: GcpOptions = spec.options.gcp
    name, stack = spec.project, pulumi.get_stack()
    labels = gcp_labels(spec, stack)
    # An explicit provider: project and region come from the validated spec; every labelled resource
    # gets the stack's labels.
    provider = gcp.Provider(f"{name}-gcp", project=options.project, region=spec.region, default_labels=labels)
    platform = Platform(name, opts=pulumi.ResourceOptions(providers=[provider]))
    child = pulumi.ResourceOptions(parent=platform)
    zones = list(options.zones) or gcp.compute.get_zones_output(
        project=options.project, region=spec.region, status="UP",
        opts=pulumi.InvokeOutputOptions(parent=platform)).names.apply(lambda names: sorted(names)[:options.zone_count])
    node_tag = f"{name}-{spec.phase}-nodes"
    net = options.network
    network = Network(f"{name}-network", NetworkArgs(
        project=options.project, region=spec.region, gateway_port=spec.gateway.port, node_tag=node_tag,
        subnet_cidr=net.subnet_cidr, pods_cidr=net.pods_cidr, services_cidr=net.services_cidr,
        network=net.network, subnetwork=net.subnetwork), opts=child)
    location = spec.region if options.regional else pulumi.Output.from_input(zones).apply(lambda z: z[0])
    cluster = Cluster(f"{name}-gke", ClusterArgs(
        project=options.project, name=f"{name}-{stack}", location=location, node_locations=zones,
        regional=options.regional,
        network=network.network_id, subnetwork=network.subnetwork_id,
        pods_range_name=net.pods_range_name if net.existing else PODS_RANGE,
        services_range_name=net.services_range_name if net.existing else SERVICES_RANGE,
        node_pool=NodePoolArgs(machine_type=options.machine_type, min_per_zone=options.nodes_per_zone.min,
                               max_per_zone=options.nodes_per_zone.max),
        node_tag=node_tag, release_channel=options.release_channel, deletion_protection=options.deletion_protection,
        master_authorized_cidrs=list(options.master_authorized_cidrs), labels=labels,
        secret_manager=any(s.secrets for s in spec.services)),
        opts=pulumi.ResourceOptions(parent=platform, depends_on=[r for r in (network.nat,) if r is not None]))

    mesh = MeshArgs(kind=spec.mesh, install=spec.options.kubernetes.install_mesh, platform="gke") \
        if spec.mesh != "none" else None
    store = secret_manager_secrets(name, spec, stack, platform, child)
    args = workloads_args(spec, spec.options.kubernetes, gateway_exposure(options), mesh,
                          **({"secrets": store.service_fields} if store else {}))
    if spec.mesh == "none":
        # The load balancer applies the algorithm over the gateway pods; the gateway spreads each
        # service's requests round robin (nginx's default).
        args = dataclasses.replace(args, algorithm="round_robin")
    # GKE makes the gateway's NEGs and deletes them when the Service goes, but not always before the
    # cluster does: `cleanup` deletes what is left, after the Service and before the cluster on destroy.
    negs = {"project": options.project, "neg_name": options.neg_name, "zones": zones}
    cleanup = NetworkEndpointGroups(f"{name}-negs-cleanup", "cleanup", **negs,
                                    opts=pulumi.ResourceOptions(parent=platform, depends_on=[cluster.node_pool]))
    grants = store.ready if store else []  # pods with secrets start once their ServiceAccount may read them
    workloads = Workloads(name, args, opts=pulumi.ResourceOptions(parent=platform, providers=[cluster.provider],
                                                                  depends_on=[cleanup, *grants]))
    ready = NetworkEndpointGroups(f"{name}-negs", "await", **negs, opts=pulumi.ResourceOptions(
        parent=platform, depends_on=[workloads.gateway.service]))

    hc, domain = spec.load_balancer.health_check, spec.load_balancer.tls_certificate
    lb = LoadBalancer(f"{name}-lb", LoadBalancerArgs(
        project=options.project, name=name, neg_name=options.neg_name, zones=zones,
        health_check=HealthCheckArgs(path=hc.path, interval_s=hc.interval_s, timeout_s=hc.timeout_s,
                                     healthy_threshold=hc.healthy_threshold,
                                     unhealthy_threshold=hc.unhealthy_threshold),
        locality_lb_policy=LOCALITY_POLICIES[spec.load_balancer.algorithm] if spec.mesh == "none" else "ROUND_ROBIN",
        max_rate_per_endpoint=options.max_rate_per_endpoint, domain=domain, ssl_profile=options.ssl_profile,
        cloud_armor=(CloudArmorArgs(rate_limit_per_minute=options.rate_limit_per_minute,
                                    ban_duration_s=options.ban_duration_s) if options.cloud_armor else None),
        log_sample_rate=options.log_sample_rate, labels=labels),
        # The backend service names the NEGs: created once they exist, deleted before the Service goes.
        opts=pulumi.ResourceOptions(parent=platform, depends_on=[ready, workloads.gateway.service]))

    host = domain or lb.address.address
    if spec.monitoring.enabled:
        Alerts(f"{name}-alerts", AlertsArgs(
            project=options.project, name=f"{name}-{stack}", url_map_name=lb.url_map.name, host=host,
            health_check_path=hc.path, https=bool(domain),
            notification_channels=[spec.monitoring.alarm_topic] if spec.monitoring.alarm_topic else [],
            error_percent=options.alarm_5xx_percent, latency_ms=options.alarm_latency_ms), opts=child)

    scheme = "https" if domain else "http"
    outputs: dict = {"ip_address": lb.address.address,
                     "url": pulumi.Output.from_input(host).apply(lambda h: f"{scheme}://{h}"),
                     "cluster": cluster.cluster.name, "namespace": workloads.namespace.metadata["name"]}
    platform.register_outputs({"ip_address": lb.address.address})
    if not domain:
        outputs["warning"] = "serves plain HTTP: no load_balancer.tls_certificate (fine for dev only)"
        pulumi.log.warn(f"{spec.project}: the load balancer {outputs['warning']}")
    return outputs
