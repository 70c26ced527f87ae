"""The Kubernetes workloads: one component that the kubernetes, azure (AKS) and gcp (GKE) targets share.

    apigw:kubernetes:Workloads  <name>
    ├── Namespace                         restricted Pod Security, mesh injection
    ├── apigw:kubernetes:BackendService   <name>-<service>   Deployment, Service, HPA, PDB
    ├── apigw:kubernetes:GatewayFleet     <name>-gateway     nginx ConfigMap, Deployment, HPA, PDB, Service[, Ingress]
    ├── apigw:kubernetes:NetworkPolicies  <name>-network     (network_policies)
    ├── apigw:kubernetes:Monitoring       <name>-monitoring  (monitoring)
    ├── apigw:kubernetes:MeshControlPlane <name>-mesh        (a mesh, unless installed already)
    └── DestinationRule + VirtualService (istio) or HTTPRoutes (linkerd) per service  (a mesh)

It takes a provider (ResourceOptions.provider: the current kubeconfig, an AKS or a GKE cluster) and
an exposure: load_balancer, ingress, or external (a load balancer outside the cluster targets the
gateway Service; the caller passes the Service's annotations and the ranges the NetworkPolicy admits).
"""
from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as k8s

from .args import (
    EXPOSURES,
    BackendServiceArgs,
    GatewayFleetArgs,
    MeshArgs,
    NetworkPoliciesArgs,
    PeerArgs,
    PodSettings,
    WorkloadsArgs,
)
from .gateway import GATEWAY_APP, GatewayFleet
from .mesh import MeshControlPlane, routing
from .monitoring import Monitoring
from .network import NetworkPolicies, gateway_sources
from .secret_delivery import store_problems
from .service import SERVICE_PORT, BackendService
from .target import ISTIO_LB
from .workload import labels

MESHES = ("none", "istio", "linkerd")


def check_args(args: WorkloadsArgs) -> None:
    """Refuse what the workloads cannot honour, before anything is registered."""
    problems = []
    if args.exposure.kind not in EXPOSURES:
        problems.append(f"exposure.kind: {args.exposure.kind!r} is not one of {', '.join(EXPOSURES)}")
    if args.mesh not in MESHES:
        problems.append(f"mesh: {args.mesh!r} is not one of {', '.join(MESHES)}")
    elif args.mesh == "istio" and args.algorithm not in ISTIO_LB:
        problems.append(f"algorithm: {args.algorithm!r} is not one of {', '.join(ISTIO_LB)} with istio")
    exposure = args.exposure
    if exposure.external_traffic_policy not in (None, "Cluster", "Local"):
        problems.append(f"exposure.external_traffic_policy: {exposure.external_traffic_policy!r} is not one of "
                        "Cluster, Local")
    elif exposure.external_traffic_policy and (exposure.kind != "external"
                                               or exposure.service_type not in ("LoadBalancer", "NodePort")):
        problems.append("exposure.external_traffic_policy: only with kind external and service_type LoadBalancer "
                        "or NodePort (Kubernetes refuses it on other Services)")
    if args.mesh_control_plane is not None and args.mesh_control_plane.kind != args.mesh:
        problems.append(f"mesh_control_plane.kind: {args.mesh_control_plane.kind!r} is not the mesh {args.mesh!r}")
    if not args.services:
        problems.append("services: at least one service")
    problems += [problem for service in args.services for problem in store_problems(service)]
    if args.probe.timeout_s >= args.probe.interval_s:
        problems.append(f"probe.timeout_s: {args.probe.timeout_s} is not less than interval_s "
                        f"({args.probe.interval_s}), so one check would not end before the next")
    if problems:
        raise ValueError("WorkloadsArgs: " + "; ".join(problems))
    gateway_sources(args.exposure)  # raises on an external exposure without source ranges


SCRAPERS = {"gke-managed-prometheus": "gmp-system", "azure-managed-prometheus": "kube-system"}
"""Where each managed backend's collectors run; kube-prometheus-stack's run in its own namespace."""


def metrics_scraper(monitoring) -> PeerArgs | None:
    """Who scrapes the workloads' metrics ports (the NetworkPolicies admit it)."""
    if monitoring is None:
        return None
    return PeerArgs(namespace=SCRAPERS.get(monitoring.backend, monitoring.namespace))


def namespace_labels(args: WorkloadsArgs) -> dict[str, str]:
    pod_security = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    revision = args.mesh_control_plane.istio_revision if args.mesh_control_plane else None
    mesh = ({"istio.io/rev": revision} if revision else {"istio-injection": "enabled"}) if args.mesh == "istio" else {}
    return {**labels(common_labels(args), args.part_of, "platform"), **pod_security, **mesh}


def common_labels(args: WorkloadsArgs) -> dict[str, str]:
    return {**args.labels, "app.kubernetes.io/part-of": args.part_of}


class Workloads(pulumi.ComponentResource):
    TYPE = "apigw:kubernetes:Workloads"
    # Shipped stacks created this component as apigw:kubernetes:Platform: the alias keeps every
    # child's identity (tests/test_urn_snapshot.py), so upgrading replaces nothing.
    ALIASES = [pulumi.Alias(type_="apigw:kubernetes:Platform")]

    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None):
        check_args(args)
        super().__init__(self.TYPE, name, None, pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(aliases=self.ALIASES)))
        self.mesh_control_plane = None
        control_plane = args.mesh_control_plane or MeshArgs(kind=args.mesh)
        if args.mesh != "none" and control_plane.install:
            self.mesh_control_plane = MeshControlPlane(
                f"{name}-mesh",
                dataclasses.replace(control_plane, labels=labels(common_labels(args), args.mesh, "mesh")),
                opts=pulumi.ResourceOptions(parent=self))
        # Pods are injected when they start: the mesh's webhook must be there before the namespace's pods.
        child = pulumi.ResourceOptions(parent=self, depends_on=self.mesh_control_plane.ready
                                       if self.mesh_control_plane else [])
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": args.namespace, "labels": namespace_labels(args),
                      "annotations": ({"linkerd.io/inject": "enabled"} if args.mesh == "linkerd" else {})},
            opts=child)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        common = common_labels(args)
        pods = PodSettings(namespace=args.namespace, probe=args.probe, labels=common,
                           spread_min_zones=args.spread_min_zones,
                           hpa_cpu_utilization_percent=args.hpa_cpu_utilization_percent)
        # Without a mesh the gateway balances over each service's pods itself (a headless Service,
        # resolved while nginx runs), so its retries and passive health checks reach another
        # instance; with a mesh it calls the ClusterIP Service and the mesh balances and retries.
        direct = args.mesh == "none"
        self.services = {
            s.name: BackendService(f"{name}-{s.name}", BackendServiceArgs(s, pods, endpoints_service=direct),
                                   opts=in_namespace)
            for s in args.services}
        self.gateway = GatewayFleet(
            f"{name}-gateway",
            GatewayFleetArgs(gateway=args.gateway, pods=pods, routes={s.name: s.path_prefix for s in args.services},
                             upstreams={n: svc.endpoints_address if direct else svc.address
                                        for n, svc in self.services.items()},
                             algorithm=args.algorithm, exposure=args.exposure,
                             resolver=args.dns_service if direct else None, mesh=not direct,
                             metrics_exporter=args.monitoring is not None),
            # nginx resolves upstream names when it starts: the Services must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[
                self.namespace, *(svc.endpoints or svc.service for svc in self.services.values())]))
        self.network_policies = None
        if args.network_policies:
            self.network_policies = NetworkPolicies(f"{name}-network", NetworkPoliciesArgs(
                namespace=args.namespace, gateway_port=args.gateway.port,
                service_ports={s.name: s.port for s in args.services}, exposure=args.exposure, dns=args.dns,
                labels=common, mesh=args.mesh, metrics_scraper=metrics_scraper(args.monitoring)),
                opts=in_namespace)
        self.monitoring = None
        if args.monitoring is not None:
            self.monitoring = Monitoring(f"{name}-monitoring", dataclasses.replace(
                args.monitoring, watched_namespace=args.namespace, labels=common, part_of=args.part_of, mesh=args.mesh,
                apps=[GATEWAY_APP, *(s.name for s in args.services)]), opts=in_namespace)
        self.mesh_routes = []
        if args.mesh == "istio":
            # mTLS only between the workloads, whatever the mesh-wide default (one the stack may not own).
            self.mesh_routes.append(k8s.apiextensions.CustomResource(
                f"{name}-strict-mtls", api_version="security.istio.io/v1", kind="PeerAuthentication",
                metadata={"name": "default", "namespace": args.namespace,
                          "labels": labels(common, args.part_of, "mesh")},
                spec={"mtls": {"mode": "STRICT"}}, opts=in_namespace))
        if args.mesh != "none":
            for service in args.services:
                self.mesh_routes += routing(name, args.mesh, service.name, args.namespace, SERVICE_PORT,
                                            args.algorithm, labels(common, service.name, "mesh"),
                                            args.probe.unhealthy_threshold, args.probe.interval_s, in_namespace)
        self.register_outputs({"namespace": args.namespace, "gateway_service": self.gateway.service.metadata["name"]})
