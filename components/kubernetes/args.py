"""Typed inputs of the Kubernetes workloads component and its parts.

Each field holds only what the components need; the kubernetes, azure (AKS) and gcp (GKE) builders
map the stack spec to these. Plain frozen dataclasses with real annotations (no
`from __future__ import annotations`): Pulumi's component provider reads them to build the
package schema other languages use, and a field's docstring becomes its description there.
"""
from dataclasses import field

import pulumi

from ..argsclass import args_class
from ..gateway.limits import GatewayLimits
from ..spec import HealthCheck

EXPOSURES = ("load_balancer", "ingress", "external")


@args_class
class InstanceRange:
    """How many copies of a program run: the HorizontalPodAutoscaler's bounds."""

    min: int
    """At least this many, 1 or more; also the Deployment's initial replicas."""
    max: int
    """At most this many, at least `min`."""


@args_class
class ProbeArgs:
    """How a program's health endpoint is checked (readiness; liveness gives up twice as slowly)."""

    interval_s: int = HealthCheck.interval_s
    """Seconds between checks."""
    timeout_s: int = HealthCheck.timeout_s
    """Seconds before one check counts as failed; less than interval_s."""
    healthy_threshold: int = HealthCheck.healthy_threshold
    """Consecutive successes before an instance receives traffic."""
    unhealthy_threshold: int = HealthCheck.unhealthy_threshold
    """Consecutive failures before an instance leaves the rotation."""


@args_class
class PodSettings:
    """What the pods of every program share."""

    namespace: str
    """Namespace of the objects (it must exist; the Workloads component creates it)."""
    probe: ProbeArgs
    """Readiness and liveness timing of every container."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels put on every object, next to app and component."""
    spread_min_zones: int | None = None
    """Spread each program over at least this many zones and over hosts (None: no constraint)."""
    hpa_cpu_utilization_percent: int = 70
    """Average CPU utilization the autoscalers aim for."""


@args_class
class SecretKeyRef:
    """One key of a Kubernetes Secret."""

    name: pulumi.Input[str]
    """The Secret's name (in the workloads' namespace)."""
    key: str
    """The key within it."""


@args_class
class SecretStoreArgs:
    """Settings a service reads from an external secret store (Key Vault, Secret Manager) through a Secrets
    Store CSI driver: a SecretProviderClass `<service>-<name>`, mounted read-only at
    /var/run/secrets/store/<name>, one file per setting (components/kubernetes/secret_delivery.py)."""

    name: str
    """DNS label of at most 40 characters: the class's suffix, its volume (store-<name>) and directory."""
    provider: str
    """The driver's provider: azure (AKS's Key Vault provider), gke (GKE's Secret Manager add-on), ..."""
    parameters: dict[str, pulumi.Input[str]]
    """The provider's parameters (the class's spec.parameters): which secrets, as which files, read as whom."""
    files: dict[str, str]
    """Environment variable -> the file the provider writes its value to."""
    driver: str = "secrets-store.csi.k8s.io"
    """The CSI driver (GKE's add-on: secrets-store-gke.csi.k8s.io)."""
    sync_secret: bool = False
    """The driver also keeps a Kubernetes Secret `<service>-<name>` in step with the files (the class's
    secretObjects) and the container reads each setting from it (secretKeyRef); False (the driver cannot):
    `<KEY>_FILE` names the file instead."""
    revision: pulumi.Input[str] | None = None
    """Changes when a stored value does (the versions the parameters pin): a pod annotation, so the pods roll
    and read the new value. None: the parameters name the latest versions."""


@args_class
class ServiceIdentityArgs:
    """The service's own Kubernetes ServiceAccount (named after the service, no token mounted): what a cloud
    identity trusts through workload identity, so that only this service reads its secrets."""

    annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Annotations of the ServiceAccount (AKS: azure.workload.identity/client-id)."""


@args_class
class ServiceArgs:
    """One backend service (users-api, ...) as the workloads run it."""

    name: str
    """DNS label: the Deployment, Service and `app` label, and the service's DNS name."""
    image: str
    """Image reference with a pinned tag or digest."""
    port: int
    """The container's port."""
    path_prefix: str
    """Requests under this path go to this service (the gateway's route)."""
    health_check_path: str
    """Path the service answers on its own port for its probes."""
    instances: InstanceRange
    """The autoscaler's bounds."""
    cpu_millicores: int
    """CPU request (no CPU limit: throttling hurts tail latency)."""
    memory_mib: int
    """Memory request and limit."""
    environment: dict[str, str] = field(default_factory=dict)
    """Environment variables of the container (plain settings only)."""
    secrets: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variables whose values stay secret: kept in a Secret of this service (immutable, so a
    change makes a new Secret and rolls the pods), read by the container through secretKeyRef."""
    secret_refs: dict[str, SecretKeyRef] = field(default_factory=dict)
    """Environment variables read from keys of Secrets that already exist in the namespace."""
    store_secrets: list[SecretStoreArgs] = field(default_factory=list)
    """Environment variables read from external secret stores through a CSI driver."""
    identity: ServiceIdentityArgs | None = None
    """The service's own ServiceAccount (workload identity); None: the namespace's default one."""


@args_class
class GatewayArgs:
    """The API gateway fleet: nginx with the generated config."""

    image: str
    """An nginx image that runs as uid 101 (e.g. nginxinc/nginx-unprivileged)."""
    port: int
    """Port nginx listens on."""
    instances: InstanceRange
    """The autoscaler's bounds."""
    cpu_millicores: int
    """CPU request (no CPU limit: throttling hurts tail latency)."""
    memory_mib: int
    """Memory request and limit."""
    health_check_path: str = HealthCheck.path
    """The location every gateway instance answers itself; probes and the load balancer use it."""
    limits: GatewayLimits = field(default_factory=GatewayLimits)
    """Per-client request rate, burst, body size and connections; over them a JSON 429 or 413."""


@args_class
class PeerArgs:
    """Who a NetworkPolicy admits: pods in a namespace (optionally with labels), or address ranges
    for what does not run in the pod network (NodeLocal DNSCache, a host-network controller)."""

    namespace: str | None = None
    """Pods of this namespace (matched by its kubernetes.io/metadata.name label)."""
    pod_labels: dict[str, str] = field(default_factory=dict)
    """...and only the pods with these labels (empty: every pod of the namespace)."""
    cidrs: list[str] = field(default_factory=list)
    """Address ranges instead of pods; when set, namespace and pod_labels are not used."""


DEFAULT_DNS = PeerArgs(namespace="kube-system", pod_labels={"k8s-app": "kube-dns"})
"""CoreDNS (and kube-dns) as every common distribution runs it."""


@args_class
class IngressArgs:
    """exposure `ingress`: an Ingress in front of the gateway Service."""

    ingress_class: str = "nginx"
    """The IngressClass that serves it."""
    host: str | None = None
    """Host name of the rule; required with TLS so the certificate matches."""
    tls_secret: str | None = None
    """A TLS Secret in the namespace; TLS terminates at the Ingress controller."""
    https_redirect: bool = False
    """Redirect HTTP to HTTPS (ingress-nginx annotations)."""
    controller_namespace: str = "ingress-nginx"
    """Where the controller runs: NetworkPolicies admit the gateway's traffic from it."""
    controller: PeerArgs | None = None
    """Who the NetworkPolicy admits as the controller, when not simply every pod of
    controller_namespace (e.g. its pod labels, or node CIDRs for a host-network controller)."""


@args_class
class ExposureArgs:
    """How clients reach the gateway fleet."""

    kind: str = "load_balancer"
    """load_balancer (a Service of type LoadBalancer), ingress, or external: a load balancer outside
    the cluster targets the gateway Service (Application Gateway through an internal load balancer
    IP, a GCP load balancer through a standalone NEG)."""
    service_type: str | None = None
    """external only: the gateway Service's type (LoadBalancer for an internal load balancer,
    ClusterIP for a NEG, NodePort). Default ClusterIP."""
    service_annotations: dict[str, str] = field(default_factory=dict)
    """Annotations of the gateway Service (e.g. an internal load balancer or a NEG)."""
    external_traffic_policy: str | None = None
    """external with service_type LoadBalancer or NodePort: Local keeps the client's address (the
    NetworkPolicy then sees the outside balancer's, not a node's) and sends traffic only to nodes
    running a gateway pod; None: Kubernetes' default (Cluster)."""
    source_cidrs: list[str] = field(default_factory=list)
    """With network policies: the address ranges that may reach the gateway port (load_balancer
    and external). Empty with load_balancer: anywhere (the cloud balancer's addresses are not
    known in advance). Ignored with ingress, which admits the controller's namespace."""
    ingress: IngressArgs | None = None
    """Required with kind ingress."""


@args_class
class MonitoringArgs:
    """Prometheus alerts for the workloads, and optionally kube-prometheus-stack itself."""

    install_stack: bool = True
    """Install kube-prometheus-stack (false: the cluster already runs one)."""
    namespace: str = "monitoring"
    """Namespace of the kube-prometheus-stack release: one per stack, so stacks can share a cluster."""
    release: str = "kube-prometheus-stack"
    """Helm release name, also the chart's fullnameOverride (at most 26 characters, as the chart
    truncates it): the cluster-wide objects it names (ClusterRoles, webhooks) stay apart per stack."""
    node_exporter: bool = True
    """Run the node exporter (a DaemonSet on each node's port 9100): one release per cluster may."""
    single_instance_severity: str = "info"
    """Severity of the alert when a program runs on fewer than 2 instances (prod: critical)."""
    backend: str = "kube-prometheus-stack"
    """Who scrapes: kube-prometheus-stack in the cluster (PodMonitor, PrometheusRule, a Grafana dashboard) or
    gke-managed-prometheus (GKE's PodMonitoring and Rules)."""
    error_ratio: float = 0.05
    """Alert when more than this share of a service's requests fail (5xx), per instance, over 5 minutes."""
    latency_p99_s: float = 1.0
    """Alert when an instance's 99th percentile response time exceeds this."""
    mesh: str = "none"
    """Where per-instance request metrics come from: the gateway's exporter, or the mesh (Workloads fills it in)."""
    watched_namespace: str = ""
    """Namespace of the workloads the alerts watch (Workloads fills it in)."""
    apps: list[str] = field(default_factory=list)
    """Deployments the alerts watch (Workloads fills them in: the gateway and every service)."""
    part_of: str = "apigw"
    """The app label of the alert rule (Workloads fills it in)."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the alert rule (Workloads fills them in)."""


@args_class
class MeshArgs:
    """The service mesh's control plane, installed with pinned Helm charts (components/kubernetes/mesh.py)."""

    kind: str
    """istio (base, istiod and the Istio CNI) or linkerd (CRDs, the Linkerd CNI and the control plane)."""
    install: bool = True
    """Install the control plane (false: the cluster already runs it, e.g. AKS's managed Istio add-on)."""
    platform: str = ""
    """gke: the CNI's binaries live in /home/kubernetes/bin there (and Istio's GKE profile); "" elsewhere."""
    istio_revision: str | None = None
    """A revision-based Istio (AKS's add-on: asm-1-26, ...): namespaces get istio.io/rev instead of istio-injection."""
    trust_anchor_validity_hours: int = 87600
    """linkerd: the self-signed trust anchor's lifetime (10 years); replacing it rotates it (see the docs)."""
    issuer_validity_hours: int = 8760
    """linkerd: the issuer certificate's lifetime (1 year), signed by the trust anchor."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the mesh's own objects (Workloads fills them in)."""


@args_class
class BackendServiceArgs:
    """A backend service's Deployment, ClusterIP Service, HPA and PDB."""

    service: ServiceArgs
    """The service itself."""
    pods: PodSettings
    """What its pods share with the other programs."""
    endpoints_service: bool = True
    """Also a headless Service `<name>-endpoints`, whose DNS name resolves to every ready pod: the
    gateway balances and retries over the pods themselves (without a mesh)."""


@args_class
class GatewayFleetArgs:
    """The gateway fleet: nginx ConfigMap, Deployment, HPA, PDB, its Service and (ingress) Ingress."""

    gateway: GatewayArgs
    """The gateway fleet itself."""
    pods: PodSettings
    """What its pods share with the other programs."""
    routes: dict[str, str]
    """Service name -> path prefix: the gateway's routes."""
    upstreams: dict[str, str]
    """Service name -> "host:port" the gateway proxies to (the service's ClusterIP Service)."""
    algorithm: str = "round_robin"
    """Balancing over each upstream's servers (nginx): round_robin, least_connections, random or
    source_ip_hash; others are left to a mesh."""
    exposure: ExposureArgs = field(default_factory=ExposureArgs)
    """How clients reach the fleet: the Service's type and annotations, and an optional Ingress."""
    resolver: str | None = None
    """A DNS server: the upstreams are then looked up while nginx runs, and nginx balances and
    retries over every address (headless Services); None: resolved once at start (ClusterIPs)."""
    mesh: bool = False
    """A service mesh balances and retries: nginx calls each service's ClusterIP Service by name and
    does not retry itself."""
    metrics_exporter: bool = False
    """A sidecar in each gateway pod that turns its access log into per-instance metrics (port `metrics`)."""


@args_class
class NetworkPoliciesArgs:
    """Default deny, then exactly the paths the topology uses: clients -> gateway -> services, DNS."""

    namespace: str
    """Namespace of the workloads the policies cover."""
    gateway_port: int
    """The gateway's container port, the only one opened to clients."""
    service_ports: dict[str, int]
    """Service name -> its container port."""
    exposure: ExposureArgs = field(default_factory=ExposureArgs)
    """Where clients come from (an ingress controller's namespace or address ranges)."""
    dns: PeerArgs = field(default_factory=lambda: DEFAULT_DNS)
    """The cluster DNS every pod may query on port 53."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels put on every policy."""
    mesh: str = "none"
    """istio or linkerd: also admit the sidecars' traffic to the control plane (and Linkerd's proxy port)."""
    metrics_scraper: PeerArgs | None = None
    """Who scrapes the pods' metrics ports (the gateway's exporter, the mesh's proxies); None: nobody."""


@args_class
class WorkloadsArgs:
    """The gateway fleet and backend services on one cluster, hardened and autoscaled."""

    namespace: str
    """Namespace created for the workloads (restricted Pod Security)."""
    gateway: GatewayArgs
    """The gateway fleet."""
    services: list[ServiceArgs]
    """The backend services, each routed by its path prefix."""
    probe: ProbeArgs
    """Health-check timing shared by every program's probes."""
    algorithm: str = "round_robin"
    """How requests spread over a service's instances: round_robin without a mesh; with istio
    also least_connections, random or source_ip_hash; ewma with linkerd."""
    exposure: ExposureArgs = field(default_factory=ExposureArgs)
    """How clients reach the gateway fleet."""
    mesh: str = "none"
    """none, istio or linkerd: injection on the namespace, and each service's routing in the mesh
    (balancing, timeouts, bounded retries); the gateway then calls the services through the mesh."""
    mesh_control_plane: MeshArgs | None = None
    """How the mesh itself is installed; None with a mesh: installed with the defaults of MeshArgs."""
    network_policies: bool = True
    """Default-deny NetworkPolicies that open only the paths the topology uses."""
    dns: PeerArgs = field(default_factory=lambda: DEFAULT_DNS)
    """The cluster DNS the NetworkPolicies let every pod query (default: CoreDNS in kube-system)."""
    dns_service: str = "kube-dns.kube-system.svc.cluster.local"
    """The cluster DNS Service the gateway resolves its upstreams with (without a mesh); CoreDNS
    keeps the kube-dns name on common distributions. An address works too (169.254.20.10)."""
    spread_min_zones: int | None = None
    """Spread each program over at least this many zones and over hosts (None: no constraint)."""
    hpa_cpu_utilization_percent: int = 70
    """Average CPU utilization the autoscalers aim for."""
    part_of: str = "apigw"
    """The app.kubernetes.io/part-of label of every object, and the app label of shared ones
    (namespace, alerts)."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels put on every object, next to app, component and part-of."""
    monitoring: MonitoringArgs | None = None
    """Alerts (and kube-prometheus-stack); None: no monitoring objects."""
