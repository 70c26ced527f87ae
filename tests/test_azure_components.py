"""The Azure components on their own (a program filling the Args by hand), and the pure helpers."""
from __future__ import annotations

import base64

import pytest
import yaml

from components.azure.args import ApplicationGatewayArgs, Placement, ProbeArgs, TelemetryArgs, WafArgs
from components.azure.cluster import exec_kubeconfig
from components.azure.network import security_rules
from components.spec import parse_spec
from tools.mocks.azure import AKS_SERVER_ID, TENANT_ID
from tools.mocks.azure import exec_kubeconfig as aks_answer
from tools.offline import capture

CLUSTER_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c"
WORKSPACE_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"
PLACEMENT = Placement(resource_group_name="rg", location="westeurope", tags={"team": "platform"})


def gateway_args(**changes) -> ApplicationGatewayArgs:
    fields = dict(placement=PLACEMENT, name="edge", subscription_id="s", subnet_id="subnet", backend_ip="10.0.16.10")
    fields.update(changes)
    return ApplicationGatewayArgs(**fields)


# --- kubelogin ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["azurecli", "workloadidentity"])
def test_the_kubeconfig_logs_in_without_a_person_at_the_keyboard(mode):
    config = yaml.safe_load(exec_kubeconfig(aks_answer("c"), mode))
    [user] = config["users"]
    assert user["user"]["exec"]["args"] == ["get-token", "--login", mode, "--server-id", AKS_SERVER_ID]
    assert user["user"]["exec"]["command"] == "kubelogin"
    assert config["clusters"][0]["cluster"]["server"] == "https://c-offline.hcp.westeurope.azmk8s.io:443"


def test_devicecode_keeps_what_aks_returned():
    original = yaml.safe_load(base64.b64decode(aks_answer("c")))
    assert yaml.safe_load(exec_kubeconfig(aks_answer("c"), "devicecode")) == original
    assert "--tenant-id" in original["users"][0]["user"]["exec"]["args"]
    assert TENANT_ID in original["users"][0]["user"]["exec"]["args"]


def test_an_unknown_login_is_refused():
    with pytest.raises(ValueError,
                       match="kubelogin_mode: 'browser' is not one of azurecli, workloadidentity, devicecode"):
        exec_kubeconfig(aks_answer("c"), "browser")


# --- network -----------------------------------------------------------------------------------

def test_the_application_gateway_subnet_opens_the_listener_ports_it_serves():
    assert [(r["name"], r["destination_port_ranges"]) for r in security_rules([443, 80])] == [
        ("allow-clients", ["80", "443"]), ("allow-gateway-manager", ["65200-65535"]),
        ("allow-azure-load-balancer", ["*"])]


# --- Application Gateway -----------------------------------------------------------------------

def test_bad_application_gateway_args_are_refused_before_anything_registers():
    refused = {}

    def program():
        from components.azure.application_gateway import ApplicationGateway
        with pytest.raises(ValueError) as err:
            ApplicationGateway("edge", gateway_args(probe=ProbeArgs(unhealthy_threshold=25), min_capacity=3,
                                                    max_capacity=2, waf=WafArgs(mode="Block")))
        refused["message"] = str(err.value)

    plan = capture(program)
    assert plan.resources == []
    assert refused["message"] == (
        "ApplicationGatewayArgs: probe.unhealthy_threshold: 25 is not an integer from 1 to 20; "
        "min_capacity: 3 is above max_capacity 2; waf.mode: 'Block' is not one of Prevention, Detection")


def test_a_gateway_of_its_own_without_tls_serves_http_and_forwards_with_the_client_address():
    def program():
        from components.azure.application_gateway import ApplicationGateway
        ApplicationGateway("edge", gateway_args())

    plan = capture(program)
    gateway = plan.one("azure-native:network:ApplicationGateway", "edge").inputs
    base = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/edge"
    assert gateway["requestRoutingRules"] == [{
        "name": "http", "priority": 200.0, "ruleType": "Basic", "httpListener": {"id": f"{base}/httpListeners/http"},
        "backendAddressPool": {"id": f"{base}/backendAddressPools/gateway"},
        "backendHttpSettings": {"id": f"{base}/backendHttpSettingsCollection/gateway"},
        "rewriteRuleSet": {"id": f"{base}/rewriteRuleSets/client-address"}}]
    assert gateway["sku"] == {"name": "Standard_v2", "tier": "Standard_v2"}
    assert plan.one("azure-native:network:PublicIPAddress", "edge-ip").inputs["publicIpAddressName"] == "edge-ip"
    assert plan.by_type("azure-native:authorization:ManagementLockByScope") == []


def test_a_small_gateway_body_limit_is_enforced_by_the_waf_too():
    def program():
        from components.azure.application_gateway import ApplicationGateway
        ApplicationGateway("edge", gateway_args(waf=WafArgs(max_body_mib=1)))

    settings = capture(program).one("azure-native:network:WebApplicationFirewallPolicy", "edge-waf") \
        .inputs["policySettings"]
    assert (settings["maxRequestBodySizeInKb"], settings["requestBodyInspectLimitInKB"],
            settings["requestBodyEnforcement"], settings["fileUploadLimitInMb"]) == (1024.0, 1024.0, True, 1.0)


# --- telemetry ---------------------------------------------------------------------------------

def test_container_insights_and_managed_prometheus_get_their_data_collection_rules():
    def program():
        from components.azure.telemetry import ClusterTelemetry
        ClusterTelemetry("t", TelemetryArgs(placement=PLACEMENT, cluster_id=CLUSTER_ID, workspace_id=WORKSPACE_ID))

    plan = capture(program)
    insights = plan.one("azure-native:monitor:DataCollectionRule", "t-container-insights").inputs
    assert insights["dataSources"] == {"extensions": [{
        "name": "ContainerInsightsExtension", "extensionName": "ContainerInsights",
        "streams": ["Microsoft-ContainerInsights-Group-Default"],
        "extensionSettings": {"dataCollectionSettings": {"interval": "1m", "namespaceFilteringMode": "Off",
                                                         "enableContainerLogV2": True}}}]}
    assert insights["destinations"] == {"logAnalytics": [{"name": "workspace", "workspaceResourceId": WORKSPACE_ID}]}
    prometheus = plan.one("azure-native:monitor:DataCollectionRule", "t-prometheus")
    assert prometheus.inputs["dataFlows"] == [{"streams": ["Microsoft-PrometheusMetrics"],
                                              "destinations": ["MonitoringAccount"]}]
    assert prometheus.property_dependencies["destinations"] == [
        plan.one("azure-native:monitor:AzureMonitorWorkspace", "t-prometheus").urn]
    associations = {r.name: r.inputs for r in plan.by_type("azure-native:monitor:DataCollectionRuleAssociation")}
    assert {name: (a["resourceUri"], a["associationName"]) for name, a in associations.items()} == {
        "t-container-insights": (CLUSTER_ID, "ContainerInsightsExtension"),
        "t-prometheus": (CLUSTER_ID, "prometheus"),
        "t-endpoint": (CLUSTER_ID, "configurationAccessEndpoint")}
    assert "dataCollectionEndpointId" in associations["t-endpoint"]


def test_labels_that_azure_tags_cannot_carry_are_refused():
    from components.spec import SpecError
    with pytest.raises(SpecError) as err:
        parse_spec({"target": "azure", "phase": "dev", "labels": {"example.com/team": "a"},
                    "services": {"users-api": {"image": "traefik/whoami:v1.10.3", "port": 8080}}})
    assert [str(p) for p in err.value.problems] == [
        "labels.example.com/team: found 'example.com/team'; allowed: an Azure tag name: at most 512 characters, none "
        "of < > % & \\ ? / (labels are also the Azure resources' tags)"]
