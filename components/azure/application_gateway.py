"""Application Gateway v2 in front of the gateway fleet's internal load balancer.

    apigw:azure:ApplicationGateway  <name>
    ├── PublicIPAddress               <name>-ip        Standard, static, zonal with the gateway
    ├── UserAssignedIdentity          <name>-identity  (tls) reads the certificate from Key Vault
    ├── RoleAssignment                <name>-key-vault (tls) Key Vault Secrets User on the vault
    ├── WebApplicationFirewallPolicy  <name>-waf       (waf) Default Rule Set, Prevention, per-client rate limit
    ├── ApplicationGateway            <name>
    └── ManagementLockByScope         <name>-lock, <name>-ip-lock  (lock) CanNotDelete

Its backend pool is one private address: the gateway Service's internal load balancer, which
spreads over the gateway pods. Application Gateway balances round robin over its pool; the AGIC
add-on is not used, since it rewrites the gateway that this stack owns.
"""
from __future__ import annotations

import pulumi
import pulumi_azure_native as azure

from .args import ApplicationGatewayArgs
from .cluster import role_definition
from .options import KEY_VAULT_SECRETS_USER, WAF_MODES

POOL, SETTINGS, PROBE, CERTIFICATE = "gateway", "gateway", "gateway-health", "tls"
FRONTEND, HTTP_PORT, HTTPS_PORT = "public", "http", "https"
RULE_PRIORITY = {"https": 100, "http": 200}
CLIENT_ADDRESS = "client-address"
DRS_VERSION = "2.1"
"""Microsoft's Default Rule Set, the managed OWASP rules WAF_v2 recommends."""


def check_args(args: ApplicationGatewayArgs) -> None:
    """Refuse what Application Gateway v2 would, before anything is registered (a stack never gets here
    with a bad value: the spec reports it first; this guards a program that fills the Args itself)."""
    probe = args.probe
    ranges = {"probe.interval_s": (probe.interval_s, 1, 86400), "probe.timeout_s": (probe.timeout_s, 1, 86400),
              "probe.unhealthy_threshold": (probe.unhealthy_threshold, 1, 20),
              "min_capacity": (args.min_capacity, 0, 125), "max_capacity": (args.max_capacity, 2, 125),
              "drain_timeout_s": (args.drain_timeout_s, 1, 3600),
              "request_timeout_s": (args.request_timeout_s, 1, 86400)}
    problems = [f"{key}: {value!r} is not an integer from {lo} to {hi}" for key, (value, lo, hi) in ranges.items()
                if not lo <= value <= hi]
    if args.min_capacity > args.max_capacity:
        problems.append(f"min_capacity: {args.min_capacity} is above max_capacity {args.max_capacity}")
    if args.waf and args.waf.mode not in WAF_MODES:
        problems.append(f"waf.mode: {args.waf.mode!r} is not one of {', '.join(WAF_MODES)}")
    if problems:
        raise ValueError("ApplicationGatewayArgs: " + "; ".join(problems))


class ApplicationGateway(pulumi.ComponentResource):
    TYPE = "apigw:azure:ApplicationGateway"

    def __init__(self, name: str, args: ApplicationGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        check_args(args)
        super().__init__(self.TYPE, name, None, opts)
        where = args.placement
        common = {"resource_group_name": where.resource_group_name, "location": where.location, "tags": where.tags}
        child = pulumi.ResourceOptions(parent=self)
        zones = list(args.zones) or None
        # A fixed name: Azure's DNS label hash (TenantReuse) is kept only for an address of the same name.
        self.public_ip = azure.network.PublicIPAddress(
            f"{name}-ip", **common, public_ip_address_name=f"{args.name}-ip",
            sku={"name": "Standard", "tier": "Regional"},
            public_ip_allocation_method="Static", public_ip_address_version="IPv4", zones=zones,
            dns_settings=({"domain_name_label": args.dns_label, "domain_name_label_scope": "TenantReuse"}
                          if args.dns_label else None), opts=child)
        identity, self.key_vault_access = None, None
        if args.tls:
            managed = azure.managedidentity.UserAssignedIdentity(f"{name}-identity", **common, opts=child)
            identity = {"type": "UserAssigned", "user_assigned_identities": [managed.id]}
            self.key_vault_access = azure.authorization.RoleAssignment(
                f"{name}-key-vault", scope=args.tls.key_vault_id, principal_id=managed.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=role_definition(args.subscription_id, KEY_VAULT_SECRETS_USER), opts=child)
        self.waf_policy = None
        if args.waf:
            self.waf_policy = azure.network.WebApplicationFirewallPolicy(
                f"{name}-waf", **common, **waf_policy(args), opts=child)
        self.gateway = azure.network.ApplicationGateway(
            name, **common, application_gateway_name=args.name, zones=zones,
            identity=identity, **gateway_properties(args, self.public_ip.id, self.waf_policy),
            # The gateway reads the certificate with the identity's access, granted first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.key_vault_access] if self.key_vault_access
                                        else []))
        if args.lock:
            for key, resource in (("lock", self.gateway), ("ip-lock", self.public_ip)):
                azure.authorization.ManagementLockByScope(
                    f"{name}-{key}", scope=resource.id, level="CanNotDelete",
                    notes="The platform's front door: remove this lock deliberately before deleting.", opts=child)
        self.register_outputs({"public_ip_address": self.public_ip.ip_address})


WAF_MAX_BODY_KB = 2000
"""The largest body WAF_v2 with the Default Rule Set inspects and limits (2 MB)."""


def waf_policy(args: ApplicationGatewayArgs) -> dict:
    waf = args.waf
    body_kb = min(WAF_MAX_BODY_KB, waf.max_body_mib * 1024)
    return {
        # Bodies (JSON or uploads) up to the gateway's own limit pass. Over 2 MB the WAF cannot
        # enforce that limit, so it inspects the first 2 MB and the gateway answers 413 itself.
        "policy_settings": {"state": "Enabled", "mode": waf.mode, "request_body_check": True,
                            "max_request_body_size_in_kb": body_kb, "request_body_inspect_limit_in_kb": body_kb,
                            "request_body_enforcement": waf.max_body_mib * 1024 <= WAF_MAX_BODY_KB,
                            "file_upload_limit_in_mb": max(1, waf.max_body_mib), "file_upload_enforcement": True},
        "managed_rules": {"managed_rule_sets": [{"rule_set_type": "Microsoft_DefaultRuleSet",
                                                 "rule_set_version": DRS_VERSION}]},
        "custom_rules": [{
            "name": "RateLimitPerClient", "priority": 10, "rule_type": "RateLimitRule", "action": "Block",
            "state": "Enabled", "rate_limit_duration": "OneMin", "rate_limit_threshold": waf.rate_limit_per_minute,
            "group_by_user_session": [{"group_by_variables": [{"variable_name": "ClientAddr"}]}],
            # Every client: a rate-limit rule needs a match condition, and this one matches all.
            "match_conditions": [{"match_variables": [{"variable_name": "RemoteAddr"}], "operator": "IPMatch",
                                  "negation_conditon": True, "match_values": ["255.255.255.255/32"]}],
        }],
    }


def client_address_rewrite() -> dict:
    """Application Gateway appends the client as "address:port" to X-Forwarded-For, which nginx's
    real-IP module cannot parse: the gateway would see every client as the Application Gateway and
    its per-client limits would be one shared limit. This sets the header to the same list with the
    address alone (the server variable Azure documents for removing the port)."""
    return {"name": CLIENT_ADDRESS, "rewrite_rules": [{
        "name": "x-forwarded-for-without-port", "rule_sequence": 100,
        "action_set": {"request_header_configurations": [
            {"header_name": "X-Forwarded-For", "header_value": "{var_add_x_forwarded_for_proxy}"}]}}]}


def gateway_properties(args: ApplicationGatewayArgs, public_ip_id: pulumi.Input[str],
                       waf_policy: azure.network.WebApplicationFirewallPolicy | None) -> dict:
    """The gateway's inline configuration; sub-resources refer to each other by id, built from its name."""
    base = pulumi.Output.concat("/subscriptions/", args.subscription_id, "/resourceGroups/",
                                args.placement.resource_group_name,
                                "/providers/Microsoft.Network/applicationGateways/", args.name)

    def ref(kind: str, item: str) -> dict:
        return {"id": pulumi.Output.concat(base, f"/{kind}/{item}")}

    probe, tls = args.probe, args.tls
    sku = "WAF_v2" if args.waf else "Standard_v2"
    listeners = [{"name": HTTP_PORT, "protocol": "Http", "frontend_ip_configuration": ref("frontendIPConfigurations",
                                                                                           FRONTEND),
                  "frontend_port": ref("frontendPorts", HTTP_PORT)}]
    forward = {"rule_type": "Basic", "backend_address_pool": ref("backendAddressPools", POOL),
               "backend_http_settings": ref("backendHttpSettingsCollection", SETTINGS),
               "rewrite_rule_set": ref("rewriteRuleSets", CLIENT_ADDRESS)}
    rules = []
    redirects = []
    if tls:
        listeners.append({"name": HTTPS_PORT, "protocol": "Https", "require_server_name_indication": False,
                          "frontend_ip_configuration": ref("frontendIPConfigurations", FRONTEND),
                          "frontend_port": ref("frontendPorts", HTTPS_PORT),
                          "ssl_certificate": ref("sslCertificates", CERTIFICATE)})
        rules.append({"name": HTTPS_PORT, "priority": RULE_PRIORITY["https"],
                      "http_listener": ref("httpListeners", HTTPS_PORT), **forward})
    if tls and tls.http_to_https_redirect:
        redirects.append({"name": "http-to-https", "redirect_type": "Permanent", "include_path": True,
                          "include_query_string": True, "target_listener": ref("httpListeners", HTTPS_PORT)})
        rules.append({"name": HTTP_PORT, "priority": RULE_PRIORITY["http"], "rule_type": "Basic",
                      "http_listener": ref("httpListeners", HTTP_PORT),
                      "redirect_configuration": ref("redirectConfigurations", "http-to-https")})
    else:
        rules.append({"name": HTTP_PORT, "priority": RULE_PRIORITY["http"],
                      "http_listener": ref("httpListeners", HTTP_PORT), **forward})
    properties = {
        "sku": {"name": sku, "tier": sku},
        "autoscale_configuration": {"min_capacity": args.min_capacity, "max_capacity": args.max_capacity},
        "enable_http2": True,
        "ssl_policy": {"policy_type": "Predefined", "policy_name": args.ssl_policy},
        "gateway_ip_configurations": [{"name": "subnet", "subnet": {"id": args.subnet_id}}],
        "frontend_ip_configurations": [{"name": FRONTEND, "public_ip_address": {"id": public_ip_id}}],
        "frontend_ports": [{"name": HTTP_PORT, "port": 80}] + ([{"name": HTTPS_PORT, "port": 443}] if tls else []),
        "backend_address_pools": [{"name": POOL, "backend_addresses": [{"ip_address": args.backend_ip}]}],
        "probes": [{"name": PROBE, "protocol": "Http", "host": args.backend_ip, "port": args.backend_port,
                    "path": probe.path, "interval": probe.interval_s, "timeout": probe.timeout_s,
                    "unhealthy_threshold": probe.unhealthy_threshold,
                    "pick_host_name_from_backend_http_settings": False,
                    "match": {"status_codes": list(probe.status_codes)}}],
        "backend_http_settings_collection": [{
            "name": SETTINGS, "port": args.backend_port, "protocol": "Http", "cookie_based_affinity": "Disabled",
            "request_timeout": args.request_timeout_s, "probe": ref("probes", PROBE),
            "pick_host_name_from_backend_address": False,
            "connection_draining": {"enabled": True, "drain_timeout_in_sec": args.drain_timeout_s}}],
        "rewrite_rule_sets": [client_address_rewrite()],
        "http_listeners": listeners,
        "request_routing_rules": rules,
        "redirect_configurations": redirects,
    }
    if tls:
        properties["ssl_certificates"] = [{"name": CERTIFICATE, "key_vault_secret_id": tls.key_vault_secret_id}]
    if waf_policy is not None:
        properties["firewall_policy"] = {"id": waf_policy.id}
        properties["force_firewall_policy_association"] = True
    return properties
