"""The `<project>:azure` block, and the Azure-specific rules for the neutral spec.

Pure Python (no Pulumi import): a bad value is reported with every other problem, with its key
path, the value found and what Azure allows, before any resource is registered. Ranges come from
the provider's and Azure's documentation (cited per rule).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from ..gateway.nginx import BALANCER_TIMEOUT_S, PROXY_READ_TIMEOUT_S
from ..spec import Instances as NodeRange  # a {min, max} count, as instances are
from ..validation import Problems

ZONES = ("1", "2", "3")
KUBELOGIN_MODES = ("azurecli", "workloadidentity", "devicecode")
"""How the kubeconfig's kubelogin gets a token: the Azure CLI's login (a workstation, or CI after
azure/login), GitHub's OIDC token (workload identity federation), or an interactive device code."""
SSL_POLICIES = ("AppGwSslPolicy20220101S", "AppGwSslPolicy20220101")
"""Application Gateway's predefined TLS 1.2+ policies (20220101S: the stricter cipher list)."""
WAF_MODES = ("Prevention", "Detection")
PRINCIPAL_TYPES = ("User", "ServicePrincipal")
ISTIO_INSTALLS = ("helm", "managed")
ISTIO_REVISION_RE = re.compile(r"^asm-1-\d{1,2}$")
LOG_RETENTION = (30, 730)
"""Log Analytics workspace retention in days (PerGB2018)."""

REQUEST_TIMEOUT_S = BALANCER_TIMEOUT_S
"""How long Application Gateway waits for the gateway's answer (components/gateway/nginx.py)."""

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_RG = r"[-\w._()]{1,90}"
GUID_RE = re.compile(rf"^{_GUID}$")
REGION_RE = re.compile(r"^[a-z][a-z0-9]{2,30}$")
SUBNET_ID_RE = re.compile(rf"^/subscriptions/{_GUID}/resourceGroups/{_RG}/providers/Microsoft\.Network/"
                          r"virtualNetworks/[-\w.]{2,64}/subnets/(?P<name>[-\w.]{1,80})$", re.IGNORECASE)
KEY_VAULT_ID_RE = re.compile(rf"^/subscriptions/{_GUID}/resourceGroups/{_RG}/providers/Microsoft\.KeyVault/"
                             r"vaults/(?P<name>[a-zA-Z][-a-zA-Z0-9]{1,22}[a-zA-Z0-9])$", re.IGNORECASE)
SECRET_ID_RE = re.compile(r"^https://(?P<vault>[a-zA-Z][-a-zA-Z0-9]{1,22}[a-zA-Z0-9])\.vault\.azure\.net/"
                          r"secrets/(?P<name>[-a-zA-Z0-9]{1,127})(/[0-9a-f]{32})?/?$")
ACTION_GROUP_ID_RE = re.compile(rf"^/subscriptions/{_GUID}/resourceGroups/{_RG}/providers/microsoft\.insights/"
                                r"actionGroups/[-\w.]{1,260}$", re.IGNORECASE)
RESOURCE_GROUP_RE = re.compile(r"^[-\w._()]{0,89}[-\w_()]$")
VM_SIZE_RE = re.compile(r"^Standard_[A-Za-z0-9_]+$")
K8S_VERSION_RE = re.compile(r"^1\.\d{2}(\.\d{1,2})?$")
TAG_NAME_FORBIDDEN = ("<", ">", "%", "&", "\\", "?", "/")
DNS_LABEL_RE = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")

KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
"""Built-in role definition ids (the same in every Azure cloud)."""


@dataclass(frozen=True)
class PhaseDefaults:
    zones: tuple[str, ...]
    system_nodes: NodeRange
    user_nodes: NodeRange
    app_gateway_capacity: NodeRange
    waf: bool
    lock: bool
    log_retention_days: int


PHASE_DEFAULTS: dict[str, PhaseDefaults] = {
    # dev: the reference's one host: one node for the workloads, no zones, no WAF.
    "dev": PhaseDefaults((), NodeRange(1, 1), NodeRange(1, 3), NodeRange(1, 2), waf=False, lock=False,
                         log_retention_days=30),
    "staging": PhaseDefaults((), NodeRange(1, 2), NodeRange(2, 4), NodeRange(1, 3), waf=False, lock=False,
                             log_retention_days=30),
    # prod: every pool and the Application Gateway over zones 1-3, at least one node per zone.
    "prod": PhaseDefaults(ZONES, NodeRange(3, 5), NodeRange(3, 10), NodeRange(2, 10), waf=True, lock=True,
                          log_retention_days=90),
}


@dataclass(frozen=True)
class AzureNetwork:
    """The two subnets: created in a new virtual network, or handed out by a platform team."""

    vnet_cidr: str | None
    """The new virtual network's range; None when the subnets exist already."""
    application_gateway_subnet_cidr: str
    aks_subnet_cidr: str
    application_gateway_subnet_id: str | None = None
    aks_subnet_id: str | None = None

    @property
    def existing(self) -> bool:
        return self.aks_subnet_id is not None


@dataclass(frozen=True)
class AzureOptions:
    resource_group: str = ""
    """Resource group the stack creates; default <project>-<phase>."""
    network: AzureNetwork = field(default_factory=lambda: AzureNetwork("10.224.0.0/16", "10.224.0.0/24",
                                                                       "10.224.16.0/20"))
    gateway_private_ip: str = ""
    """The gateway Service's internal load balancer address in the AKS subnet; the Application
    Gateway's backend pool. Default: the subnet's last usable address."""
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.0.0.0/16"
    dns_service_ip: str = "10.0.0.10"
    kubernetes_version: str = "1.33"
    system_vm_size: str = "Standard_D2ds_v5"
    user_vm_size: str = "Standard_D4ds_v5"
    zones: tuple[str, ...] = ()
    system_nodes: NodeRange = NodeRange(1, 1)
    user_nodes: NodeRange = NodeRange(1, 3)
    app_gateway_capacity: NodeRange = NodeRange(1, 2)
    ssl_policy: str = SSL_POLICIES[0]
    waf: bool = False
    waf_mode: str = "Prevention"
    waf_rate_limit_per_minute: int = 6000
    key_vault_id: str | None = None
    """The Key Vault holding load_balancer.tls_certificate: its identity gets read access there."""
    dns_label: str = ""
    """The public IP's DNS label (default <project>-<phase>); Azure adds a tenant hash."""
    kubelogin_mode: str = "azurecli"
    deployer_principal_type: str = "User"
    """What runs `pulumi up`: User (a person's Azure CLI login) or ServicePrincipal (CI); its role
    assignment on the cluster says so, as Azure requires."""
    cluster_admin_group_ids: tuple[str, ...] = ()
    """Entra ID groups made cluster admins (next to the identity that runs `pulumi up`)."""
    lock: bool = False
    """CanNotDelete locks on the Application Gateway and its public IP."""
    istio: str = "helm"
    """With mesh istio: helm (the pinned charts, as on every target) or managed (AKS's Istio add-on)."""
    istio_revision: str = "asm-1-26"
    """The add-on's revision (istio: managed): a revision AKS offers in the region."""
    log_retention_days: int = 30
    drain_timeout_s: int = PROXY_READ_TIMEOUT_S
    """Application Gateway connection draining, 1-3600 s: at least the gateway's longest request."""
    alarm_failed_requests: int = 50
    """Alert when the Application Gateway fails more requests than this in 5 minutes."""
    alarm_response_time_ms: int = 1000
    """Alert when the gateway's average response time (last byte) exceeds this."""


def parse_azure_options(raw: dict, p: Problems, spec) -> AzureOptions:
    p.unknown_keys(raw, (*AzureOptions.__dataclass_fields__, *_NETWORK_KEYS), "azure")
    phase = PHASE_DEFAULTS.get(spec.phase, PHASE_DEFAULTS["dev"])
    network = _network(p, raw)
    rate_default = spec.gateway.limits.requests_per_second * 60 * 2 or 6000
    return AzureOptions(
        resource_group=_pattern(p, raw, "resource_group", f"{spec.project}-{spec.phase or 'dev'}", RESOURCE_GROUP_RE,
                                "a resource group name: 1-90 letters, digits, '-', '_', '.', '(' or ')', not "
                                "ending with '.'"),
        network=network,
        gateway_private_ip=_private_ip(p, raw, network),
        pod_cidr=_cidr(p, raw, "pod_cidr", "10.244.0.0/16"),
        service_cidr=_cidr(p, raw, "service_cidr", "10.0.0.0/16"),
        dns_service_ip=p.string(raw, "dns_service_ip", "azure.dns_service_ip", "10.0.0.10") or "10.0.0.10",
        kubernetes_version=_pattern(p, raw, "kubernetes_version", "1.33", K8S_VERSION_RE,
                                    'a Kubernetes version AKS offers, "1.33" or "1.33.2" (quoted)'),
        system_vm_size=_pattern(p, raw, "system_vm_size", "Standard_D2ds_v5", VM_SIZE_RE, "an Azure VM size "
                                "such as Standard_D2ds_v5"),
        user_vm_size=_pattern(p, raw, "user_vm_size", "Standard_D4ds_v5", VM_SIZE_RE, "an Azure VM size "
                              "such as Standard_D4ds_v5"),
        zones=_zones(p, raw, phase.zones),
        system_nodes=_range(p, raw, "system_nodes", phase.system_nodes, 1, 1000),
        user_nodes=_range(p, raw, "user_nodes", phase.user_nodes, 1, 1000),
        # Application Gateway v2 autoscaling: minimum 0-125, maximum 2-125 instances.
        app_gateway_capacity=_range(p, raw, "app_gateway_capacity", phase.app_gateway_capacity, 0, 125, lo_max=2),
        ssl_policy=p.choice(raw, "ssl_policy", "azure.ssl_policy", SSL_POLICIES[0], SSL_POLICIES) or SSL_POLICIES[0],
        waf=p.boolean(raw, "waf", "azure.waf", phase.waf),
        waf_mode=p.choice(raw, "waf_mode", "azure.waf_mode", "Prevention", WAF_MODES) or "Prevention",
        waf_rate_limit_per_minute=p.integer(raw, "waf_rate_limit_per_minute", "azure.waf_rate_limit_per_minute",
                                            rate_default, 10, 10_000_000) or rate_default,
        key_vault_id=_pattern(p, raw, "key_vault_id", None, KEY_VAULT_ID_RE, "a Key Vault resource id: /subscriptions/"
                              "<id>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<name>"),
        dns_label=_pattern(p, raw, "dns_label", f"{spec.project}-{spec.phase or 'dev'}", DNS_LABEL_RE,
                           "a DNS label: 3-63 lowercase letters, digits and '-', starting with a letter"),
        kubelogin_mode=p.choice(raw, "kubelogin_mode", "azure.kubelogin_mode", "azurecli", KUBELOGIN_MODES)
        or "azurecli",
        deployer_principal_type=p.choice(raw, "deployer_principal_type", "azure.deployer_principal_type", "User",
                                         PRINCIPAL_TYPES) or "User",
        cluster_admin_group_ids=_guids(p, raw, "cluster_admin_group_ids"),
        lock=p.boolean(raw, "lock", "azure.lock", phase.lock),
        istio=p.choice(raw, "istio", "azure.istio", "helm", ISTIO_INSTALLS) or "helm",
        istio_revision=_pattern(p, raw, "istio_revision", "asm-1-26", ISTIO_REVISION_RE,
                                "an AKS Istio add-on revision such as asm-1-26"),
        log_retention_days=p.integer(raw, "log_retention_days", "azure.log_retention_days", phase.log_retention_days,
                                     *LOG_RETENTION) or phase.log_retention_days,
        drain_timeout_s=p.integer(raw, "drain_timeout_s", "azure.drain_timeout_s", PROXY_READ_TIMEOUT_S,
                                  PROXY_READ_TIMEOUT_S, 3600) or PROXY_READ_TIMEOUT_S,
        alarm_failed_requests=p.integer(raw, "alarm_failed_requests", "azure.alarm_failed_requests", 50, 1,
                                        1_000_000) or 50,
        alarm_response_time_ms=p.integer(raw, "alarm_response_time_ms", "azure.alarm_response_time_ms", 1000, 10,
                                         300_000) or 1000,
    )


_NETWORK_KEYS = ("vnet_cidr", "application_gateway_subnet_cidr", "aks_subnet_cidr", "application_gateway_subnet_id",
                 "aks_subnet_id")


def _pattern(p: Problems, raw: dict, key: str, default, pattern: re.Pattern, allowed: str):
    return p.matching(raw, key, f"azure.{key}", default, pattern, allowed)


def _cidr(p: Problems, raw: dict, key: str, default: str) -> str:
    return p.private_network(raw, key, f"azure.{key}", default,
                             "a private IPv4 network in CIDR form, such as 10.224.0.0/16")


def _network(p: Problems, raw: dict) -> AzureNetwork:
    """New subnets (vnet_cidr and the two subnet ranges inside it) or existing ones (both ids, and
    their ranges: the NetworkPolicy admits the Application Gateway's, the gateway's address is in AKS's)."""
    given = [key for key in ("application_gateway_subnet_id", "aks_subnet_id") if key in raw]
    if given and len(given) != 2:
        missing = ({"application_gateway_subnet_id", "aks_subnet_id"} - set(given)).pop()
        p.add(f"azure.{missing}", None, "a subnet id too: existing subnets are given both or neither")
    existing = len(given) == 2
    if existing and "vnet_cidr" in raw:
        p.add("azure.vnet_cidr", raw["vnet_cidr"], "nothing with existing subnets (the stack creates no network)")
    ids = {key: _pattern(p, raw, key, None, SUBNET_ID_RE, "a subnet resource id: /subscriptions/<id>/resourceGroups/"
                         "<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>")
           for key in given}
    if existing:
        for key in ("application_gateway_subnet_cidr", "aks_subnet_cidr"):
            if key not in raw:
                p.add(f"azure.{key}", None, "the existing subnet's address range (the NetworkPolicy and the gateway's "
                                            "private IP are checked against it)")
    vnet = None if existing else _cidr(p, raw, "vnet_cidr", "10.224.0.0/16")
    appgw = _cidr(p, raw, "application_gateway_subnet_cidr", "10.224.0.0/24")
    aks = _cidr(p, raw, "aks_subnet_cidr", "10.224.16.0/20")
    appgw_net, aks_net = ipaddress.IPv4Network(appgw), ipaddress.IPv4Network(aks)
    if vnet is not None:
        for key, subnet in (("application_gateway_subnet_cidr", appgw_net), ("aks_subnet_cidr", aks_net)):
            if not subnet.subnet_of(ipaddress.IPv4Network(vnet)):
                p.add(f"azure.{key}", str(subnet), f"a range inside azure.vnet_cidr {vnet}")
    if appgw_net.overlaps(aks_net):
        p.add("azure.aks_subnet_cidr", aks, f"a range apart from the Application Gateway's subnet {appgw}")
    return AzureNetwork(vnet, appgw, aks, ids.get("application_gateway_subnet_id"), ids.get("aks_subnet_id"))


def _private_ip(p: Problems, raw: dict, network: AzureNetwork) -> str:
    subnet = ipaddress.IPv4Network(network.aks_subnet_cidr)
    # Azure reserves a subnet's first four addresses and its last one.
    usable = (subnet.network_address + 4, subnet.broadcast_address - 1)
    default = str(usable[1])
    value = p.string(raw, "gateway_private_ip", "azure.gateway_private_ip", default) or default
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        address = None
    if address is None or not usable[0] <= address <= usable[1]:
        p.add("azure.gateway_private_ip", value, f"an address of the AKS subnet {subnet} that Azure does not reserve: "
                                                 f"{usable[0]} to {usable[1]}")
        return default
    return value


def _zones(p: Problems, raw: dict, default: tuple[str, ...]) -> tuple[str, ...]:
    value = raw.get("zones", list(default))
    if not isinstance(value, list) or any(z not in ZONES for z in value) or len(set(value)) != len(value):
        p.add("azure.zones", value, p.text_wanted("azure.zones", value, 'distinct zones from "1", "2", "3" '
                                                  '(quoted), or [] for no zones'))
        return default
    return tuple(sorted(value))


def _range(p: Problems, raw: dict, key: str, default: NodeRange, lo: int, hi: int, lo_max: int = 1) -> NodeRange:
    return NodeRange(*p.bounds(raw, key, f"azure.{key}", (default.min, default.max), lo, hi, lo_max))


def _guids(p: Problems, raw: dict, key: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and GUID_RE.match(v) for v in value):
        p.add(f"azure.{key}", value, "a list of Entra ID object ids (GUIDs)")
        return ()
    return tuple(value)


def check_azure_spec(spec, p: Problems) -> None:
    """What the neutral spec allows but Azure does not (or this target cannot honour), and prod's
    safe settings."""
    options: AzureOptions = spec.options
    if not REGION_RE.match(spec.region):
        p.add("region", spec.region, "an Azure region name such as westeurope or eastus2")
    for key in spec.labels:
        if len(key) > 512 or any(c in key for c in TAG_NAME_FORBIDDEN):
            p.add(f"labels.{key}", key,
                  f"an Azure tag name: at most 512 characters, none of {' '.join(TAG_NAME_FORBIDDEN)}"
                  " (labels are also the Azure resources' tags)")
    # The spec's health-check ranges (interval 1-300 s, timeout 1-120 s, thresholds 1-10) lie inside
    # Application Gateway's probe ranges (1-86400 s, unhealthy threshold 1-20): nothing to add here.
    _check_certificate(p, spec, options)
    topic = spec.monitoring.alarm_topic
    if topic is not None and not ACTION_GROUP_ID_RE.match(topic):
        p.add("monitoring.alarm_topic", topic, "an action group resource id: /subscriptions/<id>/resourceGroups/"
                                               "<group>/providers/microsoft.insights/actionGroups/<name>")
    if topic is None and spec.phase == "prod" and spec.monitoring.enabled:
        p.add("monitoring.alarm_topic", None, "an action group resource id: prod alerts must reach someone")
    limits = spec.gateway.limits
    if (options.waf and limits.requests_per_second
            and options.waf_rate_limit_per_minute < limits.requests_per_second * 60):
        p.add("azure.waf_rate_limit_per_minute", options.waf_rate_limit_per_minute,
              f"at least {limits.requests_per_second * 60} (gateway.limits.requests_per_second "
              f"{limits.requests_per_second} a minute): the WAF would block clients the gateway admits, without "
              "the gateway's JSON 429")
    _check_cidrs(p, options)
    _check_gateway_subnet(p, options)
    if options.istio == "managed" and spec.mesh != "istio":
        p.add("azure.istio", options.istio, f"helm with mesh {spec.mesh} (the managed add-on is Istio)")
    _check_prod(p, spec, options)


def _check_certificate(p: Problems, spec, options: AzureOptions) -> None:
    tls = spec.load_balancer.tls_certificate
    if tls is None:
        if options.key_vault_id:
            p.add("azure.key_vault_id", options.key_vault_id, "nothing without load_balancer.tls_certificate")
        return
    match = SECRET_ID_RE.match(tls)
    if not match:
        p.add("load_balancer.tls_certificate", tls, "a Key Vault secret id: https://<vault>.vault.azure.net/secrets/"
                                                    "<name> (without a version, so renewals roll out)")
        return
    if options.key_vault_id is None:
        p.add("azure.key_vault_id", None, f"the resource id of Key Vault {match.group('vault')}: the Application "
                                          "Gateway's identity is granted read access to its secrets there")
    elif KEY_VAULT_ID_RE.match(options.key_vault_id).group("name").lower() != match.group("vault").lower():
        p.add("azure.key_vault_id", options.key_vault_id,
              f"the id of vault {match.group('vault')}, which load_balancer.tls_certificate names")


def _check_cidrs(p: Problems, options: AzureOptions) -> None:
    network = options.network
    taken = {"azure.vnet_cidr" if network.vnet_cidr else "azure.aks_subnet_cidr": network.vnet_cidr
             or network.aks_subnet_cidr,
             "azure.application_gateway_subnet_cidr": network.application_gateway_subnet_cidr}
    service = ipaddress.IPv4Network(options.service_cidr)
    for key, own in (("azure.pod_cidr", options.pod_cidr), ("azure.service_cidr", options.service_cidr)):
        for other_key, other in taken.items():
            if ipaddress.IPv4Network(own).overlaps(ipaddress.IPv4Network(other)):
                p.add(key, own, f"a range apart from {other_key} {other} (AKS refuses overlapping ranges)")
        taken[key] = own
    try:
        dns = ipaddress.IPv4Address(options.dns_service_ip)
    except ValueError:
        dns = None
    if dns is None or dns not in service or dns in (service.network_address, service.network_address + 1):
        p.add("azure.dns_service_ip", options.dns_service_ip,
              f"an address inside azure.service_cidr {options.service_cidr}, not its first (e.g. 10.0.0.10)")


AZURE_RESERVED_ADDRESSES = 5
"""Azure keeps five addresses of every subnet (the first four and the last)."""


def _check_gateway_subnet(p: Problems, options: AzureOptions) -> None:
    """Application Gateway v2 takes one address of its dedicated subnet per instance: the subnet
    must hold the autoscaling maximum (Microsoft recommends a /24)."""
    subnet = ipaddress.IPv4Network(options.network.application_gateway_subnet_cidr)
    room = subnet.num_addresses - AZURE_RESERVED_ADDRESSES
    if options.app_gateway_capacity.max > room:
        p.add("azure.app_gateway_capacity.max", options.app_gateway_capacity.max,
              f"at most {room}: the Application Gateway subnet {subnet} has {room} usable addresses, one per instance "
              "(or a larger azure.application_gateway_subnet_cidr; /24 recommended)")


def _check_prod(p: Problems, spec, options: AzureOptions) -> None:
    """Prod keeps the safe settings; dev and staging may opt out. Zones and node counts are the
    policy pack's to refuse (prod-multi-zone, prod-min-nodes), naming the resource."""
    if spec.phase != "prod":
        return
    required = {
        "azure.waf": (options.waf, True, "the Application Gateway faces the internet"),
        "azure.waf_mode": (options.waf_mode, "Prevention", "Detection only logs attacks"),
        "azure.lock": (options.lock, True, "the Application Gateway and its address are the platform's front door"),
    }
    for path, (value, wanted, why) in required.items():
        if value != wanted:
            p.add(path, value, f"{str(wanted).lower() if isinstance(wanted, bool) else wanted} in prod ({why})")
