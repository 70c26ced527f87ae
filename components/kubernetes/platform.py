"""The kubernetes target's builder: the stack spec mapped to the Workloads component's Args.

`workloads_args` is the one place that reads the spec for Kubernetes workloads; the azure (AKS)
and gcp (GKE) builders call it with their own exposure and pass their cluster's provider.
"""
from __future__ import annotations

from collections.abc import Callable

from ..phases import PRESETS
from ..secrets import kubernetes_ref
from ..spec import Service, StackSpec
from .args import (
    ExposureArgs,
    GatewayArgs,
    IngressArgs,
    InstanceRange,
    MeshArgs,
    MonitoringArgs,
    PeerArgs,
    ProbeArgs,
    SecretKeyRef,
    ServiceArgs,
    WorkloadsArgs,
)
from .options import KubernetesOptions, Peer
from .workloads import Workloads


def _peer(peer: Peer) -> PeerArgs:
    return PeerArgs(namespace=peer.namespace, pod_labels=dict(peer.pod_labels), cidrs=list(peer.cidrs))


def _instances(instances) -> InstanceRange:
    return InstanceRange(min=instances.min, max=instances.max)


def exposure_of(spec: StackSpec, options: KubernetesOptions) -> ExposureArgs:
    """The kubernetes target's exposure: a LoadBalancer Service or an Ingress, from its options."""
    if options.exposure == "ingress":
        return ExposureArgs(kind="ingress", ingress=IngressArgs(
            ingress_class=options.ingress_class, host=options.host, tls_secret=spec.load_balancer.tls_certificate,
            https_redirect=spec.load_balancer.http_to_https_redirect,
            controller_namespace=options.ingress_namespace,
            controller=_peer(options.ingress_controller) if options.ingress_controller else None))
    return ExposureArgs(kind="load_balancer")


def secret_args(service) -> dict:
    """A service's secret settings as ServiceArgs fields: values into its own Secret, references to Secrets
    that exist (<name>/<key>, checked by the target)."""
    return {"secrets": {k: s.value for k, s in service.secrets.items() if s.value is not None},
            "secret_refs": {k: SecretKeyRef(*kubernetes_ref(s.ref)) for k, s in service.secrets.items()
                            if s.ref is not None}}


def workloads_args(spec: StackSpec, options: KubernetesOptions, exposure: ExposureArgs,
                   mesh: MeshArgs | None = None, secrets: Callable[[Service], dict] = secret_args) -> WorkloadsArgs:
    """`mesh`: how the mesh is installed, when a target knows better than the kubernetes block (GKE's CNI path,
    AKS's managed add-on). `secrets`: a service's secret settings as ServiceArgs fields (the cloud targets read
    them from their own store: components/azure/secrets.py, components/gcp/secrets.py)."""
    hc = spec.load_balancer.health_check
    hardened = PRESETS[spec.phase].spread_over_hosts
    network_policies = PRESETS[spec.phase].network_policies
    monitoring = None
    if spec.monitoring.enabled:
        monitoring = MonitoringArgs(install_stack=options.install_monitoring_stack,
                                    namespace=options.monitoring_namespace, release=options.monitoring_release,
                                    node_exporter=options.node_exporter, backend=options.metrics_backend,
                                    single_instance_severity="critical" if spec.phase == "prod" else "info")
    return WorkloadsArgs(
        namespace=options.namespace,
        gateway=GatewayArgs(image=spec.gateway.image, port=spec.gateway.port,
                            instances=_instances(spec.gateway.instances),
                            cpu_millicores=spec.gateway.cpu_millicores, memory_mib=spec.gateway.memory_mib,
                            health_check_path=spec.gateway.health_check_path, limits=spec.gateway.limits),
        services=[ServiceArgs(name=s.name, image=s.image, port=s.port, path_prefix=s.path_prefix,
                              health_check_path=s.health_check_path, instances=_instances(s.instances),
                              cpu_millicores=s.cpu_millicores, memory_mib=s.memory_mib,
                              environment=dict(s.environment), **secrets(s))
                  for s in spec.services],
        probe=ProbeArgs(interval_s=hc.interval_s, timeout_s=hc.timeout_s, healthy_threshold=hc.healthy_threshold,
                        unhealthy_threshold=hc.unhealthy_threshold),
        algorithm=spec.load_balancer.algorithm,
        exposure=exposure,
        mesh=spec.mesh,
        mesh_control_plane=(mesh or MeshArgs(kind=spec.mesh, install=options.install_mesh))
        if spec.mesh != "none" else None,
        network_policies=network_policies,
        dns=_peer(options.dns),
        # The gateway's resolver must be what the DNS NetworkPolicy admits: with DNS by address
        # (NodeLocal DNSCache), that address.
        **({"dns_service": options.dns.cidrs[0].split("/")[0]} if options.dns.cidrs else {}),
        spread_min_zones=spec.min_zones if hardened else None,
        hpa_cpu_utilization_percent=options.hpa_cpu_utilization_percent,
        part_of=spec.project,
        labels={**spec.labels, "phase": spec.phase},
        monitoring=monitoring,
    )


def build(spec: StackSpec) -> dict:
    options: KubernetesOptions = spec.options
    workloads = Workloads(spec.project, workloads_args(spec, options, exposure_of(spec, options)))
    gateway = workloads.gateway
    outputs: dict = {"namespace": workloads.namespace.metadata["name"],
                     "gateway_service": gateway.service.metadata["name"]}
    if gateway.ingress is not None:
        scheme = "https" if spec.load_balancer.tls_certificate else "http"
        outputs["url"] = f"{scheme}://{options.host}" if options.host else None
    else:
        outputs["load_balancer_address"] = gateway.service.status.apply(_load_balancer_address)
    return outputs


def _load_balancer_address(status) -> str | None:
    ingress = (status.load_balancer.ingress or []) if status and status.load_balancer else []
    return (ingress[0].hostname or ingress[0].ip) if ingress else None
