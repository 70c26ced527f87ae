"""The Azure target: Application Gateway v2 -> internal load balancer -> gateway pods on AKS -> services.

`build(spec)` is what infra/program.py calls; it returns the stack outputs. It is the one place
that reads the stack spec for Azure: it maps it to each component's Args, and the workloads to the
Kubernetes Workloads component (the same one the kubernetes target builds) on the AKS cluster.
"""
from __future__ import annotations

import pulumi
import pulumi_azure_native as azure

from ..kubernetes.args import ExposureArgs, MeshArgs
from ..kubernetes.gateway import SERVICE_PORT
from ..kubernetes.platform import workloads_args
from ..kubernetes.workloads import Workloads
from ..spec import StackSpec, platform_tags
from .application_gateway import ApplicationGateway
from .args import (
    AlertsArgs,
    ApplicationGatewayArgs,
    ClusterArgs,
    KeyVaultSecretsArgs,
    LogAnalyticsArgs,
    NetworkArgs,
    NodePoolArgs,
    Placement,
    ProbeArgs,
    ServiceSecretsArgs,
    TelemetryArgs,
    TlsArgs,
    WafArgs,
)
from .cluster import Cluster
from .monitoring import GatewayAlerts, LogAnalytics
from .network import Network
from .options import AzureOptions
from .secrets import KeyVaultSecrets
from .telemetry import ClusterTelemetry

INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"
INTERNAL_IP = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
"""The AKS cloud provider's annotations: an internal load balancer, at a fixed private address."""


class Platform(pulumi.ComponentResource):
    """Groups one stack's Azure components; it carries the stack's Azure provider to all of them."""

    TYPE = "apigw:azure:Platform"

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)


def gateway_exposure(options: AzureOptions) -> ExposureArgs:
    """The gateway Service as the Application Gateway reaches it: an internal load balancer at the
    backend pool's address, keeping the client address (Local), admitting the gateway's subnet only."""
    return ExposureArgs(kind="external", service_type="LoadBalancer", external_traffic_policy="Local",
                        service_annotations={INTERNAL: "true", INTERNAL_IP: options.gateway_private_ip},
                        source_cidrs=[options.network.application_gateway_subnet_cidr])


def status_codes(matcher: str) -> list[str]:
    """The spec's matcher ("200", "200-299", "200,204") as Application Gateway's list."""
    return [part.strip() for part in matcher.split(",")]


def app_gateway_args(spec: StackSpec, placement: Placement, subscription_id, subnet_id) -> ApplicationGatewayArgs:
    options: AzureOptions = spec.options.azure
    hc, tls = spec.load_balancer.health_check, spec.load_balancer.tls_certificate
    return ApplicationGatewayArgs(
        placement=placement, name=f"{spec.project}-appgw", subscription_id=subscription_id, subnet_id=subnet_id,
        backend_ip=options.gateway_private_ip, backend_port=SERVICE_PORT,
        probe=ProbeArgs(path=hc.path, interval_s=hc.interval_s, timeout_s=hc.timeout_s,
                        unhealthy_threshold=hc.unhealthy_threshold, status_codes=status_codes(hc.matcher)),
        min_capacity=options.app_gateway_capacity.min, max_capacity=options.app_gateway_capacity.max,
        zones=list(options.zones), drain_timeout_s=options.drain_timeout_s, ssl_policy=options.ssl_policy,
        tls=(TlsArgs(key_vault_secret_id=tls, key_vault_id=options.key_vault_id,
                     http_to_https_redirect=spec.load_balancer.http_to_https_redirect) if tls else None),
        waf=(WafArgs(mode=options.waf_mode, rate_limit_per_minute=options.waf_rate_limit_per_minute,
                     # No gateway body limit (dev): the WAF's own default upload limit, 100 MB.
                     max_body_mib=spec.gateway.limits.max_body_mib or 100) if options.waf else None),
        dns_label=options.dns_label, lock=options.lock)


SEVERITY = {"critical": 0, "warning": 2, "info": 3}
"""Prometheus alert severities as Azure Monitor's (0 critical ... 4 verbose)."""


def prometheus_rule_groups(name: str, spec: StackSpec, placement: Placement, telemetry, cluster, groups: list[dict],
                           child: pulumi.ResourceOptions) -> list:
    actions = [{"action_group_id": spec.monitoring.alarm_topic}] if spec.monitoring.alarm_topic else []

    def rule(r: dict) -> dict:
        if "record" in r:
            return {"record": r["record"], "expression": r["expr"]}
        minutes = int(r.get("for", "0m").rstrip("m"))
        return {"alert": r["alert"], "expression": r["expr"], "for_": f"PT{minutes}M", "labels": r.get("labels", {}),
                "annotations": r.get("annotations", {}), "severity": SEVERITY[r["labels"]["severity"]],
                "actions": actions, "resolve_configuration": {"auto_resolved": True, "time_to_resolve": "PT10M"}}
    return [azure.alertsmanagement.PrometheusRuleGroup(
        f"{name}-{group['name']}", resource_group_name=placement.resource_group_name, location=placement.location,
        tags=placement.tags, rule_group_name=f"{name}-{group['name']}", cluster_name=cluster.cluster.name,
        scopes=[telemetry.prometheus_workspace.id, cluster.cluster.id], enabled=True,
        interval=f"PT{int(group.get('interval', '60s').rstrip('s')) // 60 or 1}M",
        rules=[rule(r) for r in group["rules"]], opts=child) for group in groups]


def key_vault_secrets(name: str, spec: StackSpec, placement: Placement, client, cluster: Cluster,
                      child: pulumi.ResourceOptions) -> KeyVaultSecrets | None:
    """The services' secret settings in Key Vault (None without any): values in the stack's vault, references to
    existing secrets, each service's identity granted its own."""
    services = [ServiceSecretsArgs(service=s.name, refs={k: v.ref for k, v in s.secrets.items() if v.ref is not None},
                                   values={k: v.value for k, v in s.secrets.items() if v.value is not None})
                for s in spec.services if s.secrets]
    if not services:
        return None
    issuer = cluster.cluster.oidc_issuer_profile.apply(lambda profile: profile.issuer_url if profile else None)
    return KeyVaultSecrets(f"{name}-secrets", KeyVaultSecretsArgs(
        placement=placement, tenant_id=client.tenant_id, subscription_id=client.subscription_id,
        oidc_issuer_url=issuer, namespace=spec.options.kubernetes.namespace, services=services,
        purge_protection=spec.phase == "prod"), project=spec.project, opts=child)


def build(spec: StackSpec) -> dict:
    options: AzureOptions = spec.options.azure
    name, stack = spec.project, pulumi.get_stack()
    # An explicit provider: the location comes from the validated spec, not a separate azure-native:location.
    provider = azure.Provider(f"{name}-azure", location=spec.region)
    platform = Platform(name, opts=pulumi.ResourceOptions(providers=[provider]))
    child = pulumi.ResourceOptions(parent=platform)
    client = azure.authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=platform))
    tags = platform_tags(spec, stack)
    group = azure.resources.ResourceGroup(f"{name}-rg", resource_group_name=options.resource_group,
                                          location=spec.region, tags=tags, opts=child)
    placement = Placement(resource_group_name=group.name, location=spec.region, tags=tags)

    net = options.network
    if net.existing:  # handed out by the platform team, with its own NSGs
        appgw_subnet_id, aks_subnet_id = net.application_gateway_subnet_id, net.aks_subnet_id
    else:
        network = Network(f"{name}-network", NetworkArgs(
            placement=placement, vnet_cidr=net.vnet_cidr,
            application_gateway_subnet_cidr=net.application_gateway_subnet_cidr,
            aks_subnet_cidr=net.aks_subnet_cidr,
            client_ports=[80, 443] if spec.load_balancer.tls_certificate else [80]), opts=child)
        appgw_subnet_id, aks_subnet_id = network.application_gateway_subnet.id, network.aks_subnet.id

    logs = (LogAnalytics(f"{name}-logs", LogAnalyticsArgs(placement, options.log_retention_days), opts=child)
            if spec.monitoring.enabled else None)
    pools = {"system": (options.system_vm_size, options.system_nodes),
             "user": (options.user_vm_size, options.user_nodes)}
    cluster = Cluster(f"{name}-aks", ClusterArgs(
        placement=placement, name=f"{name}-{stack}", kubernetes_version=options.kubernetes_version,
        subnet_id=aks_subnet_id,
        **{f"{pool}_pool": NodePoolArgs(vm_size=size, min=nodes.min, max=nodes.max, zones=list(options.zones))
           for pool, (size, nodes) in pools.items()},
        tenant_id=client.tenant_id, admin_principal_id=client.object_id,
        admin_principal_type=options.deployer_principal_type,
        admin_group_ids=list(options.cluster_admin_group_ids), pod_cidr=options.pod_cidr,
        service_cidr=options.service_cidr, dns_service_ip=options.dns_service_ip,
        log_analytics_workspace_id=logs.workspace.id if logs else None, managed_prometheus=logs is not None,
        kubelogin_mode=options.kubelogin_mode,
        istio_revision=options.istio_revision if spec.mesh == "istio" and options.istio == "managed" else None,
        key_vault_secrets_provider=any(s.secrets for s in spec.services)),
        opts=child)
    store = key_vault_secrets(name, spec, placement, client, cluster, child)

    telemetry = None
    if logs is not None:
        telemetry = ClusterTelemetry(f"{name}-telemetry", TelemetryArgs(
            placement=placement, cluster_id=cluster.cluster.id, workspace_id=logs.workspace.id), opts=child)
    mesh = None
    if spec.mesh == "istio" and options.istio == "managed":
        mesh = MeshArgs(kind="istio", install=False, istio_revision=options.istio_revision)
    # The internal load balancer needs the subnet role; pods with secrets, their identity's grants.
    secrets, ready = ({"secrets": store.service_fields}, store.ready) if store else ({}, [])
    workloads = Workloads(name, workloads_args(spec, spec.options.kubernetes, gateway_exposure(options), mesh,
                                               **secrets),
                          opts=pulumi.ResourceOptions(parent=platform, providers=[cluster.provider],
                                                      depends_on=[cluster.network_role, *ready]))
    if telemetry is not None and workloads.monitoring is not None and workloads.monitoring.alerts is None:
        # Azure Monitor's managed Prometheus reads no PrometheusRule: the same groups as Azure resources.
        prometheus_rule_groups(name, spec, placement, telemetry, cluster, workloads.monitoring.rule_groups, child)
    app_gateway = ApplicationGateway(f"{name}-appgw", app_gateway_args(spec, placement, client.subscription_id,
                                                                       appgw_subnet_id),
                                     opts=pulumi.ResourceOptions(parent=platform,
                                                                 depends_on=[workloads.gateway.service]))
    if logs is not None:
        GatewayAlerts(f"{name}-alerts", AlertsArgs(
            placement=placement, application_gateway_id=app_gateway.gateway.id, workspace_id=logs.workspace.id,
            action_group_id=spec.monitoring.alarm_topic, failed_requests=options.alarm_failed_requests,
            response_time_ms=options.alarm_response_time_ms), opts=child)

    fqdn = app_gateway.public_ip.dns_settings.apply(lambda dns: dns.fqdn if dns else None)
    scheme = "https" if spec.load_balancer.tls_certificate else "http"
    outputs: dict = {
        "public_ip_address": app_gateway.public_ip.ip_address,
        "fqdn": fqdn,
        "url": fqdn.apply(lambda host: f"{scheme}://{host}" if host else None),
        "cluster": cluster.cluster.name,
        "resource_group": group.name,
        "namespace": workloads.namespace.metadata["name"],
    }
    if logs is not None:
        # For the services' own telemetry (OpenTelemetry exporters read it from the environment).
        outputs["application_insights_connection_string"] = pulumi.Output.secret(logs.insights.connection_string)
    platform.register_outputs({"public_ip_address": app_gateway.public_ip.ip_address})
    if not spec.load_balancer.tls_certificate:
        outputs["warning"] = "serves plain HTTP: no load_balancer.tls_certificate (fine for dev only)"
        pulumi.log.warn(f"{spec.project}: the Application Gateway {outputs['warning']}")
    return outputs
