"""Typed inputs of the GCP components.

Each class holds only what its component needs; `platform.build` is the one place that maps a
stack spec to them, and a program of your own can fill them in by hand. Fields another resource
produces are `pulumi.Input[...]`. Frozen dataclasses (`@args_class`) with real annotations (no
`from __future__ import annotations`), as the Kubernetes, AWS and Azure Args.
"""
from dataclasses import field

import pulumi

from ..argsclass import args_class
from ..gateway.nginx import BALANCER_TIMEOUT_S, PROXY_READ_TIMEOUT_S
from ..spec import HealthCheck


@args_class
class NetworkArgs:
    """A VPC-native network: a subnet with secondary ranges, Cloud NAT for private nodes, and the
    firewall rule that admits Google's health checks and proxies to the gateway pods."""

    project: str
    """The GCP project."""
    region: str
    """The subnet's region."""
    gateway_port: int
    """The gateway pods' port: the NEG endpoints Google's proxies and health checks reach."""
    node_tag: str
    """The network tag of the nodes (ClusterArgs.node_tag): the firewall rule targets them only."""
    subnet_cidr: str = "10.10.0.0/20"
    """The nodes' range."""
    pods_cidr: str = "10.20.0.0/14"
    """The pods' secondary range."""
    services_cidr: str = "10.24.0.0/20"
    """The Services' secondary range."""
    network: str | None = None
    """An existing network (Shared VPC): no network, subnet, router or NAT is created, only the firewall rule."""
    subnetwork: str | None = None
    """The existing subnetwork, with the network."""


@args_class
class NodePoolArgs:
    """The workloads' node pool, autoscaled per zone."""

    machine_type: str
    """The Compute Engine machine type."""
    min_per_zone: int
    """The autoscaler's minimum per zone (prod: at least one node in every zone)."""
    max_per_zone: int
    """The autoscaler's maximum per zone."""


@args_class
class ClusterArgs:
    """A GKE cluster with one separately managed node pool: private, shielded nodes with a dedicated service
    account, workload identity, Dataplane V2 and managed Prometheus."""

    project: str
    """The GCP project."""
    name: str
    """The cluster's name."""
    location: str
    """A region (regional cluster) or a zone (zonal)."""
    node_locations: pulumi.Input[list]
    """The zones of the nodes (a zonal cluster: its one zone)."""
    network: pulumi.Input[str]
    """The VPC network."""
    subnetwork: pulumi.Input[str]
    """The subnet with the secondary ranges."""
    pods_range_name: str
    """The subnet's secondary range for pods."""
    services_range_name: str
    """The subnet's secondary range for Services."""
    node_pool: NodePoolArgs
    """The workloads' node pool."""
    node_tag: str
    """The nodes' network tag (NetworkArgs.node_tag: the firewall rule for the load balancer)."""
    regional: bool = True
    """Whether `location` is a region; a zonal cluster's own zone is not repeated in its node locations."""
    release_channel: str = "REGULAR"
    """RAPID, REGULAR or STABLE: GKE upgrades the cluster along it."""
    deletion_protection: bool = False
    """GKE refuses to delete the cluster while this is on."""
    master_authorized_cidrs: list[str] = field(default_factory=list)
    """Who may reach the control plane's public endpoint; empty: anywhere."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the cluster and its nodes."""
    secret_manager: bool = False
    """GKE's Secret Manager add-on (the services' secret settings, mounted as files through its CSI driver)."""


@args_class
class ServiceSecretsArgs:
    """One service's secret settings: what its own Kubernetes ServiceAccount, and only it, may read."""

    service: str
    """The service; its Kubernetes ServiceAccount has its name."""
    values: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variable -> a value the stack keeps in Secret Manager (a Pulumi secret)."""
    refs: dict[str, str] = field(default_factory=dict)
    """Environment variable -> an existing secret: projects/<project>/secrets/<name>[/versions/<version>]."""


@args_class
class SecretManagerSecretsArgs:
    """The services' secret settings in Secret Manager, each service reading its own through workload identity."""

    project: str
    """The project of the cluster, its workload identity pool (<project>.svc.id.goog) and the stack's secrets."""
    project_number: pulumi.Input[str]
    """That project's number (workload identity principals name the pool by it)."""
    secret_prefix: str
    """The stack's secrets are <secret_prefix>-<service>-<KEY> (apart per stack in a shared project)."""
    namespace: str
    """The workloads' namespace (each principal names its ServiceAccount there)."""
    services: list[ServiceSecretsArgs]
    """The services with secret settings."""


@args_class
class HealthCheckArgs:
    """The load balancer's health check of the gateway pods (the NEG endpoints)."""

    path: str = HealthCheck.path
    """The gateway's own health path."""
    interval_s: int = HealthCheck.interval_s
    """Seconds between checks, 1-300."""
    timeout_s: int = HealthCheck.timeout_s
    """Seconds before a check fails; at most interval_s."""
    healthy_threshold: int = HealthCheck.healthy_threshold
    """Consecutive successes before an endpoint receives traffic, 1-10."""
    unhealthy_threshold: int = HealthCheck.unhealthy_threshold
    """Consecutive failures before it stops, 1-10."""


@args_class
class CloudArmorArgs:
    """A Cloud Armor policy: preconfigured WAF rules and a rate-based ban per client address."""

    rate_limit_per_minute: int = 6000
    """Requests per client address per minute before the ban."""
    ban_duration_s: int = 600
    """How long a client stays banned."""


@args_class
class LoadBalancerArgs:
    """A global external Application Load Balancer (EXTERNAL_MANAGED) over the gateway's standalone NEGs."""

    project: str
    """The GCP project."""
    name: str
    """Prefix of the resources' names."""
    neg_name: str
    """The NEG GKE creates in each zone from the gateway Service's annotation."""
    zones: pulumi.Input[list]
    """The zones of the NEGs (the cluster's node zones)."""
    health_check: HealthCheckArgs = field(default_factory=HealthCheckArgs)
    """How the gateway pods are checked."""
    locality_lb_policy: str = "ROUND_ROBIN"
    """ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH or MAGLEV (the last two hash the client address)."""
    max_rate_per_endpoint: int = 500
    """Requests per second per gateway pod the load balancer plans with."""
    domain: str | None = None
    """A Google-managed certificate's domain: HTTPS, and HTTP redirected; None: plain HTTP (dev)."""
    ssl_profile: str = "MODERN"
    """The TLS policy's profile (TLS 1.2 at least)."""
    cloud_armor: CloudArmorArgs | None = None
    """A Cloud Armor policy on the backend service; None: none."""
    timeout_s: int = BALANCER_TIMEOUT_S
    """How long the load balancer waits for the gateway's answer: longer than the gateway waits for a service."""
    draining_s: int = PROXY_READ_TIMEOUT_S
    """Connection draining when an endpoint leaves: the gateway's longest request."""
    log_sample_rate: float = 1.0
    """Share of requests logged."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the address and the forwarding rules."""


@args_class
class AlertsArgs:
    """Cloud Monitoring alert policies on the load balancer, and an uptime check on its URL."""

    project: str
    """The GCP project."""
    name: str
    """Prefix of the policies' names."""
    url_map_name: pulumi.Input[str]
    """The load balancer's URL map: the metrics' resource."""
    host: pulumi.Input[str]
    """The host the uptime check requests (the domain, or the address)."""
    health_check_path: str = HealthCheck.path
    """The path the uptime check requests."""
    https: bool = True
    """Whether the uptime check uses HTTPS."""
    notification_channels: list[str] = field(default_factory=list)
    """Where alerts go."""
    error_percent: int = 5
    """Alert when this share of requests gets a 5xx, over 5 minutes."""
    latency_ms: int = 1000
    """Alert when the 99th percentile of backend latency exceeds this."""

