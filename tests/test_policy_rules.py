"""Every rule through the real analyzer protocol (the pack started as the Pulumi CLI starts it).

Each target has a compliant baseline: the captured resources of the shipped kubernetes-prod and
aws-prod stacks, and hand-written AKS and GKE resources in provider wire form next to the same
Kubernetes workloads (azure and gcp run them, without the Ingress: on azure the Application
Gateway reaches the gateway through an internal LoadBalancer Service pinned at its pool address;
on gcp the backend service lists the per-zone NEGs that the ClusterIP gateway Service's
cloud.google.com/neg annotation names). The Kubernetes workloads run Istio (kubernetes-prod sets
`mesh: istio`; `with_istio` keeps the baseline on Istio whatever mesh the shipped stack picks);
the mesh rules' cases are in tests/test_policy_mesh.py. Each case changes one property and asserts the
violation: the rule, the resource and the message naming the property, the value and what passes.
"""
from __future__ import annotations

import copy
import json

import pytest

from policies.rules import types as T
from tools.check import UNKNOWN, PolicyPackProcess, Resource
from tools.offline import stack_names

PROJECT, STACK = "apigw", "policy-test"
DIGEST = "security-image-digest"  # advisory everywhere; every baseline image is pinned by tag only


def urn(type_token: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{type_token}::{name}"


def R(type_token: str, name: str, props: dict, deps: dict[str, list[Resource]] | None = None,
      protect: bool = False) -> Resource:
    prop_deps = {k: [d.urn for d in v] for k, v in (deps or {}).items()}
    return Resource(urn=urn(type_token, name), type=type_token, name=name, properties=props,
                    dependencies=sorted({u for us in prop_deps.values() for u in us}),
                    property_dependencies=prop_deps, protect=protect)


def start(phase: str, target: str = "kubernetes", pack_config: dict | None = None) -> PolicyPackProcess:
    return PolicyPackProcess({f"{PROJECT}:phase": phase, f"{PROJECT}:target": target}, PROJECT, STACK,
                             pack_config=pack_config).connect()


@pytest.fixture(scope="module")
def prod():
    pack = start("prod")
    yield pack
    pack.close()


def run(pack: PolicyPackProcess, resources: list[Resource]):
    by_urn = {r.urn: r for r in resources}
    found = [v for r in resources for v in pack.analyze(r, by_urn)]
    return found + pack.analyze_stack(resources)


def findings(pack, resources, keep_digest=False):
    return [v for v in run(pack, resources) if keep_digest or v.policy != DIGEST]


def one(resources: list[Resource], name: str, type_token: str | None = None) -> Resource:
    matches = [r for r in resources if r.name == name and type_token in (None, r.type)]
    assert len(matches) == 1, f"{name}: {[r.name for r in resources]}"
    return matches[0]


def of_type(resources: list[Resource], type_token: str) -> Resource:
    return next(r for r in resources if r.type == type_token)


# --- baselines -------------------------------------------------------------------------------

def captured(plan_of, stack: str) -> list[Resource]:
    return [Resource.from_captured(r) for r in copy.deepcopy(plan_of(stack).resources)]


ISTIO_POLICY = "apigw-istio-strict-mtls"
"""The mesh-wide STRICT PeerAuthentication (`default` in istio-system) `with_istio` adds when there is none."""


def with_istio(resources: list[Resource]) -> list[Resource]:
    """The workloads with `mesh: istio`: each Namespace holding Deployments labelled istio-injection:
    enabled (unless it already injects a mesh) and, when no PeerAuthentication is there, a mesh-wide
    STRICT one in istio-system. A captured stack that already runs Istio (kubernetes-prod) is left as it is."""
    held = {(r.properties.get("metadata") or {}).get("namespace") or "default"
            for r in resources if r.type == T.K8S_DEPLOYMENT}
    for ns in (r for r in resources if r.type == T.K8S_NAMESPACE and r.properties["metadata"].get("name") in held):
        labels = ns.properties["metadata"].setdefault("labels", {})
        annotations = ns.properties["metadata"].get("annotations") or {}
        if labels.get("istio-injection") != "enabled" and not labels.get("istio.io/rev") \
                and annotations.get("linkerd.io/inject") != "enabled":
            labels["istio-injection"] = "enabled"
    if not any(r.type in T.K8S_PEER_AUTHENTICATIONS for r in resources):
        resources.append(peer_authentication(ISTIO_POLICY, "default", "istio-system", "STRICT"))
    return resources


def peer_authentication(name: str, k8s_name: str, namespace: str, mode, token: str = T.K8S_PEER_AUTHENTICATION,
                        **spec) -> Resource:
    """A PeerAuthentication as the kubernetes provider sends a CustomResource's inputs."""
    version = token.split(":")[1].split("/")[1]
    return R(token, name, {"apiVersion": f"security.istio.io/{version}", "kind": "PeerAuthentication",
                           "metadata": {"name": k8s_name, "namespace": namespace},
                           "spec": {**({"mtls": {"mode": mode}} if mode else {}), **spec}})


@pytest.fixture
def k8s(plan_of):
    """kubernetes-prod as captured, on Istio (tests/test_policy_mesh.py turns it off and changes it)."""
    return with_istio(captured(plan_of, "kubernetes-prod"))


@pytest.fixture
def aws(plan_of):
    if "aws-prod" not in stack_names():
        pytest.skip("no aws-prod stack yet")
    return captured(plan_of, "aws-prod")


GATEWAY_IP = "10.224.15.250"
"""The address the Azure gateway Service pins for its internal load balancer: the Application Gateway's pool."""


def azure_resources() -> list[Resource]:
    sub = "/subscriptions/0000/resourceGroups/apigw/providers/Microsoft.Network/applicationGateways/apigw"
    cluster = R(T.AZ_MANAGED_CLUSTER, "apigw-aks", {
        "resourceGroupName": "apigw", "dnsPrefix": "apigw",
        "agentPoolProfiles": [{"name": "system", "mode": "System", "vmSize": "Standard_D4s_v5",
                               "enableAutoScaling": True, "count": 3.0, "minCount": 3.0, "maxCount": 6.0,
                               "availabilityZones": ["1", "2", "3"], "enableNodePublicIP": False}]})
    pool = R(T.AZ_AGENT_POOL, "apigw-aks-workloads", {
        "resourceGroupName": "apigw", "resourceName": UNKNOWN, "mode": "User", "vmSize": "Standard_D4s_v5",
        "enableAutoScaling": True, "count": 3.0, "minCount": 3.0, "maxCount": 12.0,
        "availabilityZones": ["1", "2", "3"], "enableNodePublicIP": False}, {"resourceName": [cluster]})
    gateway = R(T.AZ_APP_GATEWAY, "apigw-appgw", {
        "resourceGroupName": "apigw", "sku": {"name": "WAF_v2", "tier": "WAF_v2"}, "zones": ["1", "2", "3"],
        "autoscaleConfiguration": {"minCapacity": 2.0, "maxCapacity": 10.0},
        "firewallPolicy": {"id": f"{sub}/../firewallPolicies/apigw"},
        "backendAddressPools": [{"name": "gateway", "backendAddresses": [{"ipAddress": GATEWAY_IP}]}],
        "probes": [{"name": "gateway", "protocol": "Http", "path": "/healthz", "interval": 10.0}],
        "backendHttpSettingsCollection": [{"name": "gateway", "port": 80.0, "protocol": "Http",
                                           "probe": {"id": f"{sub}/probes/gateway"}}],
        "httpListeners": [{"name": "https", "protocol": "Https", "sslCertificate": {"id": f"{sub}/sslCertificates/api"},
                           "frontendPort": {"id": f"{sub}/frontendPorts/https"}},
                          {"name": "http", "protocol": "Http", "frontendPort": {"id": f"{sub}/frontendPorts/http"}}],
        "requestRoutingRules": [
            {"name": "https", "priority": 100.0, "ruleType": "Basic",
             "httpListener": {"id": f"{sub}/httpListeners/https"},
             "backendAddressPool": {"id": f"{sub}/backendAddressPools/gateway"},
             "backendHttpSettings": {"id": f"{sub}/backendHttpSettingsCollection/gateway"}},
            {"name": "http-redirect", "priority": 200.0, "ruleType": "Basic",
             "httpListener": {"id": f"{sub}/httpListeners/http"},
             "redirectConfiguration": {"id": f"{sub}/redirectConfigurations/to-https"}}]})
    lock = R(T.AZ_LOCK_BY_SCOPE, "apigw-appgw-lock", {"level": "CanNotDelete", "scope": UNKNOWN},
             {"scope": [gateway]})
    return [cluster, pool, gateway, lock]


GCP_NEG = "apigw-gcp-prod-gateway"
"""The standalone NEG the gateway Service's cloud.google.com/neg annotation asks GKE for (one per zone)."""
GCP_ZONES = ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
COMPUTE = "https://www.googleapis.com/compute/v1/projects/my-project"
GCP_SECURITY_POLICY = "gcp:compute/securityPolicy:SecurityPolicy"
GCP_HEALTH_CHECK = "gcp:compute/healthCheck:HealthCheck"
GCP_FORWARDING_RULE = "gcp:compute/globalForwardingRule:GlobalForwardingRule"


def neg_group(zone: str, name: str = GCP_NEG, kind: str = "networkEndpointGroups") -> str:
    return f"{COMPUTE}/zones/{zone}/{kind}/{name}"


def gcp_resources() -> list[Resource]:
    """GKE and an external Application Load Balancer as a preview sends them: links between the
    resources are unknown values with the dependency the engine records; the NEG URLs are known."""
    cluster = R(T.GCP_CLUSTER, "apigw-gke", {
        "location": "europe-west1", "nodeLocations": GCP_ZONES, "removeDefaultNodePool": True,
        "initialNodeCount": 1.0, "deletionProtection": True,
        "privateClusterConfig": {"enablePrivateNodes": True, "masterIpv4CidrBlock": "172.16.0.0/28"}})
    pool = R(T.GCP_NODE_POOL, "apigw-gke-workloads", {
        "cluster": UNKNOWN, "location": "europe-west1",
        "autoscaling": {"minNodeCount": 1.0, "maxNodeCount": 3.0, "locationPolicy": "BALANCED"},
        "networkConfig": {"enablePrivateNodes": True}}, {"cluster": [cluster]})
    armor = R(GCP_SECURITY_POLICY, "apigw-armor", {"type": "CLOUD_ARMOR", "rules": [
        {"action": "deny(403)", "priority": 1000.0,
         "match": {"expr": {"expression": "evaluatePreconfiguredWaf('sqli-v33-stable')"}}},
        {"action": "allow", "priority": 2147483647.0,
         "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}}}]})
    health = R(GCP_HEALTH_CHECK, "apigw-gateway-health", {"checkIntervalSec": 10.0, "httpHealthCheck": {
        "portSpecification": "USE_SERVING_PORT", "requestPath": "/healthz"}})
    backend = R(T.GCP_BACKEND_SERVICE, "apigw-gateway-backend", {
        "protocol": "HTTP", "loadBalancingScheme": "EXTERNAL_MANAGED", "localityLbPolicy": "ROUND_ROBIN",
        "healthChecks": UNKNOWN, "securityPolicy": UNKNOWN,
        "backends": [{"group": neg_group(zone), "balancingMode": "RATE", "maxRatePerEndpoint": 100.0}
                     for zone in GCP_ZONES]}, {"healthChecks": [health], "securityPolicy": [armor]})
    urls = R(T.GCP_URL_MAP, "apigw-urls", {"defaultService": UNKNOWN}, {"defaultService": [backend]})
    https = R(T.GCP_TARGET_HTTPS_PROXY, "apigw-https", {"urlMap": UNKNOWN, "sslCertificates": ["api-cert"]},
              {"urlMap": [urls]})
    redirect = R(T.GCP_URL_MAP, "apigw-http-redirect", {"defaultUrlRedirect": {"httpsRedirect": True,
                                                                               "stripQuery": False}})
    http = R(T.GCP_TARGET_HTTP_PROXY, "apigw-http", {"urlMap": UNKNOWN}, {"urlMap": [redirect]})
    rules = [R(GCP_FORWARDING_RULE, f"apigw-{name}-rule", {
        "target": UNKNOWN, "portRange": port, "loadBalancingScheme": "EXTERNAL_MANAGED", "ipAddress": UNKNOWN},
        {"target": [proxy]}) for name, port, proxy in (("https", "443", https), ("http", "80", http))]
    return [cluster, pool, armor, health, backend, urls, https, redirect, http, *rules]


def gke_exposure(resources: list[Resource]) -> list[Resource]:
    """The kubernetes workloads as the gcp target exposes them: no Ingress; the gateway Service
    stays ClusterIP and asks GKE for a standalone NEG per zone, the backend service's groups."""
    _drop(resources, "apigw-gateway-ingress")
    service = one(resources, "apigw-gateway-service").properties
    service["metadata"]["annotations"] = {"cloud.google.com/neg": json.dumps({"exposed_ports": {"80": {
        "name": GCP_NEG}}})}
    assert service["spec"]["type"] == "ClusterIP"
    return resources


def aks_exposure(resources: list[Resource]) -> list[Resource]:
    """The kubernetes workloads as the azure target exposes them: no Ingress; the gateway Service
    is an internal load balancer pinned at the Application Gateway's pool address."""
    _drop(resources, "apigw-gateway-ingress")
    service = one(resources, "apigw-gateway-service").properties
    service["metadata"]["annotations"] = {"service.beta.kubernetes.io/azure-load-balancer-internal": "true",
                                          "service.beta.kubernetes.io/azure-load-balancer-ipv4": GATEWAY_IP}
    service["spec"].update(type="LoadBalancer", externalTrafficPolicy="Local")
    return resources


@pytest.fixture
def azure(k8s):
    return aks_exposure(k8s) + azure_resources()


@pytest.fixture
def gcp(k8s):
    return gke_exposure(k8s) + gcp_resources()


@pytest.mark.parametrize("baseline", ["k8s", "aws", "azure", "gcp"])
def test_baselines_are_compliant(prod, baseline, request):
    resources = request.getfixturevalue(baseline)
    assert findings(prod, resources) == []
    assert {v.level for v in findings(prod, resources, keep_digest=True)} <= {"advisory"}


# --- Kubernetes ------------------------------------------------------------------------------

def pod(resources, app):
    return one(resources, f"apigw-{app}-deployment").properties["spec"]["template"]["spec"]


def test_message_names_resource_property_value_and_what_passes(prod, k8s):
    one(k8s, "apigw-users-api-hpa").properties["spec"]["minReplicas"] = 1.0
    [v] = findings(prod, k8s)
    assert (v.policy, v.level, v.resource) == ("prod-min-instances", "mandatory", "apigw-users-api-hpa")
    assert v.message == ("apigw-users-api-hpa (kubernetes:autoscaling/v2:HorizontalPodAutoscaler): "
                         "spec.minReplicas is 1; prod needs at least 2 (prod-min-instances)")


def _zone(spec):
    return next(c for c in spec["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone")


def _host(spec):
    return next(c for c in spec["topologySpreadConstraints"] if c["topologyKey"] == "kubernetes.io/hostname")


def _drop(resources, name):
    resources.remove(one(resources, name))


def _ingress_backend(resources):
    return one(resources, "apigw-gateway-ingress").properties["spec"]["rules"][0]["http"]["paths"][0]["backend"][
        "service"]


K8S_CASES = {
    "deployment-replicas": (lambda rs: one(rs, "apigw-payments-api-deployment").properties["spec"].update(replicas=1.0),
                            [("prod-min-instances", "apigw-payments-api-deployment",
                              "spec.replicas is 1; prod needs at least 2")]),
    "replicas-unset": (lambda rs: one(rs, "apigw-payments-api-deployment").properties["spec"].pop("replicas"),
                       [("prod-min-instances", "apigw-payments-api-deployment",
                         "spec.replicas is not set (defaults to 1); prod needs at least 2")]),
    "gateway-hpa-2": (lambda rs: one(rs, "apigw-gateway-hpa").properties["spec"].update(minReplicas=2.0),
                      [("prod-min-instances", "apigw-gateway-hpa",
                        "spec.minReplicas is 2; prod needs at least 3 for the gateway fleet")]),
    "gateway-hpa-1": (lambda rs: one(rs, "apigw-gateway-hpa").properties["spec"].update(minReplicas=1.0),
                      [("prod-min-instances", "apigw-gateway-hpa", "spec.minReplicas is 1; prod needs at least 3"),
                       ("prod-load-balanced-gateway", "apigw-gateway-ingress",
                        "routes to apigw-gateway-deployment (kubernetes:apps/v1:Deployment), which runs 1 instance(s) "
                        "at its minimum (apigw-gateway-hpa spec.minReplicas); "
                        "prod needs at least 2 gateway instances")]),
    "no-zone-spread": (lambda rs: pod(rs, "users-api")["topologySpreadConstraints"].remove(_zone(pod(rs, "users-api"))),
                       [("prod-multi-zone", "apigw-users-api-deployment",
                         "spec.template.spec.topologySpreadConstraints is without a topology.kubernetes.io/zone "
                         "constraint; prod needs a constraint on topology.kubernetes.io/zone with whenUnsatisfiable "
                         "DoNotSchedule and minDomains >= 2")]),
    "zone-schedule-anyway": (lambda rs: _zone(pod(rs, "users-api")).update(whenUnsatisfiable="ScheduleAnyway"),
                             [("prod-multi-zone", "apigw-users-api-deployment",
                               '[topology.kubernetes.io/zone].whenUnsatisfiable is "ScheduleAnyway"; prod needs '
                               "DoNotSchedule")]),
    "zone-min-domains": (lambda rs: _zone(pod(rs, "users-api")).pop("minDomains"),
                         [("prod-multi-zone", "apigw-users-api-deployment",
                           "[topology.kubernetes.io/zone].minDomains is not set; prod needs at least 2")]),
    "no-host-spread": (lambda rs: pod(rs, "gateway")["topologySpreadConstraints"].remove(_host(pod(rs, "gateway"))),
                       [("prod-spread-across-hosts", "apigw-gateway-deployment",
                         "topologySpreadConstraints is without a kubernetes.io/hostname constraint; prod needs a "
                         "constraint on kubernetes.io/hostname with whenUnsatisfiable DoNotSchedule")]),
    "host-schedule-anyway": (lambda rs: _host(pod(rs, "gateway")).update(whenUnsatisfiable="ScheduleAnyway"),
                             [("prod-spread-across-hosts", "apigw-gateway-deployment",
                               '[kubernetes.io/hostname].whenUnsatisfiable is "ScheduleAnyway"')]),
    "host-network": (lambda rs: pod(rs, "gateway").update(hostNetwork=True),
                     [("prod-spread-across-hosts", "apigw-gateway-deployment",
                       "spec.template.spec.hostNetwork is true; prod needs false")]),
    "host-port": (lambda rs: pod(rs, "gateway")["containers"][0]["ports"][0].update(hostPort=8080.0),
                  [("prod-spread-across-hosts", "apigw-gateway-deployment",
                    "spec.template.spec.containers[nginx].ports[http].hostPort is 8080; prod needs no hostPort")]),
    "no-pdb": (lambda rs: _drop(rs, "apigw-users-api-pdb"),
               [("prod-disruption-budget", "apigw-users-api-deployment",
                 "no PodDisruptionBudget selects its pods (app=users-api); prod needs one with maxUnavailable 1")]),
    "pdb-max-unavailable-0": (lambda rs: one(rs, "apigw-users-api-pdb").properties["spec"].update(maxUnavailable=0.0),
                              [("prod-disruption-budget", "apigw-users-api-pdb",
                                "spec.maxUnavailable is 0; with 3 instance(s) of apigw-users-api-deployment at the "
                                "minimum (apigw-users-api-hpa spec.minReplicas) no eviction is ever allowed")]),
    "pdb-min-available-all": (lambda rs: one(rs, "apigw-users-api-pdb").properties.update(
        spec={"minAvailable": 3.0, "selector": {"matchLabels": {"app": "users-api"}}}),
        [("prod-disruption-budget", "apigw-users-api-pdb",
          "spec.minAvailable is 3; with 3 instance(s) of apigw-users-api-deployment at the minimum "
          "(apigw-users-api-hpa spec.minReplicas) no eviction is ever allowed; prod needs a budget that allows one "
          "(maxUnavailable >= 1, or minAvailable <= 2)")]),
    "pdb-min-available-percent": (lambda rs: one(rs, "apigw-users-api-pdb").properties.update(
        spec={"minAvailable": "90%", "selector": {"matchLabels": {"app": "users-api"}}}),
        [("prod-disruption-budget", "apigw-users-api-pdb",
          'spec.minAvailable is "90%"; with 3 instance(s) of apigw-users-api-deployment at the minimum')]),
    "pdb-min-available-percent-ok": (lambda rs: one(rs, "apigw-users-api-pdb").properties.update(
        spec={"minAvailable": "60%", "selector": {"matchLabels": {"app": "users-api"}}}), []),
    "ingress-bypasses-the-gateway": (lambda rs: _ingress_backend(rs).update(name="users-api"),
                                     [("prod-load-balanced-gateway", "apigw-gateway-ingress",
                                       "routes to apigw-users-api-deployment (kubernetes:apps/v1:Deployment), none of "
                                       "them the gateway fleet (labelled or tagged component: gateway); prod needs "
                                       "the load balancer in front of at least 2 gateway instances")]),
    "pdb-min-available-ok": (lambda rs: one(rs, "apigw-users-api-pdb").properties.update(
        spec={"minAvailable": 2.0, "selector": {"matchLabels": {"app": "users-api"}}}), []),
    "no-readiness": (lambda rs: pod(rs, "locations-api")["containers"][0].pop("readinessProbe"),
                     [("health-checks", "apigw-locations-api-deployment",
                       "spec.template.spec.containers[locations-api].readinessProbe is not set; every container "
                       "needs a readinessProbe and a livenessProbe")]),
    "no-liveness": (lambda rs: pod(rs, "locations-api")["containers"][0].pop("livenessProbe"),
                    [("health-checks", "apigw-locations-api-deployment", "containers[locations-api].livenessProbe")]),
    "ingress-no-tls": (lambda rs: one(rs, "apigw-gateway-ingress").properties["spec"].pop("tls"),
                       [("security-https", "apigw-gateway-ingress", "spec.tls is not set; prod needs TLS")]),
    "ingress-redirect-off": (lambda rs: one(rs, "apigw-gateway-ingress").properties["metadata"]["annotations"].update(
        {"nginx.ingress.kubernetes.io/ssl-redirect": "false"}),
        [("security-https", "apigw-gateway-ingress",
          'metadata.annotations[nginx.ingress.kubernetes.io/ssl-redirect] is "false"; prod needs "true"')]),
    "plain-load-balancer-service": (lambda rs: one(rs, "apigw-gateway-service").properties["spec"].update(
        type="LoadBalancer"),
        [("security-https", "apigw-gateway-service",
          "spec.ports is [80] on a Service of type LoadBalancer; prod needs HTTPS")]),
    "image-untagged": (lambda rs: pod(rs, "payments-api")["containers"][0].update(image="traefik/whoami"),
                       [("security-image-tag", "apigw-payments-api-deployment",
                         'containers[payments-api].image is "traefik/whoami" (no tag: the registry serves latest); '
                         "prod needs an explicit tag or digest")]),
    "image-registry-port-untagged": (lambda rs: pod(rs, "payments-api")["containers"][0].update(
        image="registry.local:5000/whoami"),
        [("security-image-tag", "apigw-payments-api-deployment", '"registry.local:5000/whoami" (no tag')]),
    "image-latest": (lambda rs: pod(rs, "payments-api")["containers"][0].update(image="traefik/whoami:latest"),
                     [("security-image-tag", "apigw-payments-api-deployment",
                       'image is "traefik/whoami:latest"; prod needs a pinned version tag or digest, never latest')]),
}


@pytest.mark.parametrize("case", sorted(K8S_CASES))
def test_kubernetes_case(prod, k8s, case):
    change, expected = K8S_CASES[case]
    change(k8s)
    assert_findings(findings(prod, k8s), expected)


@pytest.mark.parametrize("annotation, value", [
    ("service.beta.kubernetes.io/azure-load-balancer-internal", "true"),
    ("networking.gke.io/load-balancer-type", "Internal"),
    ("cloud.google.com/load-balancer-type", "Internal"),
    ("service.beta.kubernetes.io/aws-load-balancer-internal", "true"),
    ("service.beta.kubernetes.io/aws-load-balancer-scheme", "internal"),
])
def test_internal_load_balancer_service_is_not_judged_by_security_https(prod, k8s, annotation, value):
    service = one(k8s, "apigw-gateway-service").properties
    service["spec"]["type"] = "LoadBalancer"
    service["metadata"]["annotations"] = {annotation: value}
    assert findings(prod, k8s) == []
    service["metadata"]["annotations"] = {annotation: "false" if value == "true" else "External"}
    [v] = findings(prod, k8s)
    assert (v.policy, v.resource) == ("security-https", "apigw-gateway-service")


def assert_findings(found, expected):
    assert sorted((v.policy, v.resource) for v in found) == sorted((p, r) for p, r, _ in expected), \
        "\n".join(f"{v.level} {v.policy}: {v.message}" for v in found)
    for policy, resource, text in expected:
        [violation] = [v for v in found if (v.policy, v.resource) == (policy, resource)]
        assert text in violation.message and violation.level == "mandatory", violation.message
        assert violation.message.startswith(f"{resource} (") and violation.message.endswith(f"({policy})")


def test_digest_pinned_image_passes_both_image_rules(prod, k8s):
    image = "traefik/whoami@sha256:" + "a" * 64
    pod(k8s, "users-api")["containers"][0]["image"] = image
    digest = [v for v in run(prod, k8s) if v.policy == DIGEST]
    assert "apigw-users-api-deployment" not in {v.resource for v in digest}
    # The gateway's two containers (nginx and its metrics exporter) are each reported.
    assert sorted(v.resource for v in digest) == ["apigw-gateway-deployment", "apigw-gateway-deployment",
                                                  "apigw-locations-api-deployment", "apigw-payments-api-deployment"]
    assert all(v.level == "advisory" for v in digest)
    assert "pin it by digest (repo@sha256:...)" in digest[0].message


def test_unknown_value_is_reported_as_cannot_tell_during_preview(prod, k8s):
    one(k8s, "apigw-users-api-hpa").properties["spec"]["minReplicas"] = UNKNOWN
    [v] = [v for v in findings(prod, k8s) if v.resource == "apigw-users-api-hpa"]
    assert v.level == "advisory" and "can't run policy 'prod-min-instances'" in v.message
    assert "spec.minReplicas can't be known during preview" in v.message


# --- AWS -------------------------------------------------------------------------------------

def ecs(resources, program):
    return one(resources, f"apigw-{program}-service").properties


def _listener(resources, protocol):
    return next(r for r in resources if r.type == T.AWS_LISTENER and r.properties.get("protocol") == protocol)


def _container_image(resources, image):
    task = one(resources, "apigw-users-api-task", T.AWS_ECS_TASK_DEFINITION).properties
    definitions = json.loads(task["containerDefinitions"])
    definitions[0]["image"] = image
    task["containerDefinitions"] = json.dumps(definitions)


AWS_CASES = {
    "desired-count": (lambda rs: ecs(rs, "payments-api").update(desiredCount=1.0),
                      [("prod-min-instances", "apigw-payments-api-service",
                        "desiredCount is 1; prod needs at least 2")]),
    "gateway-min-capacity": (lambda rs: one(rs, "apigw-gateway-scaling-target").properties.update(minCapacity=1.0),
                             [("prod-min-instances", "apigw-gateway-scaling-target",
                               "minCapacity is 1; prod needs at least 3 for the gateway fleet"),
                              ("prod-load-balanced-gateway", "apigw-lb-alb",
                               "routes to apigw-gateway-service (aws:ecs/service:Service), which runs 1 instance(s) at "
                               "its minimum (apigw-gateway-scaling-target minCapacity)")]),
    "task-subnets": (lambda rs: ecs(rs, "users-api")["networkConfiguration"].update(
        subnets=ecs(rs, "users-api")["networkConfiguration"]["subnets"][:1]),
        [("prod-multi-zone", "apigw-users-api-service",
          "networkConfiguration.subnets is [\"apigw-network-private-a-id\"]; "
          "prod needs task subnets in at least 2 zones")]),
    "alb-subnets": (lambda rs: of_type(rs, T.AWS_LB).properties.update(
        subnets=of_type(rs, T.AWS_LB).properties["subnets"][:1]),
        [("prod-multi-zone", "apigw-lb-alb", "prod needs subnets in at least 2 zones")]),
    "host-network-task": (lambda rs: one(rs, "apigw-gateway-task", T.AWS_ECS_TASK_DEFINITION).properties.update(
        networkMode="host"),
                          [("prod-spread-across-hosts", "apigw-gateway-task",
                            'networkMode is "host"; prod needs "awsvpc"')]),
    "no-target-group-health-check": (lambda rs: of_type(rs, T.AWS_TARGET_GROUP).properties.pop("healthCheck"),
                                     [("health-checks", "apigw-lb-gateway", "healthCheck is not set")]),
    "target-group-health-check-off": (lambda rs: of_type(rs, T.AWS_TARGET_GROUP).properties["healthCheck"].update(
        enabled=False), [("health-checks", "apigw-lb-gateway", "healthCheck.enabled is false")]),
    "http-forwards": (lambda rs: _listener(rs, "HTTP").properties.update(
        defaultActions=_listener(rs, "HTTPS").properties["defaultActions"]),
        [("security-https", "apigw-lb-http", "defaultActions is [\"forward\"] on protocol HTTP; prod needs HTTP to "
                                             "redirect")]),
    "https-without-certificate": (lambda rs: _listener(rs, "HTTPS").properties.pop("certificateArn"),
                                  [("security-https", "apigw-lb-https", "certificateArn is not set")]),
    "no-waf": (lambda rs: rs.remove(of_type(rs, T.AWS_WAF_ASSOCIATION)),
               [("security-waf", "apigw-lb-alb", "is internet-facing and no aws:wafv2/webAclAssociation:"
                                                 "WebAclAssociation has resourceArn = its arn")]),
    "no-deletion-protection": (lambda rs: of_type(rs, T.AWS_LB).properties.update(enableDeletionProtection=False),
                               [("security-deletion-protection", "apigw-lb-alb",
                                 "enableDeletionProtection is false; prod needs true")]),
    "public-task-ip": (lambda rs: ecs(rs, "gateway")["networkConfiguration"].update(assignPublicIp=True),
                       [("security-no-public-ip", "apigw-gateway-service",
                         "networkConfiguration.assignPublicIp is true; prod needs false")]),
    "launch-type-unset": (lambda rs: ecs(rs, "gateway").pop("launchType"),
                          [("prod-spread-across-hosts", "apigw-gateway-service",
                            "runs on shared EC2 hosts (launchType not set (defaults to EC2)) and "
                            "orderedPlacementStrategies has no spread over instanceId")]),
    "latest-image": (lambda rs: _container_image(rs, "traefik/whoami:latest"),
                     [("security-image-tag", "apigw-users-api-task",
                       'containerDefinitions[users-api].image is "traefik/whoami:latest"')]),
}


@pytest.mark.parametrize("case", sorted(AWS_CASES))
def test_aws_case(prod, aws, case):
    change, expected = AWS_CASES[case]
    change(aws)
    assert_findings(findings(prod, aws), expected)


def test_aws_rules_on_resources_the_program_does_not_use(prod):
    group = R(T.AWS_ASG, "fleet", {"minSize": 1.0, "maxSize": 3.0, "vpcZoneIdentifiers": ["subnet-a"]})
    template = R(T.AWS_LAUNCH_TEMPLATE, "fleet", {"networkInterfaces": [{"associatePublicIpAddress": "true"}]})
    service = R(T.AWS_ECS_SERVICE, "ec2-service", {"launchType": "EC2", "desiredCount": 2.0})
    bridge = R(T.AWS_ECS_TASK_DEFINITION, "bridge", {"networkMode": "bridge", "containerDefinitions": json.dumps(
        [{"name": "app", "image": "nginx:1.27", "portMappings": [{"containerPort": 80, "hostPort": 80}]}])})
    fargate = R(T.AWS_ECS_SERVICE, "fargate-providers", {"desiredCount": 2.0, "capacityProviderStrategies": [
        {"capacityProvider": "FARGATE", "weight": 1.0}, {"capacityProvider": "FARGATE_SPOT", "weight": 1.0}]})
    ec2_providers = R(T.AWS_ECS_SERVICE, "ec2-providers", {"desiredCount": 2.0, "capacityProviderStrategies": [
        {"capacityProvider": "apigw-asg-provider", "weight": 1.0}]})
    resources = [group, template, service, bridge, fargate, ec2_providers]
    found = {(v.policy, v.resource): v.message for v in run(prod, resources)}
    assert ("prod-spread-across-hosts", "fargate-providers") not in found
    assert "runs on shared EC2 hosts (capacityProviderStrategies on EC2)" \
        in found[("prod-spread-across-hosts", "ec2-providers")]
    assert "minSize is 1; prod needs at least 2" in found[("prod-min-instances", "fleet")]
    assert 'vpcZoneIdentifiers is ["subnet-a"]; prod needs instance subnets in at least 2 zones' \
        in found[("prod-multi-zone", "fleet")]
    assert 'networkInterfaces[0].associatePublicIpAddress is "true"' in found[("security-no-public-ip", "fleet")]
    assert "no spread over instanceId" in found[("prod-spread-across-hosts", "ec2-service")]
    assert "portMappings[80].hostPort is 80" in found[("prod-spread-across-hosts", "bridge")]


def test_an_auto_scaling_group_tagged_as_the_gateway_counts_behind_the_alb(prod):
    """EC2 gateway fleets: an ASG's tags are a list of {key, value}; minSize is what the ALB can count on."""
    lb = R(T.AWS_LB, "alb", {"internal": True, "subnets": ["subnet-a", "subnet-b"]})
    group_tg = R(T.AWS_TARGET_GROUP, "tg", {"healthCheck": {"path": "/healthz"}})
    listener = R(T.AWS_LISTENER, "listener", {"protocol": "HTTP", "loadBalancerArn": UNKNOWN, "defaultActions": [
        {"type": "forward", "targetGroupArn": UNKNOWN}]}, {"loadBalancerArn": [lb], "defaultActions": [group_tg]})
    tags = [{"key": "component", "value": "gateway", "propagateAtLaunch": True}]
    group = R(T.AWS_ASG, "fleet", {"minSize": 1.0, "maxSize": 4.0, "vpcZoneIdentifiers": ["subnet-a", "subnet-b"],
                                  "targetGroupArns": [UNKNOWN], "tags": tags}, {"targetGroupArns": [group_tg]})
    found = {(v.policy, v.resource): v.message for v in run(prod, [lb, group_tg, listener, group])}
    assert "minSize is 1; prod needs at least 3 for the gateway fleet" in found[("prod-min-instances", "fleet")]
    assert "routes to fleet (aws:autoscaling/group:Group), which runs 1 instance(s) at its minimum (fleet minSize)" \
        in found[("prod-load-balanced-gateway", "alb")]
    group.properties["tags"] = [{"key": "component", "value": "batch", "propagateAtLaunch": True}]
    group.properties["minSize"] = 3.0
    found = {(v.policy, v.resource): v.message for v in run(prod, [lb, group_tg, listener, group])}
    assert "routes to fleet (aws:autoscaling/group:Group), none of them the gateway fleet" \
        in found[("prod-load-balanced-gateway", "alb")]


# --- Azure (AKS, Application Gateway) ----------------------------------------------------------

def az(resources, name):
    return one(resources, name).properties


def _system_pool(resources):
    return az(resources, "apigw-aks")["agentPoolProfiles"][0]


def _inline_waf(resources, mode):
    gateway = az(resources, "apigw-appgw")
    gateway.pop("firewallPolicy")
    gateway["webApplicationFirewallConfiguration"] = {"enabled": True, "firewallMode": mode, "ruleSetType": "OWASP",
                                                      "ruleSetVersion": "3.2"}


def _lock_by_id(resources):
    """State exported after an update: the lock's scope is the gateway's id, with no dependency recorded."""
    gateway, lock = one(resources, "apigw-appgw"), one(resources, "apigw-appgw-lock")
    gateway.properties["id"] = "/subscriptions/0000/resourceGroups/apigw/providers/Microsoft.Network/" \
                               "applicationGateways/apigw"
    lock.properties["scope"] = gateway.properties["id"]
    lock.dependencies, lock.property_dependencies = [], {}


def _pool_address(resources):
    return az(resources, "apigw-appgw")["backendAddressPools"][0]["backendAddresses"][0]


def _pin_by_load_balancer_ip(resources):
    """The deprecated way to pin the address: spec.loadBalancerIP instead of the annotation."""
    service = az(resources, "apigw-gateway-service")
    service["metadata"]["annotations"].pop("service.beta.kubernetes.io/azure-load-balancer-ipv4")
    service["spec"]["loadBalancerIP"] = GATEWAY_IP


UNMATCHED_POOL = ('backendAddressPools[gateway].backendAddresses[0].ipAddress is "10.224.15.99" and no Service of '
                  "type LoadBalancer in this stack pins that address; prod needs a pool to list the address that a "
                  "Service of type LoadBalancer of this stack pins (annotation "
                  "service.beta.kubernetes.io/azure-load-balancer-ipv4 or spec.loadBalancerIP), with at least 2 "
                  "gateway instances behind it")

AZURE_CASES = {
    "app-gateway-pool-address-unmatched": (lambda rs: _pool_address(rs).update(ipAddress="10.224.15.99"),
                                           [("prod-load-balanced-gateway", "apigw-appgw", UNMATCHED_POOL)]),
    "app-gateway-pool-fqdn": (lambda rs: az(rs, "apigw-appgw")["backendAddressPools"][0].update(
        backendAddresses=[{"fqdn": "gateway.apigw.internal"}]),
        [("prod-load-balanced-gateway", "apigw-appgw",
          'backendAddressPools[gateway].backendAddresses[0].fqdn is "gateway.apigw.internal", a name the pack cannot '
          "follow to a Service (list the Service's pinned ipAddress instead); prod needs a pool to list the address")]),
    "app-gateway-pool-without-addresses": (lambda rs: az(rs, "apigw-appgw")["backendAddressPools"][0].pop(
        "backendAddresses"),
        [("prod-load-balanced-gateway", "apigw-appgw", "backendAddressPools lists no backend address; prod needs")]),
    "app-gateway-gateway-hpa-1": (lambda rs: az(rs, "apigw-gateway-hpa")["spec"].update(minReplicas=1.0),
                                  [("prod-min-instances", "apigw-gateway-hpa", "spec.minReplicas is 1"),
                                   ("prod-load-balanced-gateway", "apigw-appgw",
                                    "routes to apigw-gateway-deployment (kubernetes:apps/v1:Deployment), which runs 1 "
                                    "instance(s) at its minimum (apigw-gateway-hpa spec.minReplicas); prod needs at "
                                    "least 2 gateway instances behind the load balancer")]),
    "app-gateway-second-pool-elsewhere": (lambda rs: az(rs, "apigw-appgw")["backendAddressPools"].append(
        {"name": "legacy", "backendAddresses": [{"ipAddress": "10.9.0.4"}]}), []),
    "pinned-by-load-balancer-ip": (_pin_by_load_balancer_ip, []),
    "pool-address-unknown-in-preview": (lambda rs: _pool_address(rs).update(ipAddress=UNKNOWN), []),
    "pool-addresses-unknown-in-preview": (lambda rs: az(rs, "apigw-appgw")["backendAddressPools"][0].update(
        backendAddresses=UNKNOWN), []),
    "pinned-address-unknown-in-preview": (lambda rs: az(rs, "apigw-gateway-service")["metadata"]["annotations"].update(
        {"service.beta.kubernetes.io/azure-load-balancer-ipv4": UNKNOWN}), []),
    "gateway-service-made-public": (lambda rs: az(rs, "apigw-gateway-service")["metadata"]["annotations"].pop(
        "service.beta.kubernetes.io/azure-load-balancer-internal"),
        [("security-https", "apigw-gateway-service",
          "spec.ports is [80] on a Service of type LoadBalancer; prod needs HTTPS")]),
    "redirect-listener-unknown-in-preview": (lambda rs: az(rs, "apigw-appgw")["requestRoutingRules"][1].update(
        httpListener={"id": UNKNOWN}), []),
    "agent-pool-min-count": (lambda rs: az(rs, "apigw-aks-workloads").update(minCount=1.0),
                             [("prod-min-nodes", "apigw-aks-workloads",
                               "minCount is 1; prod needs at least 3 nodes at the minimum, one per zone of "
                               "availabilityZones")]),
    "agent-pool-two-nodes-over-three-zones": (lambda rs: az(rs, "apigw-aks-workloads").update(minCount=2.0),
                                              [("prod-min-nodes", "apigw-aks-workloads",
                                                "minCount is 2; prod needs at least 3 nodes at the minimum")]),
    "agent-pool-one-node-no-zones": (lambda rs: az(rs, "apigw-aks-workloads").update(minCount=1.0,
                                                                                     availabilityZones=None),
                                     [("prod-min-nodes", "apigw-aks-workloads",
                                       "minCount is 1; prod needs at least 2 nodes at the minimum"),
                                      ("prod-multi-zone", "apigw-aks-workloads", "availabilityZones is")]),
    "system-pool-fixed-count": (lambda rs: az(rs, "apigw-aks")["agentPoolProfiles"][0].update(
        enableAutoScaling=False, count=1.0),
        [("prod-min-nodes", "apigw-aks", "agentPoolProfiles[system].count is 1; prod needs at least 3 nodes at the "
                                         "minimum, one per zone")]),
    "agent-pool-one-zone": (lambda rs: az(rs, "apigw-aks-workloads").update(availabilityZones=["1"]),
                            [("prod-multi-zone", "apigw-aks-workloads",
                              'availabilityZones is ["1"]; prod needs nodes in at least 2 zones')]),
    "agent-pool-public-ip": (lambda rs: az(rs, "apigw-aks-workloads").update(enableNodePublicIP=True),
                             [("security-no-public-ip", "apigw-aks-workloads", "enableNodePublicIP is true")]),
    "app-gateway-no-zones": (lambda rs: az(rs, "apigw-appgw").pop("zones"),
                             [("prod-multi-zone", "apigw-appgw",
                               "zones is not set; prod needs gateway instances in at least 2 zones")]),
    "app-gateway-standard-tier": (lambda rs: az(rs, "apigw-appgw").update(sku={"name": "Standard_v2",
                                                                              "tier": "Standard_v2"}),
                                  [("security-waf", "apigw-appgw", 'sku.tier is "Standard_v2"; prod needs "WAF_v2"')]),
    "app-gateway-unlocked": (lambda rs: _drop(rs, "apigw-appgw-lock"),
                             [("security-deletion-protection", "apigw-appgw",
                               "has neither the protect option nor a CanNotDelete management lock")]),
    "app-gateway-no-probe": (lambda rs: az(rs, "apigw-appgw")["backendHttpSettingsCollection"][0].pop("probe"),
                             [("health-checks", "apigw-appgw",
                               "backendHttpSettingsCollection[gateway].probe is not set")]),
    "cluster-pool-one-zone": (lambda rs: _system_pool(rs).update(availabilityZones=["1"]),
                              [("prod-multi-zone", "apigw-aks",
                                'agentPoolProfiles[system].availabilityZones is ["1"]; prod needs nodes in at least 2 '
                                "zones")]),
    "cluster-pool-no-zones": (lambda rs: _system_pool(rs).pop("availabilityZones"),
                              [("prod-multi-zone", "apigw-aks",
                                "agentPoolProfiles[system].availabilityZones is not set; prod needs nodes")]),
    "cluster-pool-public-ip": (lambda rs: _system_pool(rs).update(enableNodePublicIP=True),
                               [("security-no-public-ip", "apigw-aks",
                                 "agentPoolProfiles[system].enableNodePublicIP is true; prod needs false")]),
    "cluster-pool-min-count": (lambda rs: _system_pool(rs).update(minCount=1.0),
                               [("prod-min-nodes", "apigw-aks", "agentPoolProfiles[system].minCount is 1")]),
    "agent-pool-fixed-count": (lambda rs: az(rs, "apigw-aks-workloads").update(enableAutoScaling=False, count=1.0),
                               [("prod-min-nodes", "apigw-aks-workloads", "count is 1; prod needs at least 3 nodes")]),
    "agent-pool-min-count-unset": (lambda rs: az(rs, "apigw-aks-workloads").pop("minCount"),
                                   [("prod-min-nodes", "apigw-aks-workloads", "minCount is not set; prod needs")]),
    "app-gateway-no-https-listener": (lambda rs: az(rs, "apigw-appgw")["httpListeners"].pop(0),
                                      [("security-https", "apigw-appgw",
                                        'httpListeners[*].protocol is ["Http"]; prod needs an Https listener')]),
    "https-listener-without-certificate": (lambda rs: az(rs, "apigw-appgw")["httpListeners"][0].pop("sslCertificate"),
                                           [("security-https", "apigw-appgw",
                                             "httpListeners[https].sslCertificate is not set; an Https listener needs "
                                             "a certificate")]),
    "app-gateway-no-probes": (lambda rs: az(rs, "apigw-appgw").pop("probes"),
                              [("health-checks", "apigw-appgw", "probes is not set; define a probe")]),
    "app-gateway-no-firewall-policy": (lambda rs: az(rs, "apigw-appgw").pop("firewallPolicy"),
                                       [("security-waf", "apigw-appgw",
                                         "firewallPolicy is not set and webApplicationFirewallConfiguration.enabled "
                                         "is not set; prod needs a WAF policy attached")]),
    "app-gateway-waf-detection-only": (lambda rs: _inline_waf(rs, "Detection"),
                                       [("security-waf", "apigw-appgw",
                                         'webApplicationFirewallConfiguration.firewallMode is "Detection"; prod needs '
                                         '"Prevention"')]),
    "app-gateway-waf-prevention": (lambda rs: _inline_waf(rs, "Prevention"), []),
    "lock-by-known-scope-id": (lambda rs: _lock_by_id(rs), []),
    "app-gateway-no-redirect": (lambda rs: az(rs, "apigw-appgw")["requestRoutingRules"][1].pop("redirectConfiguration"),
                                [("security-https", "apigw-appgw", 'httpListeners[http] is "Http" with no redirecting '
                                                                   "rule")]),
}


@pytest.mark.parametrize("case", sorted(AZURE_CASES))
def test_azure_case(prod, azure, case):
    change, expected = AZURE_CASES[case]
    change(azure)
    assert_findings(findings(prod, azure), expected)


def test_app_gateway_counts_the_gateway_fleet_behind_its_pool_address(prod, azure):
    """The gateway's 3 instances (HPA minimum) are counted through the Application Gateway: with a
    floor of 4 the Application Gateway is reported; the internal Service is only its hop."""
    assert [v for v in findings(prod, azure) if v.policy == "prod-load-balanced-gateway"] == []
    with start("prod", pack_config={"prod-load-balanced-gateway": {"minInstances": 4}}) as pack:
        [v] = [v for v in findings(pack, azure) if v.policy == "prod-load-balanced-gateway"]
    assert v.resource == "apigw-appgw"
    assert v.message == ("apigw-appgw (azure-native:network:ApplicationGateway): routes to apigw-gateway-deployment "
                         "(kubernetes:apps/v1:Deployment), which runs 3 instance(s) at its minimum (apigw-gateway-hpa "
                         "spec.minReplicas); prod needs at least 4 gateway instances behind the load balancer "
                         "(prod-load-balanced-gateway)")


def test_internal_service_is_not_public_but_a_public_one_on_port_80_is(prod, azure):
    public = copy.deepcopy(one(azure, "apigw-gateway-service"))
    public.urn, public.name = urn(T.K8S_SERVICE, "apigw-public-service"), "apigw-public-service"
    public.properties["metadata"].update(name="public", annotations={})
    azure.append(public)
    [v] = findings(prod, azure)
    assert (v.policy, v.resource, v.level) == ("security-https", "apigw-public-service", "mandatory")
    assert v.message == ("apigw-public-service (kubernetes:core/v1:Service): spec.ports is [80] on a Service of type "
                         "LoadBalancer; prod needs HTTPS: an Ingress with tls in front of a ClusterIP Service (or port "
                         "443 terminating TLS) (security-https)")


def test_protect_option_counts_as_deletion_protection(prod, azure):
    _drop(azure, "apigw-appgw-lock")
    one(azure, "apigw-appgw").protect = True
    assert findings(prod, azure) == []


# --- GCP (GKE, Cloud Load Balancing) -----------------------------------------------------------

def _backend(resources):
    return az(resources, "apigw-gateway-backend")


def _gateway_neg(resources, annotation):
    az(resources, "apigw-gateway-service")["metadata"]["annotations"]["cloud.google.com/neg"] = annotation


UNMATCHED_NEG = ('backends[*].group names the NEG "apigw-gcp-prod-gateway" (in europe-west1-b, europe-west1-c, '
                 "europe-west1-d) and no Service's cloud.google.com/neg annotation names it; prod needs a backend "
                 "group to be a NEG that a Service of this stack names in its cloud.google.com/neg annotation, with "
                 "at least 2 gateway instances behind it")

GCP_CASES = {
    "neg-named-by-no-service": (lambda rs: _gateway_neg(rs, '{"exposed_ports": {"80": {"name": "apigw-other"}}}'),
                                [("prod-load-balanced-gateway", "apigw-gateway-backend", UNMATCHED_NEG)]),
    "ingress-neg-has-no-name-to-follow": (lambda rs: _gateway_neg(rs, '{"ingress": true}'),
                                          [("prod-load-balanced-gateway", "apigw-gateway-backend", UNMATCHED_NEG)]),
    "neg-annotation-not-json": (lambda rs: _gateway_neg(rs, "apigw-gcp-prod-gateway"),
                                [("prod-load-balanced-gateway", "apigw-gateway-backend", UNMATCHED_NEG)]),
    "backend-gateway-hpa-1": (lambda rs: az(rs, "apigw-gateway-hpa")["spec"].update(minReplicas=1.0),
                              [("prod-min-instances", "apigw-gateway-hpa", "spec.minReplicas is 1"),
                               ("prod-load-balanced-gateway", "apigw-gateway-backend",
                                "routes to apigw-gateway-deployment (kubernetes:apps/v1:Deployment), which runs 1 "
                                "instance(s) at its minimum (apigw-gateway-hpa spec.minReplicas); prod needs at least "
                                "2 gateway instances behind the load balancer")]),
    "instance-group-backend": (lambda rs: _backend(rs).update(backends=[
        {"group": neg_group("europe-west1-b", "gke-apigw-workloads-grp", "instanceGroups"), "balancingMode": "RATE",
         "maxRatePerInstance": 100.0}]),
        [("prod-load-balanced-gateway", "apigw-gateway-backend",
          f'backends[0].group is "{COMPUTE}/zones/europe-west1-b/instanceGroups/gke-apigw-workloads-grp", an instance '
          "group, which the pack cannot follow to a Service (use the gateway Service's NEG instead); prod needs a "
          "backend group to be a NEG")]),
    "backend-without-groups": (lambda rs: _backend(rs).pop("backends"),
                               [("prod-load-balanced-gateway", "apigw-gateway-backend",
                                 "backends lists no backend group; prod needs a backend group to be a NEG")]),
    "relative-neg-urls": (lambda rs: [b.update(group=b["group"].removeprefix("https://www.googleapis.com/compute/v1/"))
                                      for b in _backend(rs)["backends"]], []),
    "second-neg-elsewhere": (lambda rs: _backend(rs)["backends"].append(
        {"group": neg_group("europe-west1-b", "apigw-legacy"), "balancingMode": "RATE"}), []),
    "neg-group-unknown-in-preview": (lambda rs: [b.update(group=UNKNOWN) for b in _backend(rs)["backends"]], []),
    "backends-unknown-in-preview": (lambda rs: _backend(rs).update(backends=UNKNOWN), []),
    "neg-annotation-unknown-in-preview": (lambda rs: _gateway_neg(rs, UNKNOWN), []),
    "classic-external-backend": (lambda rs: _backend(rs).pop("loadBalancingScheme"), []),
    "zonal-cluster": (lambda rs: (az(rs, "apigw-gke").update(location="europe-west1-b"),
                                  az(rs, "apigw-gke").pop("nodeLocations")),
                      [("prod-multi-zone", "apigw-gke", 'location is "europe-west1-b" (one zone) and nodeLocations '
                                                        "is not set; prod needs a region")]),
    "node-pool-one-zone": (lambda rs: az(rs, "apigw-gke-workloads").update(nodeLocations=["europe-west1-b"]),
                           [("prod-multi-zone", "apigw-gke-workloads", 'nodeLocations is ["europe-west1-b"]'),
                            ("prod-min-nodes", "apigw-gke-workloads",
                             "autoscaling.minNodeCount is 1 per zone in 1 zone(s), 1 in all; prod needs at least 2")]),
    "node-pool-total-min": (lambda rs: az(rs, "apigw-gke-workloads")["autoscaling"].update(totalMinNodeCount=1.0),
                            [("prod-min-nodes", "apigw-gke-workloads", "autoscaling.totalMinNodeCount is 1")]),
    "public-nodes": (lambda rs: az(rs, "apigw-gke-workloads")["networkConfig"].update(enablePrivateNodes=False),
                     [("security-no-public-ip", "apigw-gke-workloads", "networkConfig.enablePrivateNodes is false")]),
    "public-cluster": (lambda rs: (az(rs, "apigw-gke").pop("privateClusterConfig"),
                                   az(rs, "apigw-gke-workloads").pop("networkConfig")),
                       [("security-no-public-ip", "apigw-gke-workloads",
                         "networkConfig.enablePrivateNodes is not set and its cluster's nodes are public")]),
    "cluster-deletable": (lambda rs: az(rs, "apigw-gke").update(deletionProtection=False),
                          [("security-deletion-protection", "apigw-gke", "deletionProtection is false")]),
    "no-cloud-armor": (lambda rs: az(rs, "apigw-gateway-backend").pop("securityPolicy"),
                       [("security-waf", "apigw-gateway-backend",
                         "securityPolicy is not set; prod needs a Cloud Armor")]),
    "no-backend-health-check": (lambda rs: az(rs, "apigw-gateway-backend").pop("healthChecks"),
                                [("health-checks", "apigw-gateway-backend", "healthChecks is not set")]),
    "cluster-location-unset": (lambda rs: (az(rs, "apigw-gke").pop("location"),
                                           az(rs, "apigw-gke").pop("nodeLocations")),
                               [("prod-multi-zone", "apigw-gke",
                                 "location is not set (the provider's default zone: one zone) and nodeLocations is "
                                 "not set; prod needs a region")]),
    "inline-pool-one-zone": (lambda rs: az(rs, "apigw-gke").update(nodePools=[
        {"name": "inline", "nodeLocations": ["europe-west1-b"], "autoscaling": {"minNodeCount": 2.0}}]),
        [("prod-multi-zone", "apigw-gke", 'nodePools[inline].nodeLocations is ["europe-west1-b"]; prod needs nodes in '
                                          "at least 2 zones")]),
    "inline-pool-min-nodes": (lambda rs: az(rs, "apigw-gke").update(nodePools=[
        {"name": "inline", "nodeLocations": ["europe-west1-b", "europe-west1-c"], "nodeCount": 0.0}]),
        [("prod-min-nodes", "apigw-gke", "nodePools[inline].nodeCount is 0 per zone in 2 zone(s), 0 in all")]),
    "no-https-proxy": (lambda rs: _drop(rs, "apigw-https"),
                       [("security-https", "apigw-http",
                         "is the only kind of target proxy; prod needs a target HTTPS proxy")]),
    "regional-internal-backend": (lambda rs: rs.append(R(T.GCP_REGION_BACKEND_SERVICE, "apigw-internal", {
        "region": "europe-west1", "protocol": "HTTP", "healthChecks": "apigw-hc-id"})), []),
    "regional-external-backend-without-armor": (lambda rs: rs.append(R(T.GCP_REGION_BACKEND_SERVICE, "apigw-regional", {
        "region": "europe-west1", "loadBalancingScheme": "EXTERNAL_MANAGED", "healthChecks": "apigw-hc-id"})),
        [("security-waf", "apigw-regional", "securityPolicy is not set; prod needs a Cloud Armor security policy"),
         ("prod-load-balanced-gateway", "apigw-regional", "backends lists no backend group; prod needs")]),
    "http-not-redirected": (lambda rs: az(rs, "apigw-http-redirect")["defaultUrlRedirect"].update(httpsRedirect=False),
                            [("security-https", "apigw-http-redirect", "defaultUrlRedirect.httpsRedirect is false")]),
}


@pytest.mark.parametrize("case", sorted(GCP_CASES))
def test_gcp_case(prod, gcp, case):
    change, expected = GCP_CASES[case]
    change(gcp)
    assert_findings(findings(prod, gcp), expected)


def test_backend_service_counts_the_gateway_fleet_behind_its_negs(prod, gcp):
    """The gateway's 3 instances (HPA minimum) are counted through the backend service's NEGs: with
    a floor of 4 the backend service is reported; the ClusterIP Service is only its hop."""
    assert [v for v in findings(prod, gcp) if v.policy == "prod-load-balanced-gateway"] == []
    with start("prod", pack_config={"prod-load-balanced-gateway": {"minInstances": 4}}) as pack:
        [v] = [v for v in findings(pack, gcp) if v.policy == "prod-load-balanced-gateway"]
    assert (v.resource, v.level) == ("apigw-gateway-backend", "mandatory")
    assert v.message == ("apigw-gateway-backend (gcp:compute/backendService:BackendService): routes to "
                         "apigw-gateway-deployment (kubernetes:apps/v1:Deployment), which runs 3 instance(s) at its "
                         "minimum (apigw-gateway-hpa spec.minReplicas); prod needs at least 4 gateway instances behind "
                         "the load balancer (prod-load-balanced-gateway)")


def test_an_internal_backend_service_is_not_an_entry_point(prod, gcp):
    _backend(gcp).update(loadBalancingScheme="INTERNAL_MANAGED", backends=[])
    [v] = findings(prod, gcp)
    assert (v.policy, v.urn, v.level) == ("prod-load-balanced-gateway", "", "mandatory")
    assert v.message.startswith("the stack has no load balancer (no Ingress, HTTPRoute, Service of type LoadBalancer, "
                                "ALB, Application Gateway or external backend service)")


def test_cloud_load_balancer_without_kubernetes_services_cannot_count_the_gateway(prod):
    [v] = findings(prod, gcp_resources())
    assert (v.policy, v.resource, v.level) == ("prod-load-balanced-gateway", "apigw-gateway-backend", "mandatory")
    assert v.message == f"apigw-gateway-backend (gcp:compute/backendService:BackendService): {UNMATCHED_NEG} " \
                        "(prod-load-balanced-gateway)"


# --- stack rules and levels ----------------------------------------------------------------------

def test_a_stack_without_a_load_balancer_fails(prod, k8s):
    _drop(k8s, "apigw-gateway-ingress")
    [v] = findings(prod, k8s)
    assert (v.policy, v.urn, v.level) == ("prod-load-balanced-gateway", "", "mandatory")
    assert v.message.startswith("the stack has no load balancer") and "at least 2 gateway instances" in v.message


def test_prod_never_runs_on_the_local_target():
    component = R("apigw:local:Platform", "apigw", {})
    with start("prod", target="local") as pack:
        found = run(pack, [component])
    assert {(v.policy, v.resource, v.level) for v in found if v.policy == "prod-no-single-host-target"} == {
        ("prod-no-single-host-target", "", "mandatory"), ("prod-no-single-host-target", "apigw", "mandatory")}
    messages = " | ".join(v.message for v in found)
    assert 'stack config apigw:target is "local" (processes on localhost ports); prod needs a multi-host target' \
        in messages
    assert "apigw (apigw:local:Platform): is a local-target component (processes on localhost ports)" in messages


def test_outside_prod_every_rule_is_advisory_and_local_is_allowed(k8s):
    one(k8s, "apigw-gateway-hpa").properties["spec"]["minReplicas"] = 1.0
    with start("dev", target="local") as pack:
        assert set(pack.levels.values()) == {"advisory"} and len(pack.levels) == 18
        found = findings(pack, k8s + [R("apigw:local:Platform", "apigw", {})])
    assert {v.level for v in found} == {"advisory"}
    assert {v.policy for v in found} == {"prod-min-instances", "prod-load-balanced-gateway"}


def test_prod_levels_come_from_the_phase(prod):
    levels = {name: level for name, level in prod.levels.items()}
    assert levels.pop(DIGEST) == "advisory"
    assert set(levels.values()) == {"mandatory"} and len(levels) == 17


def test_pack_config_changes_levels_and_floors(k8s):
    one(k8s, "apigw-users-api-hpa").properties["spec"]["minReplicas"] = 2.0
    config = {"all": "advisory", "prod-min-instances": {"enforcementLevel": "mandatory", "minInstances": 3},
              "security-image-digest": "disabled"}
    with start("prod", pack_config=config) as pack:
        found = findings(pack, k8s, keep_digest=True)
    assert {(v.policy, v.level) for v in found} == {("prod-min-instances", "mandatory")}
    assert {v.resource for v in found} == {"apigw-users-api-hpa", "apigw-locations-api-hpa",
                                           "apigw-payments-api-hpa", "apigw-locations-api-deployment",
                                           "apigw-payments-api-deployment"}
    assert all("prod needs at least 3" in v.message for v in found)


def test_gke_zonal_cluster_keeping_its_default_pool(prod):
    cluster = R(T.GCP_CLUSTER, "zonal", {"location": "europe-west1-b", "initialNodeCount": 1.0})
    found = {(v.policy, v.resource): v.message for v in run(prod, [cluster])}
    assert 'location is "europe-west1-b" (one zone) and nodeLocations is not set' in found[("prod-multi-zone", "zonal")]
    assert "initialNodeCount is 1 per zone in 1 zone(s), 1 in all; prod needs at least 2 nodes" \
        in found[("prod-min-nodes", "zonal")]
    assert "privateClusterConfig.enablePrivateNodes is not set" in found[("security-no-public-ip", "zonal")]
    # Two more zones make three nodes over three zones: both counts pass.
    cluster.properties["nodeLocations"] = ["europe-west1-c", "europe-west1-d"]
    assert {p for p, r in {(v.policy, v.resource) for v in run(prod, [cluster])}} == {
        "security-no-public-ip", "prod-load-balanced-gateway"}


def test_a_list_unknown_during_preview_is_not_taken_for_empty(prod):
    lb = R(T.AWS_LB, "alb", {"subnets": "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2", "internal": True})
    [v] = [v for v in prod.analyze(lb) if v.policy == "prod-multi-zone"]
    assert v.level == "advisory" and "Array value at .subnets can't be known during preview" in v.message


def test_daemon_ecs_services_and_non_ecs_scalable_targets_are_not_instance_counts(prod):
    daemon = R(T.AWS_ECS_SERVICE, "agent", {"schedulingStrategy": "DAEMON"})
    table = R(T.AWS_SCALABLE_TARGET, "table", {"serviceNamespace": "dynamodb", "minCapacity": 1.0})
    assert [v for r in (daemon, table) for v in prod.analyze(r) if v.policy == "prod-min-instances"] == []


@pytest.mark.parametrize("baseline, alerts, expected", [
    ("k8s", "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
     "the stack runs workloads on Kubernetes without Prometheus alert rules"),
    ("aws", "aws:cloudwatch/metricAlarm:MetricAlarm", "the stack runs on AWS without CloudWatch alarms"),
])
def test_prod_without_alerts_fails(prod, request, baseline, alerts, expected):
    resources = request.getfixturevalue(baseline)
    assert not [v for v in findings(prod, resources) if v.policy == "prod-monitoring"]
    without = [r for r in resources if r.type != alerts]
    [v] = [v for v in findings(prod, without) if v.policy == "prod-monitoring"]
    assert (v.level, v.urn) == ("mandatory", "") and v.message.startswith(expected)
