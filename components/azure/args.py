"""Typed inputs of the Azure components.

Each class holds only what its component needs; `platform.build` is the one place that maps a
stack spec to them, and a program of your own can fill them in by hand. Fields another resource
produces are `pulumi.Input[str]`. Frozen dataclasses (`@args_class`) with real annotations (no
`from __future__ import annotations`), as the Kubernetes and AWS Args.
"""
from dataclasses import field

import pulumi

from ..argsclass import args_class
from ..spec import HealthCheck
from .options import REQUEST_TIMEOUT_S, SSL_POLICIES


@args_class
class Placement:
    """Where a component's resources go, and the tags they carry (azure-native has no default tags)."""

    resource_group_name: pulumi.Input[str]
    """The resource group of every resource."""
    location: str
    """The Azure region, e.g. westeurope."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags put on every resource."""


@args_class
class NetworkArgs:
    """A virtual network with a dedicated subnet for the Application Gateway and one for AKS."""

    placement: Placement
    """Resource group, region and tags."""
    vnet_cidr: str
    """The virtual network's range."""
    application_gateway_subnet_cidr: str
    """The Application Gateway's own subnet (v2 needs a dedicated one, /24 recommended)."""
    aks_subnet_cidr: str
    """The nodes' subnet (Azure CNI overlay: pods get addresses outside the virtual network)."""
    client_ports: list[int] = field(default_factory=lambda: [80])
    """Ports the internet may reach on the Application Gateway (80, and 443 with TLS)."""


@args_class
class NodePoolArgs:
    """One AKS node pool, autoscaled."""

    vm_size: str
    """The VM size, e.g. Standard_D4ds_v5."""
    min: int
    """The autoscaler's minimum node count; also the initial count."""
    max: int
    """The autoscaler's maximum node count."""
    zones: list[str] = field(default_factory=list)
    """Availability zones ("1", "2", "3") the pool spreads over; empty: no zones."""


@args_class
class ClusterArgs:
    """An AKS cluster: Standard tier, Entra ID with Azure RBAC only, Azure CNI overlay with Cilium."""

    placement: Placement
    """Resource group, region and tags."""
    name: str
    """The cluster's name (also its DNS prefix)."""
    kubernetes_version: str
    """The Kubernetes version ("1.33": AKS picks the latest patch, and upgrades patches itself)."""
    subnet_id: pulumi.Input[str]
    """The nodes' subnet; the cluster's identity gets Network Contributor on it (internal load balancers)."""
    system_pool: NodePoolArgs
    """The system pool (tainted CriticalAddonsOnly: only system pods run there)."""
    user_pool: NodePoolArgs
    """The workloads' pool."""
    tenant_id: pulumi.Input[str]
    """The Entra ID tenant of the cluster's users."""
    admin_principal_id: pulumi.Input[str]
    """The identity that deploys (it gets Azure Kubernetes Service RBAC Cluster Admin on the cluster)."""
    admin_principal_type: str = "User"
    """User or ServicePrincipal: what admin_principal_id is (Azure checks it on the role assignment)."""
    admin_group_ids: list[str] = field(default_factory=list)
    """Entra ID groups that administer the cluster."""
    pod_cidr: str = "10.244.0.0/16"
    """The overlay network of the pods."""
    service_cidr: str = "10.0.0.0/16"
    """Addresses of ClusterIP Services."""
    dns_service_ip: str = "10.0.0.10"
    """The cluster DNS Service's address, inside service_cidr."""
    log_analytics_workspace_id: pulumi.Input[str] | None = None
    """Container Insights sends logs there; None: no Container Insights."""
    managed_prometheus: bool = False
    """Azure Monitor managed Prometheus metrics."""
    istio_revision: str | None = None
    """AKS's managed Istio add-on at this revision (asm-1-26, ...); None: no add-on."""
    kubelogin_mode: str = "azurecli"
    """How the Kubernetes provider's kubelogin gets a token: azurecli, workloadidentity or devicecode."""
    key_vault_secrets_provider: bool = False
    """AKS's Key Vault provider for the Secrets Store CSI driver (the services' secret settings), rotating
    what it mounts every 2 minutes."""


@args_class
class ServiceSecretsArgs:
    """One service's secret settings: what its own identity, and only it, may read."""

    service: str
    """The service; its Kubernetes ServiceAccount has its name."""
    values: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variable -> a value the stack keeps in its own vault (a Pulumi secret)."""
    refs: dict[str, str] = field(default_factory=dict)
    """Environment variable -> the resource id of an existing Key Vault secret (a vault with Azure RBAC)."""


@args_class
class KeyVaultSecretsArgs:
    """The services' secret settings in Key Vault, each service reading its own through workload identity."""

    placement: Placement
    """Resource group, region and tags."""
    tenant_id: pulumi.Input[str]
    """The Entra ID tenant of the vaults and identities."""
    subscription_id: pulumi.Input[str]
    """The subscription of the role definitions."""
    oidc_issuer_url: pulumi.Input[str]
    """The AKS cluster's OIDC issuer, which each identity's federated credential trusts."""
    namespace: str
    """The workloads' namespace (each federated credential names its ServiceAccount there)."""
    services: list[ServiceSecretsArgs]
    """The services with secret settings."""
    purge_protection: bool = False
    """Purge protection on the stack's vault (irreversible: a deleted vault stays 90 days)."""


@args_class
class ProbeArgs:
    """The Application Gateway's health probe of the gateway fleet."""

    path: str = HealthCheck.path
    """The gateway's own health path."""
    interval_s: int = HealthCheck.interval_s
    """Seconds between probes, 1-86400."""
    timeout_s: int = HealthCheck.timeout_s
    """Seconds before a probe counts as failed, 1-86400."""
    unhealthy_threshold: int = HealthCheck.unhealthy_threshold
    """Consecutive failures before the backend leaves the rotation, 1-20."""
    status_codes: list[str] = field(default_factory=lambda: ["200"])
    """Healthy answers: codes or ranges from 200 to 399 ("200", "200-299")."""


@args_class
class TlsArgs:
    """HTTPS on the Application Gateway with a certificate from Key Vault."""

    key_vault_secret_id: str
    """The certificate's secret id, versionless (renewals roll out by themselves)."""
    key_vault_id: str
    """The vault's resource id: the gateway's identity is granted Key Vault Secrets User there."""
    http_to_https_redirect: bool = True
    """Port 80 redirects to HTTPS (false: it serves the same routes in plain HTTP)."""


@args_class
class WafArgs:
    """A WAF policy: Microsoft's Default Rule Set and a per-client rate limit."""

    mode: str = "Prevention"
    """Prevention (block) or Detection (log only)."""
    rate_limit_per_minute: int = 6000
    """Requests per client address per minute before the WAF blocks it."""
    max_body_mib: int = 10
    """The largest request body the gateway accepts: the WAF inspects up to 2 MB of it and passes
    larger bodies on (above 2 MB it does not enforce its limit, so the gateway answers 413 itself)."""


@args_class
class ApplicationGatewayArgs:
    """Application Gateway v2 in front of one private address (the gateway's internal load balancer)."""

    placement: Placement
    """Resource group, region and tags."""
    name: str
    """The Application Gateway's name: its sub-resources' ids are built from it."""
    subscription_id: pulumi.Input[str]
    """The subscription, for the sub-resource ids."""
    subnet_id: pulumi.Input[str]
    """Its dedicated subnet."""
    backend_ip: str
    """The private address it forwards to (the gateway Service's internal load balancer)."""
    backend_port: int = 80
    """The port at backend_ip."""
    probe: ProbeArgs = field(default_factory=ProbeArgs)
    """How it checks the gateway fleet."""
    min_capacity: int = 1
    """Autoscaling minimum, 0-125 instances."""
    max_capacity: int = 2
    """Autoscaling maximum, 2-125 instances."""
    zones: list[str] = field(default_factory=list)
    """Availability zones of the gateway and its public IP."""
    request_timeout_s: int = REQUEST_TIMEOUT_S
    """How long it waits for the gateway's answer: longer than the gateway waits for a service."""
    drain_timeout_s: int = 30
    """Connection draining when a backend leaves the pool, 1-3600 s."""
    ssl_policy: str = SSL_POLICIES[0]
    """A predefined TLS 1.2+ policy."""
    tls: TlsArgs | None = None
    """HTTPS; None: plain HTTP on port 80 only (dev)."""
    waf: WafArgs | None = None
    """A WAF policy (WAF_v2 SKU); None: Standard_v2 without one."""
    dns_label: str | None = None
    """The public IP's DNS label (Azure adds a hash of the tenant, so it is unique)."""
    lock: bool = False
    """CanNotDelete locks on the gateway and its public IP."""


@args_class
class LogAnalyticsArgs:
    """A Log Analytics workspace and workspace-based Application Insights."""

    placement: Placement
    """Resource group, region and tags."""
    retention_days: int = 30
    """How long logs are kept, 30-730 days."""


@args_class
class TelemetryArgs:
    """What the cluster's Container Insights and managed Prometheus agents deliver to, and the rules."""

    placement: Placement
    """Resource group, region and tags."""
    cluster_id: pulumi.Input[str]
    """The AKS cluster the rules are associated with."""
    workspace_id: pulumi.Input[str]
    """The Log Analytics workspace Container Insights writes to."""


@args_class
class AlertsArgs:
    """Diagnostics of the Application Gateway to Log Analytics, and metric alerts on it."""

    placement: Placement
    """Resource group, region and tags."""
    application_gateway_id: pulumi.Input[str]
    """The Application Gateway watched."""
    workspace_id: pulumi.Input[str]
    """The Log Analytics workspace its logs and metrics go to."""
    action_group_id: str | None = None
    """Where alerts go; None: alerts fire in the portal only."""
    failed_requests: int = 50
    """Alert above this many failed requests in 5 minutes."""
    response_time_ms: int = 1000
    """Alert when the average backend last-byte response time exceeds this."""
