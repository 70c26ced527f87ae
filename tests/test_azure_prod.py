"""azure-prod (and azure-dev) under mocks: exact inputs by type token (wire names: camelCase, numbers as floats)."""
from __future__ import annotations

import pytest
import yaml

from components.azure.options import REQUEST_TIMEOUT_S
from components.gateway.nginx import PROXY_READ_TIMEOUT_S
from tools.mocks.azure import AKS_SERVER_ID, OBJECT_ID, SUBSCRIPTION_ID, TENANT_ID

STACK = "azure-prod"
RG = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/apigw-prod"
APPGW_ID = f"{RG}/providers/Microsoft.Network/applicationGateways/apigw-appgw"
VAULT = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/apigw-shared/providers/"
         "Microsoft.KeyVault/vaults/apigw-certs")
ACTION_GROUP = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/apigw-shared/providers/"
                "microsoft.insights/actionGroups/platform-oncall")
GATEWAY_IP = "10.224.31.254"   # the last usable address of the AKS subnet 10.224.16.0/20
ZONES = ["1", "2", "3"]
TAGS = {"cost-center": "api", "managed-by": "pulumi", "phase": "prod", "project": "apigw", "stack": "azure-prod",
        "team": "platform"}

APP_GATEWAY = "azure-native:network:ApplicationGateway"
CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
NSG = "azure-native:network:NetworkSecurityGroup"
WAF = "azure-native:network:WebApplicationFirewallPolicy"
ALERT = "azure-native:monitor:MetricAlert"
ROLE = "azure-native:authorization:RoleAssignment"
LOCK = "azure-native:authorization:ManagementLockByScope"
SERVICE = "kubernetes:core/v1:Service"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


@pytest.fixture(scope="module")
def plan(plan_of):
    return plan_of(STACK)


def inputs(plan, token, name):
    return plan.one(token, name).inputs


def sub(kind: str, name: str) -> str:
    return f"{APPGW_ID}/{kind}/{name}"


def by_name(items):
    return {item["name"]: item for item in items}


# --- AKS ---------------------------------------------------------------------------------------

def test_system_pool_spans_three_zones_without_public_ips_and_keeps_to_system_pods(plan):
    cluster = inputs(plan, CLUSTER, "apigw-aks")
    [system] = cluster["agentPoolProfiles"]
    subnet = f"{RG}/providers/Microsoft.Network/virtualNetworks/{system['vnetSubnetID'].split('/')[-3]}/subnets/aks"
    assert system == {
        "name": "system", "mode": "System", "vmSize": "Standard_D2ds_v5", "osType": "Linux", "osSKU": "AzureLinux",
        "type": "VirtualMachineScaleSets", "vnetSubnetID": subnet, "enableNodePublicIP": False,
        "enableAutoScaling": True, "minCount": 3.0, "maxCount": 5.0, "count": 3.0, "availabilityZones": ZONES,
        "upgradeSettings": {"maxSurge": "1"}, "nodeTaints": ["CriticalAddonsOnly=true:NoSchedule"]}


def test_user_pool_runs_the_workloads_over_three_zones_with_at_least_three_nodes(plan):
    pool = inputs(plan, AGENT_POOL, "apigw-aks-workloads")
    assert {k: pool[k] for k in ("agentPoolName", "resourceName", "mode", "vmSize", "availabilityZones",
                                 "enableAutoScaling", "minCount", "maxCount", "count", "enableNodePublicIP")} == {
        "agentPoolName": "workloads", "resourceName": "apigw-azure-prod", "mode": "User",
        "vmSize": "Standard_D4ds_v5", "availabilityZones": ZONES, "enableAutoScaling": True, "minCount": 3.0,
        "maxCount": 10.0, "count": 3.0, "enableNodePublicIP": False}
    assert "nodeTaints" not in pool
    assert plan.one(AGENT_POOL, "apigw-aks-workloads").ignore_changes == ["count"]


def test_cluster_is_standard_tier_entra_only_cilium_overlay_with_workload_identity_and_monitoring(plan):
    cluster = inputs(plan, CLUSTER, "apigw-aks")
    # Container Insights writes to the stack's workspace (the one Application Insights uses too).
    insights = inputs(plan, "azure-native:applicationinsights:Component", "apigw-logs-insights")
    workspace_id = insights["workspaceResourceId"]
    expected = {
        "sku": {"name": "Base", "tier": "Standard"}, "kubernetesVersion": "1.33", "dnsPrefix": "apigw-azure-prod",
        "resourceName": "apigw-azure-prod", "identity": {"type": "SystemAssigned"},
        "enableRBAC": True, "disableLocalAccounts": True,
        "aadProfile": {"managed": True, "enableAzureRBAC": True, "tenantID": TENANT_ID, "adminGroupObjectIDs": []},
        "networkProfile": {"networkPlugin": "azure", "networkPluginMode": "overlay", "networkDataplane": "cilium",
                           "networkPolicy": "cilium", "podCidr": "10.244.0.0/16", "serviceCidr": "10.0.0.0/16",
                           "dnsServiceIP": "10.0.0.10", "loadBalancerSku": "standard", "outboundType": "loadBalancer"},
        "oidcIssuerProfile": {"enabled": True}, "securityProfile": {"workloadIdentity": {"enabled": True}},
        "autoUpgradeProfile": {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"},
        "azureMonitorProfile": {"metrics": {"enabled": True}},
        "addonProfiles": {"omsagent": {"enabled": True, "config": {"logAnalyticsWorkspaceResourceID": workspace_id,
                                                                   "useAADAuth": "true"}}},
    }
    assert {k: cluster[k] for k in expected} == expected
    assert workspace_id.startswith(f"{RG}/providers/Microsoft.OperationalInsights/workspaces/apigw-logs-workspace")


def test_deployer_is_cluster_admin_and_cluster_identity_may_join_the_node_subnet(plan):
    admin = inputs(plan, ROLE, "apigw-aks-admin")
    assert admin == {"principalId": OBJECT_ID, "principalType": "User",
                     "roleDefinitionId": f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/"
                                         "roleDefinitions/b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
                     "scope": f"{RG}/providers/Microsoft.ContainerService/managedClusters/apigw-azure-prod"}
    network = inputs(plan, ROLE, "apigw-aks-network")
    assert network["roleDefinitionId"].endswith("/4d97b98b-1d4f-4787-a291-c67834d212e7")   # Network Contributor
    assert network["scope"] == inputs(plan, CLUSTER, "apigw-aks")["agentPoolProfiles"][0]["vnetSubnetID"]
    assert network["principalType"] == "ServicePrincipal"


def test_kubernetes_provider_is_a_secret_exec_kubeconfig_running_kubelogin_with_the_cli_login(plan):
    [provider] = plan.by_type("pulumi:providers:kubernetes")
    secret = provider.inputs["kubeconfig"]
    assert secret["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"   # Pulumi's secret marker
    [user] = yaml.safe_load(secret["value"])["users"]
    assert user["user"]["exec"]["command"] == "kubelogin"
    assert user["user"]["exec"]["args"] == ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_ID]
    assert any(dep.endswith("RoleAssignment::apigw-aks-admin") for dep in provider.dependencies)
    # Every Kubernetes object goes to this cluster, none to an ambient kubeconfig.
    k8s_objects = [r for r in plan.resources if r.type.startswith("kubernetes:")]
    assert k8s_objects and {r.provider.split("::")[3] for r in k8s_objects} == {"apigw-aks-kubernetes"}


# --- the path: Application Gateway -> internal load balancer -> gateway pods ---------------------

def test_gateway_service_is_an_internal_load_balancer_at_the_backend_pool_address(plan):
    service = inputs(plan, SERVICE, "apigw-gateway-service")
    assert service["metadata"]["annotations"] == {
        "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
        "service.beta.kubernetes.io/azure-load-balancer-ipv4": GATEWAY_IP}
    assert service["spec"] == {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "selector": {"app": "gateway"},
                               "ports": [{"name": "http", "port": 80.0, "targetPort": "http", "protocol": "TCP"}]}
    gateway = inputs(plan, APP_GATEWAY, "apigw-appgw")
    assert gateway["backendAddressPools"] == [{"name": "gateway", "backendAddresses": [{"ipAddress": GATEWAY_IP}]}]


def test_network_policy_admits_only_the_application_gateway_subnet(plan):
    policy = inputs(plan, POLICY, "apigw-network-allow-lb-to-gateway")
    assert policy["spec"]["ingress"] == [{"from": [{"ipBlock": {"cidr": "10.224.0.0/24"}}],
                                          "ports": [{"port": 8080.0, "protocol": "TCP"}]}]
    assert inputs(plan, "azure-native:network:Subnet", "apigw-network-appgw")["addressPrefix"] == "10.224.0.0/24"


def test_application_gateway_is_waf_v2_over_three_zones_autoscaling_from_two(plan):
    gateway = inputs(plan, APP_GATEWAY, "apigw-appgw")
    waf = plan.one(WAF, "apigw-appgw-waf")
    assert gateway["sku"] == {"name": "WAF_v2", "tier": "WAF_v2"}
    assert gateway["zones"] == ZONES
    assert gateway["autoscaleConfiguration"] == {"minCapacity": 2.0, "maxCapacity": 10.0}
    assert gateway["sslPolicy"] == {"policyType": "Predefined", "policyName": "AppGwSslPolicy20220101S"}
    assert gateway["firewallPolicy"]["id"].rsplit("/", 1)[1].startswith("apigw-appgw-waf")
    assert gateway["forceFirewallPolicyAssociation"] is True
    assert any(d == waf.urn for d in plan.one(APP_GATEWAY, "apigw-appgw").property_dependencies["firewallPolicy"])


def test_probe_and_backend_settings_come_from_the_spec_health_check(plan):
    gateway = inputs(plan, APP_GATEWAY, "apigw-appgw")
    assert gateway["probes"] == [{
        "name": "gateway-health", "protocol": "Http", "host": GATEWAY_IP, "port": 80.0, "path": "/healthz",
        "interval": 10.0, "timeout": 3.0, "unhealthyThreshold": 3.0, "pickHostNameFromBackendHttpSettings": False,
        "match": {"statusCodes": ["200"]}}]
    assert gateway["backendHttpSettingsCollection"] == [{
        "name": "gateway", "port": 80.0, "protocol": "Http", "cookieBasedAffinity": "Disabled",
        "requestTimeout": float(REQUEST_TIMEOUT_S), "probe": {"id": sub("probes", "gateway-health")},
        "pickHostNameFromBackendAddress": False, "connectionDraining": {"enabled": True, "drainTimeoutInSec": 30.0}}]
    assert REQUEST_TIMEOUT_S > PROXY_READ_TIMEOUT_S


def test_https_listener_uses_the_key_vault_certificate_and_http_redirects_to_it(plan):
    gateway = inputs(plan, APP_GATEWAY, "apigw-appgw")
    assert gateway["sslCertificates"] == [{"name": "tls", "keyVaultSecretId":
                                           "https://apigw-certs.vault.azure.net/secrets/api-example-com"}]
    listeners = by_name(gateway["httpListeners"])
    assert listeners["https"] == {"name": "https", "protocol": "Https", "requireServerNameIndication": False,
                                  "frontendIPConfiguration": {"id": sub("frontendIPConfigurations", "public")},
                                  "frontendPort": {"id": sub("frontendPorts", "https")},
                                  "sslCertificate": {"id": sub("sslCertificates", "tls")}}
    assert listeners["http"]["protocol"] == "Http"
    rules = by_name(gateway["requestRoutingRules"])
    assert rules["http"] == {"name": "http", "priority": 200.0, "ruleType": "Basic",
                             "httpListener": {"id": sub("httpListeners", "http")},
                             "redirectConfiguration": {"id": sub("redirectConfigurations", "http-to-https")}}
    assert rules["https"]["backendAddressPool"] == {"id": sub("backendAddressPools", "gateway")}
    assert gateway["redirectConfigurations"] == [{
        "name": "http-to-https", "redirectType": "Permanent", "includePath": True, "includeQueryString": True,
        "targetListener": {"id": sub("httpListeners", "https")}}]
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity", "apigw-appgw-identity")
    assert gateway["identity"]["type"] == "UserAssigned"
    assert plan.one(APP_GATEWAY, "apigw-appgw").property_dependencies["identity"] == [identity.urn]
    vault_role = inputs(plan, ROLE, "apigw-appgw-key-vault")
    assert (vault_role["scope"], vault_role["principalType"]) == (VAULT, "ServicePrincipal")
    assert vault_role["roleDefinitionId"].endswith("/4633458b-17de-408a-b874-0445c86b69e6")  # Key Vault Secrets User


def test_forwarded_requests_carry_the_client_address_without_its_port(plan):
    gateway = inputs(plan, APP_GATEWAY, "apigw-appgw")
    assert gateway["rewriteRuleSets"] == [{"name": "client-address", "rewriteRules": [{
        "name": "x-forwarded-for-without-port", "ruleSequence": 100.0, "actionSet": {"requestHeaderConfigurations": [
            {"headerName": "X-Forwarded-For", "headerValue": "{var_add_x_forwarded_for_proxy}"}]}}]}]
    forwarding = [r for r in gateway["requestRoutingRules"] if "backendAddressPool" in r]
    assert forwarding and all(r["rewriteRuleSet"] == {"id": sub("rewriteRuleSets", "client-address")}
                              for r in forwarding)
    conf = inputs(plan, "kubernetes:core/v1:ConfigMap", "apigw-gateway-config")["data"]["nginx.conf"]
    assert "    set_real_ip_from 10.224.0.0/24;" in conf.splitlines()   # the only proxy the gateway trusts


def test_waf_policy_blocks_with_the_default_rule_set_and_a_per_client_rate_limit(plan):
    waf = inputs(plan, WAF, "apigw-appgw-waf")
    # The gateway accepts 10 MiB bodies: the WAF inspects the first 2 MB (its most) and leaves the
    # limit to the gateway's 413, rather than block JSON bodies over its 128 KB default.
    assert waf["policySettings"] == {"state": "Enabled", "mode": "Prevention", "requestBodyCheck": True,
                                     "maxRequestBodySizeInKb": 2000.0, "requestBodyInspectLimitInKB": 2000.0,
                                     "requestBodyEnforcement": False, "fileUploadLimitInMb": 10.0,
                                     "fileUploadEnforcement": True}
    assert waf["managedRules"] == {"managedRuleSets": [{"ruleSetType": "Microsoft_DefaultRuleSet",
                                                        "ruleSetVersion": "2.1"}]}
    assert waf["customRules"] == [{
        "name": "RateLimitPerClient", "priority": 10.0, "ruleType": "RateLimitRule", "action": "Block",
        "state": "Enabled", "rateLimitDuration": "OneMin", "rateLimitThreshold": 6000.0,
        "groupByUserSession": [{"groupByVariables": [{"variableName": "ClientAddr"}]}],
        "matchConditions": [{"matchVariables": [{"variableName": "RemoteAddr"}], "operator": "IPMatch",
                             "negationConditon": True, "matchValues": ["255.255.255.255/32"]}]}]


def test_application_gateway_subnet_admits_clients_gateway_manager_and_probes_only(plan):
    rules = inputs(plan, NSG, "apigw-network-appgw-nsg")["securityRules"]
    assert [(r["name"], r["priority"], r["sourceAddressPrefix"], r["destinationPortRanges"], r["protocol"],
             r["access"], r["direction"]) for r in rules] == [
        ("allow-clients", 100.0, "Internet", ["80", "443"], "Tcp", "Allow", "Inbound"),
        ("allow-gateway-manager", 110.0, "GatewayManager", ["65200-65535"], "Tcp", "Allow", "Inbound"),
        ("allow-azure-load-balancer", 120.0, "AzureLoadBalancer", ["*"], "*", "Allow", "Inbound")]


def test_locks_keep_the_gateway_and_its_address_from_deletion(plan):
    gateway_lock = inputs(plan, LOCK, "apigw-appgw-lock")
    assert (gateway_lock["scope"], gateway_lock["level"]) == (APPGW_ID, "CanNotDelete")
    ip_lock = inputs(plan, LOCK, "apigw-appgw-ip-lock")
    assert ip_lock["level"] == "CanNotDelete"
    assert plan.one(LOCK, "apigw-appgw-ip-lock").property_dependencies["scope"] == [
        plan.one("azure-native:network:PublicIPAddress", "apigw-appgw-ip").urn]


def test_alerts_watch_unhealthy_hosts_failures_and_latency_and_reach_the_action_group(plan):
    found = {}
    for name in ("unhealthy-hosts", "failed-requests", "response-time"):
        alert = inputs(plan, ALERT, f"apigw-alerts-{name}")
        assert alert["scopes"] == [APPGW_ID] and alert["actions"] == [{"actionGroupId": ACTION_GROUP}]
        assert (alert["windowSize"], alert["evaluationFrequency"], alert["location"]) == ("PT5M", "PT1M", "global")
        [criterion] = alert["criteria"]["allOf"]
        assert alert["criteria"]["odataType"] == "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"
        found[name] = (criterion["metricName"], criterion["timeAggregation"], criterion["operator"],
                       criterion["threshold"], alert["severity"])
    assert found == {"unhealthy-hosts": ("UnhealthyHostCount", "Average", "GreaterThan", 0.0, 1.0),
                     "failed-requests": ("FailedRequests", "Total", "GreaterThan", 50.0, 2.0),
                     "response-time": ("BackendLastByteResponseTime", "Average", "GreaterThan", 1000.0, 2.0)}
    diagnostics = inputs(plan, "azure-native:monitor:DiagnosticSetting", "apigw-alerts-diagnostics")
    assert diagnostics["resourceUri"] == APPGW_ID
    assert diagnostics["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]
    insights = inputs(plan, "azure-native:applicationinsights:Component", "apigw-logs-insights")
    assert (insights["ingestionMode"], insights["workspaceResourceId"]) == (
        "LogAnalytics", diagnostics["workspaceId"])


def test_every_azure_resource_carries_the_stack_tags(plan):
    untagged = [r.name for r in plan.resources if r.type.startswith("azure-native:") and "tags" in r.inputs
                and r.inputs["tags"] != TAGS]
    assert untagged == []


def test_no_snake_case_name_reaches_azure(plan):
    """A dict passed where the SDK expects one of several Args types keeps Python's names on the wire."""
    def keys(value):
        if isinstance(value, dict):
            for key, child in value.items():
                yield key
                yield from keys(child)
        elif isinstance(value, list):
            for child in value:
                yield from keys(child)
    snake = {(r.name, key) for r in plan.resources if r.type.startswith("azure-native:")
             for key in keys({k: v for k, v in r.inputs.items() if k != "tags"}) if "_" in key}
    assert snake == set()


# --- dev ---------------------------------------------------------------------------------------

def test_dev_is_standard_v2_plain_http_one_workload_node_no_zones_no_waf_no_locks(plan_of):
    dev = plan_of("azure-dev")
    gateway = inputs(dev, APP_GATEWAY, "apigw-appgw")
    assert gateway["sku"] == {"name": "Standard_v2", "tier": "Standard_v2"}
    assert "zones" not in gateway and "firewallPolicy" not in gateway and "sslCertificates" not in gateway
    assert [(listener["name"], listener["protocol"]) for listener in gateway["httpListeners"]] == [("http", "Http")]
    assert [r["backendAddressPool"]["id"].rsplit("/", 1)[1] for r in gateway["requestRoutingRules"]] == ["gateway"]
    pool = inputs(dev, AGENT_POOL, "apigw-aks-workloads")
    assert (pool["minCount"], pool["maxCount"], "availabilityZones" in pool) == (1.0, 3.0, False)
    assert dev.by_type(LOCK) == [] and dev.by_type(WAF) == [] and dev.by_type(ALERT) == []
    assert "addonProfiles" not in inputs(dev, CLUSTER, "apigw-aks") or \
        inputs(dev, CLUSTER, "apigw-aks")["addonProfiles"] == {}


# --- a network handed out by the platform team ---------------------------------------------------

HUB = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/network/providers/Microsoft.Network/" \
      "virtualNetworks/hub/subnets/{}"


def test_existing_subnets_are_used_and_no_network_is_created():
    from tests.conftest import variant_config
    from tools.offline import run_program

    def change(config):
        config["apigw:azure"] = {**config["apigw:azure"], "application_gateway_subnet_id": HUB.format("appgw"),
                                 "aks_subnet_id": HUB.format("aks"), "application_gateway_subnet_cidr": "10.50.0.0/24",
                                 "aks_subnet_cidr": "10.50.16.0/20"}
    plan = run_program(STACK, variant_config(STACK, change))
    assert [r for r in plan.resources if r.type.startswith("azure-native:network:")
            and r.type.rsplit(":", 1)[1] in ("VirtualNetwork", "Subnet", "NetworkSecurityGroup")] == []
    cluster = inputs(plan, CLUSTER, "apigw-aks")
    assert cluster["agentPoolProfiles"][0]["vnetSubnetID"] == HUB.format("aks")
    assert inputs(plan, AGENT_POOL, "apigw-aks-workloads")["vnetSubnetID"] == HUB.format("aks")
    assert inputs(plan, ROLE, "apigw-aks-network")["scope"] == HUB.format("aks")
    gateway = inputs(plan, APP_GATEWAY, "apigw-appgw")
    assert gateway["gatewayIPConfigurations"] == [{"name": "subnet", "subnet": {"id": HUB.format("appgw")}}]
    # The gateway's address defaults into the given AKS range, and the NetworkPolicy admits the given gateway range.
    assert gateway["backendAddressPools"][0]["backendAddresses"] == [{"ipAddress": "10.50.31.254"}]
    assert inputs(plan, POLICY, "apigw-network-allow-lb-to-gateway")["spec"]["ingress"][0]["from"] == [
        {"ipBlock": {"cidr": "10.50.0.0/24"}}]


def test_the_stack_outputs_name_the_address_the_fqdn_and_the_cluster():
    from components.azure.platform import build
    from components.spec import parse_spec
    from tools.offline import capture, project_keys, stack_config
    spec = parse_spec(project_keys(stack_config(STACK)))
    found = {}

    def program():
        outputs = build(spec)
        for key, value in outputs.items():
            value.apply(lambda v, key=key: found.__setitem__(key, v))

    capture(program, stack=STACK, config=stack_config(STACK))
    assert found == {
        "public_ip_address": "203.0.113.10",
        "fqdn": found["fqdn"], "url": f"https://{found['fqdn']}",
        "cluster": "apigw-azure-prod", "resource_group": "apigw-prod", "namespace": "apigw",
        "application_insights_connection_string": found["application_insights_connection_string"]}
    assert found["fqdn"].startswith("apigw-prod.") and found["fqdn"].endswith(".westeurope.cloudapp.azure.com")
    assert found["application_insights_connection_string"].startswith("InstrumentationKey=")
