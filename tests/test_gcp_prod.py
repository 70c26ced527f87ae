"""gcp-prod (and gcp-dev) under mocks: exact inputs by type token (wire names: camelCase, numbers as floats)."""
from __future__ import annotations

import json

import pytest
import yaml

from components.gateway.nginx import BALANCER_TIMEOUT_S, KEEPALIVE_TIMEOUT_S, PROXY_READ_TIMEOUT_S
from tests.conftest import variant_config
from tools.mocks.gcp import ADDRESS, ENDPOINT
from tools.mocks.gcp import _hex as mock_hex
from tools.offline import run_program

STACK = "gcp-prod"
PROJECT = "my-platform-prod"
ZONES = ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
NEG = "apigw-prod-gateway"
HC_RANGES = ["35.191.0.0/16", "130.211.0.0/22"]
LABELS = {"cost-center": "api", "managed-by": "pulumi", "phase": "prod", "project": "apigw", "stack": "gcp-prod",
          "team": "platform"}

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BACKEND = "gcp:compute/backendService:BackendService"
HEALTH = "gcp:compute/healthCheck:HealthCheck"
URL_MAP = "gcp:compute/uRLMap:URLMap"
ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"
FIREWALL = "gcp:compute/firewall:Firewall"
RULE = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
SERVICE = "kubernetes:core/v1:Service"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


@pytest.fixture(scope="module")
def plan(plan_of):
    return plan_of(STACK)


def inputs(plan, token, name):
    return plan.one(token, name).inputs


# --- GKE ---------------------------------------------------------------------------------------

def test_cluster_is_regional_over_three_zones_private_shielded_dataplane_v2_and_protected(plan):
    cluster = inputs(plan, CLUSTER, "apigw-gke")
    expected = {
        "name": "apigw-gcp-prod", "location": "europe-west1", "nodeLocations": ZONES,
        "removeDefaultNodePool": True, "initialNodeCount": 1.0, "networkingMode": "VPC_NATIVE",
        "ipAllocationPolicy": {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"},
        "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": False},
        "releaseChannel": {"channel": "STABLE"}, "workloadIdentityConfig": {"workloadPool": f"{PROJECT}.svc.id.goog"},
        "datapathProvider": "ADVANCED_DATAPATH",
        "monitoringConfig": {"enableComponents": ["SYSTEM_COMPONENTS"], "managedPrometheus": {"enabled": True}},
        "addonsConfig": {"httpLoadBalancing": {"disabled": False}}, "enableShieldedNodes": True,
        "deletionProtection": True, "resourceLabels": LABELS, "project": PROJECT,
    }
    assert {k: cluster[k] for k in expected} == expected
    assert "masterAuthorizedNetworksConfig" not in cluster


def test_node_pool_autoscales_per_zone_balanced_with_repair_upgrade_and_a_dedicated_account(plan):
    pool = inputs(plan, NODE_POOL, "apigw-gke-workloads")
    account = "apigw-gcp-prod-nodes@my-platform-prod.iam.gserviceaccount.com"
    assert pool["autoscaling"] == {"minNodeCount": 1.0, "maxNodeCount": 5.0, "locationPolicy": "BALANCED"}
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert pool["nodeConfig"] == {
        "machineType": "e2-standard-4", "serviceAccount": account,
        "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
        "shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": True},
        "workloadMetadataConfig": {"mode": "GKE_METADATA"}, "tags": ["apigw-prod-nodes"], "labels": LABELS,
        "resourceLabels": LABELS}
    assert (pool["location"], pool["cluster"]) == ("europe-west1",
                                                   f"projects/{PROJECT}/locations/europe-west1/clusters/apigw-gcp-prod")
    assert inputs(plan, "gcp:projects/iAMMember:IAMMember", "apigw-gke-nodes-role") == {
        "project": PROJECT, "role": "roles/container.defaultNodeServiceAccount", "member": f"serviceAccount:{account}"}
    assert not account.startswith(("default", "1")) and "compute@developer" not in account


def test_kubernetes_provider_is_a_secret_kubeconfig_from_the_endpoint_and_ca(plan):
    [provider] = plan.by_type("pulumi:providers:kubernetes")
    secret = provider.inputs["kubeconfig"]
    assert secret["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
    config = yaml.safe_load(secret["value"])
    assert config["clusters"][0]["cluster"]["server"] == f"https://{ENDPOINT}"
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    k8s_objects = [r for r in plan.resources if r.type.startswith("kubernetes:")]
    assert k8s_objects and {r.provider.split("::")[3] for r in k8s_objects} == {"apigw-gke-kubernetes"}


# --- network -----------------------------------------------------------------------------------

def test_subnet_has_secondary_ranges_and_nat_serves_the_private_nodes(plan):
    subnet = inputs(plan, "gcp:compute/subnetwork:Subnetwork", "apigw-network-subnet")
    assert (subnet["ipCidrRange"], subnet["privateIpGoogleAccess"], subnet["secondaryIpRanges"]) == (
        "10.10.0.0/20", True, [{"rangeName": "pods", "ipCidrRange": "10.20.0.0/14"},
                               {"rangeName": "services", "ipCidrRange": "10.24.0.0/20"}])
    nat = inputs(plan, "gcp:compute/routerNat:RouterNat", "apigw-network-nat")
    assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    assert nat["subnetworks"][0]["sourceIpRangesToNats"] == ["ALL_IP_RANGES"]


def test_firewall_admits_googles_ranges_to_the_gateway_port_on_the_nodes_only(plan):
    rule = inputs(plan, FIREWALL, "apigw-network-lb")
    assert (rule["direction"], rule["sourceRanges"], rule["allows"], rule["targetTags"]) == (
        "INGRESS", HC_RANGES, [{"protocol": "tcp", "ports": ["8080"]}], ["apigw-prod-nodes"])
    assert rule["targetTags"] == inputs(plan, NODE_POOL, "apigw-gke-workloads")["nodeConfig"]["tags"]
    assert len(plan.by_type(FIREWALL)) == 1


# --- the path: load balancer -> NEGs -> gateway pods ---------------------------------------------

def test_gateway_service_exposes_a_named_standalone_neg_and_the_backend_service_uses_it_in_each_zone(plan):
    service = inputs(plan, SERVICE, "apigw-gateway-service")
    assert service["spec"]["type"] == "ClusterIP"
    assert json.loads(service["metadata"]["annotations"]["cloud.google.com/neg"]) == {
        "exposed_ports": {"80": {"name": NEG}}}
    assert service["spec"]["ports"][0]["port"] == 80.0
    backend = inputs(plan, BACKEND, "apigw-lb-backend")
    assert backend["backends"] == [
        {"group": f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/zones/{zone}/networkEndpointGroups/{NEG}",
         "balancingMode": "RATE",
         "maxRatePerEndpoint": 500.0} for zone in ZONES]
    assert backend["backends"] and [z["group"].split("/")[8] for z in backend["backends"]] == \
        inputs(plan, CLUSTER, "apigw-gke")["nodeLocations"]


def test_backend_service_is_external_managed_with_the_spec_algorithm_outliers_logs_and_timeouts(plan):
    backend = inputs(plan, BACKEND, "apigw-lb-backend")
    # gcp-prod runs Linkerd, which balances between the gateway and the services: the load balancer
    # spreads over the gateway pods round robin.
    expected = {"loadBalancingScheme": "EXTERNAL_MANAGED", "protocol": "HTTP", "localityLbPolicy": "ROUND_ROBIN",
                "sessionAffinity": "NONE", "timeoutSec": float(BALANCER_TIMEOUT_S),
                "connectionDrainingTimeoutSec": float(PROXY_READ_TIMEOUT_S),
                # Ejection on the gateway pods' own failures only, not on any 5xx (their services' failures).
                "outlierDetection": {"consecutiveGatewayFailure": 5.0, "enforcingConsecutiveGatewayFailure": 100.0,
                                     "enforcingConsecutiveErrors": 0.0, "enforcingSuccessRate": 0.0,
                                     "interval": {"seconds": 10.0}, "baseEjectionTime": {"seconds": 30.0},
                                     "maxEjectionPercent": 34.0},
                "logConfig": {"enable": True, "sampleRate": 1.0}}
    assert {k: backend[k] for k in expected} == expected
    assert BALANCER_TIMEOUT_S > PROXY_READ_TIMEOUT_S and KEEPALIVE_TIMEOUT_S > 600   # GCP reuses connections 600 s
    refs = plan.one(BACKEND, "apigw-lb-backend").property_dependencies
    assert refs["healthChecks"] == [plan.one(HEALTH, "apigw-lb-health").urn]
    assert refs["securityPolicy"] == [plan.one(ARMOR, "apigw-lb-armor").urn]


@pytest.mark.parametrize("algorithm, policy, affinity", [("least_outstanding_requests", "LEAST_REQUEST", "NONE"),
                                                         ("source_ip_hash", "RING_HASH", "CLIENT_IP")])
def test_without_a_mesh_the_load_balancer_applies_the_spec_algorithm(algorithm, policy, affinity):
    def change(config):
        config["apigw:mesh"] = "none"
        config["apigw:load_balancer"]["algorithm"] = algorithm
    backend = inputs(run_program(STACK, variant_config(STACK, change)), BACKEND, "apigw-lb-backend")
    assert (backend["localityLbPolicy"], backend["sessionAffinity"]) == (policy, affinity)


def test_health_check_comes_from_the_spec_on_the_serving_port(plan):
    assert {k: v for k, v in inputs(plan, HEALTH, "apigw-lb-health").items() if k != "project"} == {
        "checkIntervalSec": 10.0, "timeoutSec": 3.0, "healthyThreshold": 2.0, "unhealthyThreshold": 3.0,
        "httpHealthCheck": {"portSpecification": "USE_SERVING_PORT", "requestPath": "/healthz"},
        "logConfig": {"enable": True}}


def test_network_policy_admits_googles_ranges_only(plan):
    policy = inputs(plan, POLICY, "apigw-network-allow-lb-to-gateway")
    assert policy["spec"]["ingress"] == [{"from": [{"ipBlock": {"cidr": cidr}} for cidr in HC_RANGES],
                                          "ports": [{"port": 8080.0, "protocol": "TCP"}]}]


def test_https_with_a_managed_certificate_and_a_modern_tls_policy_and_http_redirects(plan):
    https = plan.one("gcp:compute/targetHttpsProxy:TargetHttpsProxy", "apigw-lb-https")
    assert https.property_dependencies["urlMap"] == [plan.one(URL_MAP, "apigw-lb-urls").urn]
    assert inputs(plan, "gcp:compute/managedSslCertificate:ManagedSslCertificate", "apigw-lb-certificate")[
        "managed"] == {"domains": ["api.example.com"]}
    assert {k: v for k, v in inputs(plan, "gcp:compute/sSLPolicy:SSLPolicy", "apigw-lb-tls").items()
            if k != "project"} == {"profile": "MODERN", "minTlsVersion": "TLS_1_2"}
    assert inputs(plan, URL_MAP, "apigw-lb-redirect")["defaultUrlRedirect"] == {
        "httpsRedirect": True, "stripQuery": False, "redirectResponseCode": "MOVED_PERMANENTLY_DEFAULT"}
    http = plan.one("gcp:compute/targetHttpProxy:TargetHttpProxy", "apigw-lb-http")
    assert http.property_dependencies["urlMap"] == [plan.one(URL_MAP, "apigw-lb-redirect").urn]
    rules = {r.name: r.inputs for r in plan.by_type(RULE)}
    assert {n: (r["portRange"], r["loadBalancingScheme"]) for n, r in rules.items()} == {
        "apigw-lb-https": ("443", "EXTERNAL_MANAGED"), "apigw-lb-http": ("80", "EXTERNAL_MANAGED")}
    address = plan.one("gcp:compute/globalAddress:GlobalAddress", "apigw-lb-ip").urn
    assert all(r.property_dependencies["ipAddress"] == [address] for r in plan.by_type(RULE))


def test_cloud_armor_denies_the_preconfigured_attacks_and_bans_clients_over_the_rate(plan):
    rules = inputs(plan, ARMOR, "apigw-lb-armor")["rules"]
    waf = [r["match"]["expr"]["expression"] for r in rules if r["action"] == "deny(403)"]
    assert waf[0] == "evaluatePreconfiguredWaf('sqli-v33-stable', {'sensitivity': 1})" and len(waf) == 9
    [ban] = [r for r in rules if r["action"] == "rate_based_ban"]
    assert ban["rateLimitOptions"] == {"conformAction": "allow", "exceedAction": "deny(429)", "enforceOnKey": "IP",
                                       "rateLimitThreshold": {"count": 6000.0, "intervalSec": 60.0},
                                       "banDurationSec": 600.0}
    assert rules[-1] == {"priority": 2147483647.0, "action": "allow", "description": "Default: allow",
                         "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}}}
    assert inputs(plan, ARMOR, "apigw-lb-armor")["type"] == "CLOUD_ARMOR"


def test_alerts_on_5xx_ratio_and_latency_reach_the_channel_and_an_uptime_check_probes_the_url(plan):
    url_map = plan.one(URL_MAP, "apigw-lb-urls")
    errors = inputs(plan, "gcp:monitoring/alertPolicy:AlertPolicy", "apigw-alerts-5xx")
    threshold = errors["conditions"][0]["conditionThreshold"]
    assert threshold["thresholdValue"] == 0.05 and threshold["comparison"] == "COMPARISON_GT"
    assert threshold["filter"].endswith("AND metric.labels.response_code_class = 500")
    assert 'resource.labels.url_map_name = "apigw-lb-urls-' in threshold["denominatorFilter"]
    assert errors["notificationChannels"] == ["projects/my-platform-prod/notificationChannels/1234567890"]
    latency = inputs(plan, "gcp:monitoring/alertPolicy:AlertPolicy", "apigw-alerts-latency")
    threshold = latency["conditions"][0]["conditionThreshold"]
    assert threshold["aggregations"][0]["perSeriesAligner"] == "ALIGN_PERCENTILE_99"
    assert threshold["thresholdValue"] == 1000.0
    uptime = inputs(plan, "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig", "apigw-alerts-uptime")
    assert uptime["httpCheck"] == {"path": "/healthz", "port": 443.0, "useSsl": True, "validateSsl": True}
    assert uptime["monitoredResource"] == {"type": "uptime_url",
                                           "labels": {"project_id": PROJECT, "host": "api.example.com"}}
    assert url_map.urn in plan.one("gcp:monitoring/alertPolicy:AlertPolicy", "apigw-alerts-5xx").dependencies
    down = inputs(plan, "gcp:monitoring/alertPolicy:AlertPolicy", "apigw-alerts-uptime")["conditions"][0]
    check_id = f"apigw-alerts-uptime-{mock_hex('apigw-alerts-uptime', 8)}"   # the mock's uptimeCheckId
    assert down["conditionThreshold"]["filter"] == (
        'metric.type = "monitoring.googleapis.com/uptime_check/check_passed" AND '
        f'metric.labels.check_id = "{check_id}" AND resource.type = "uptime_url"')
    assert down["conditionThreshold"]["aggregations"][0]["crossSeriesReducer"] == "REDUCE_COUNT_FALSE"
    assert plan.one("gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig", "apigw-alerts-uptime").urn in \
        plan.one("gcp:monitoring/alertPolicy:AlertPolicy", "apigw-alerts-uptime").dependencies


# --- destroy order -----------------------------------------------------------------------------

def test_the_backend_service_goes_before_the_gateway_service_which_goes_before_the_cluster_and_network(plan):
    """`pulumi destroy` deletes dependents first: the backend service (which uses the NEGs), then the
    gateway Service (GKE's NEG finalizer deletes the NEGs before the Service is gone), then the
    cluster and its network. A NEG left behind would keep the subnet from being deleted."""
    service = plan.one(SERVICE, "apigw-gateway-service")
    lb = next(r for r in plan.resources if r.type == "apigw:gcp:LoadBalancer")
    assert service.urn in lb.dependencies
    provider = plan.by_type("pulumi:providers:kubernetes")[0]
    assert service.provider.startswith(provider.urn)
    cluster = plan.one(CLUSTER, "apigw-gke")
    assert cluster.urn in provider.dependencies
    subnet = plan.one("gcp:compute/subnetwork:Subnetwork", "apigw-network-subnet")
    assert subnet.urn in cluster.property_dependencies["subnetwork"]
    # GKE's NEG controller may not delete the NEGs before the cluster goes: `apigw-negs-cleanup` does,
    # after the workloads (which depend on it) and before the cluster (which it depends on).
    negs = {r.name: r for r in plan.by_type("pulumi-python:dynamic/gcp:NetworkEndpointGroups")}
    workloads = next(r for r in plan.resources if r.type == "apigw:kubernetes:Workloads")
    assert negs["apigw-negs-cleanup"].urn in workloads.dependencies
    assert plan.one(NODE_POOL, "apigw-gke-workloads").urn in negs["apigw-negs-cleanup"].dependencies
    assert (negs["apigw-negs-cleanup"].inputs["action"], negs["apigw-negs"].inputs["action"]) == ("cleanup", "await")
    # ...and the backend service is created once GKE has made the NEGs it names.
    assert negs["apigw-negs"].urn in lb.dependencies and service.urn in negs["apigw-negs"].dependencies
    assert {k: negs["apigw-negs"].inputs[k] for k in ("project", "name", "zones")} == {
        "project": PROJECT, "name": NEG, "zones": ZONES}


# --- dev, and a network handed out by the platform team -----------------------------------------

def test_dev_is_a_zonal_plain_http_cluster_without_armor_alerts_or_protection(plan_of):
    dev = plan_of("gcp-dev")
    cluster = inputs(dev, CLUSTER, "apigw-gke")
    # A zonal cluster does not repeat its own zone in nodeLocations (GKE refuses it); the pool names it.
    assert (cluster["location"], "nodeLocations" in cluster, cluster["deletionProtection"]) == (
        "europe-west1-b", False, False)
    assert inputs(dev, NODE_POOL, "apigw-gke-workloads")["nodeLocations"] == ["europe-west1-b"]
    backend = inputs(dev, BACKEND, "apigw-lb-backend")
    assert [b["group"].split("/")[8] for b in backend["backends"]] == ["europe-west1-b"]
    assert "securityPolicy" not in backend and backend["localityLbPolicy"] == "ROUND_ROBIN"
    assert dev.by_type(ARMOR) == [] and dev.by_type("gcp:compute/targetHttpsProxy:TargetHttpsProxy") == []
    assert dev.by_type("gcp:monitoring/alertPolicy:AlertPolicy") == []
    http = dev.one("gcp:compute/targetHttpProxy:TargetHttpProxy", "apigw-lb-http")
    assert http.property_dependencies["urlMap"] == [dev.one(URL_MAP, "apigw-lb-urls").urn]


def test_an_existing_shared_vpc_is_used_and_only_the_firewall_rule_is_created():
    network = "projects/host-project/global/networks/shared"
    subnetwork = "projects/host-project/regions/europe-west1/subnetworks/gke"

    def change(config):
        config["apigw:gcp"] = {**config["apigw:gcp"], "network": network, "subnetwork": subnetwork,
                               "pods_range_name": "gke-pods", "services_range_name": "gke-services"}
    plan = run_program(STACK, variant_config(STACK, change))
    created = {r.type for r in plan.resources if r.type.startswith("gcp:compute/")}
    assert not created & {"gcp:compute/network:Network", "gcp:compute/subnetwork:Subnetwork",
                          "gcp:compute/router:Router", "gcp:compute/routerNat:RouterNat"}
    firewall = inputs(plan, FIREWALL, "apigw-network-lb")
    assert (firewall["network"], firewall["project"]) == (network, "host-project")  # rules live in the host project
    cluster = inputs(plan, CLUSTER, "apigw-gke")
    assert (cluster["network"], cluster["subnetwork"], cluster["ipAllocationPolicy"]) == (
        network, subnetwork, {"clusterSecondaryRangeName": "gke-pods", "servicesSecondaryRangeName": "gke-services"})


def test_the_stack_outputs_name_the_address_the_url_and_the_cluster():
    from components.gcp.platform import build
    from components.spec import parse_spec
    from tools.offline import capture, project_keys, stack_config
    spec = parse_spec(project_keys(stack_config(STACK)))
    found = {}

    def program():
        for key, value in build(spec).items():
            value.apply(lambda v, key=key: found.__setitem__(key, v))

    capture(program, stack=STACK, config=stack_config(STACK))
    assert found == {"ip_address": ADDRESS, "url": "https://api.example.com", "cluster": "apigw-gcp-prod",
                     "namespace": "apigw"}
