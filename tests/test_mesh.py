"""The service mesh on every Kubernetes-based target: pinned charts and their values, mTLS, per-service
routing, the gateway's share of the work, NetworkPolicies, Linkerd's certificates, AKS's add-on,
the custom resources against their CRDs, and the policy pack with the mesh off."""
from __future__ import annotations

import copy

import pytest

from components.gateway.nginx import PROXY_READ_TIMEOUT_S
from components.kubernetes import mesh
from tests.conftest import variant_config
from tools import crds
from tools.check import check_stack
from tools.offline import run_program, stack_config

RELEASE = "kubernetes:helm.sh/v3:Release"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SERVICES = ("users-api", "locations-api", "payments-api")
ISTIO_REPO, LINKERD_REPO = "https://istio-release.storage.googleapis.com/charts", "https://helm.linkerd.io/edge"


def releases(plan) -> dict[str, dict]:
    return {r.inputs["name"]: r.inputs for r in plan.by_type(RELEASE) if r.inputs["chart"] != "kube-prometheus-stack"}


def charts(found: dict[str, dict]) -> dict[str, tuple]:
    """Each release's chart, version, repository and namespace."""
    return {name: (r["chart"], r["version"], r["repositoryOpts"]["repo"], r["namespace"]) for name, r in found.items()}


def with_mesh(stack: str, kind: str):
    def change(config):
        config["apigw:mesh"] = kind
        config.get("apigw:load_balancer", {}).pop("algorithm", None)
    return run_program(stack, variant_config(stack, change))


# --- istio -------------------------------------------------------------------------------------

def test_istio_charts_are_pinned_with_the_cni_so_restricted_pod_security_holds(plan_of):
    found = releases(plan_of("kubernetes-prod"))
    assert charts(found) == {"base": ("base", "1.30.3", ISTIO_REPO, "istio-system"),
                             "istiod": ("istiod", "1.30.3", ISTIO_REPO, "istio-system"),
                             "cni": ("cni", "1.30.3", ISTIO_REPO, "kube-system")}
    assert found["istiod"]["values"] == {"pilot": {"cni": {"enabled": True}},
                                         "meshConfig": {"enablePrometheusMerge": True},
                                         "global": {"proxy": {"seccompProfile": {"type": "RuntimeDefault"}}}}
    assert found["cni"]["values"] == {} and found["base"]["values"] == {"defaultRevision": "default"}
    assert found["base"]["createNamespace"] is True


def test_istio_on_gke_puts_the_cni_where_gke_keeps_its_plugins():
    found = releases(with_mesh("gcp-prod", "istio"))
    assert found["cni"]["values"] == {"cni": {"cniBinDir": "/home/kubernetes/bin"}, "global": {"platform": "gke"}}


def test_mtls_is_strict_mesh_wide_and_in_the_workloads_namespace(plan_of):
    plan = plan_of("kubernetes-prod")
    found = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs["spec"]
             for r in plan.by_type("kubernetes:security.istio.io/v1:PeerAuthentication")}
    assert found == {("istio-system", "default"): {"mtls": {"mode": "STRICT"}},
                     ("apigw", "default"): {"mtls": {"mode": "STRICT"}}}


def test_the_namespace_is_injected_after_the_control_plane_is_up(plan_of):
    plan = plan_of("kubernetes-prod")
    namespace = plan.one("kubernetes:core/v1:Namespace", "apigw-namespace")
    assert namespace.inputs["metadata"]["labels"]["istio-injection"] == "enabled"
    control = {r.inputs["name"]: r.urn for r in plan.by_type(RELEASE)}
    assert {control["istiod"], control["cni"]} <= set(namespace.dependencies)


def test_each_service_gets_a_destination_rule_and_a_virtual_service(plan_of):
    plan = plan_of("kubernetes-prod")
    rule = plan.one("kubernetes:networking.istio.io/v1:DestinationRule", "apigw-users-api-destination-rule").inputs
    host = "users-api.apigw.svc.cluster.local"
    assert rule["spec"] == {"host": host, "trafficPolicy": {
        "loadBalancer": {"simple": "LEAST_REQUEST"},   # the stack's least_connections
        "connectionPool": {"tcp": {"maxConnections": 1024.0, "connectTimeout": "2s"},
                           "http": {"http1MaxPendingRequests": 1024.0, "http2MaxRequests": 1024.0}},
        "outlierDetection": {"consecutive5xxErrors": 3.0, "interval": "10s", "baseEjectionTime": "30s",
                             "maxEjectionPercent": 50.0}}}
    service = plan.one("kubernetes:networking.istio.io/v1:VirtualService", "apigw-users-api-virtual-service").inputs
    destination = {"destination": {"host": host, "port": {"number": 80.0}}}
    assert service["spec"] == {"hosts": [host], "http": [
        {"name": "idempotent", "match": [{"method": {"exact": m}} for m in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")],
         "route": [destination], "timeout": "28s",
         "retries": {"attempts": 2.0, "perTryTimeout": "10s",
                     "retryOn": "connect-failure,refused-stream,unavailable,5xx"}},
        {"name": "other", "route": [destination], "timeout": "28s",
         "retries": {"attempts": 2.0, "perTryTimeout": "10s", "retryOn": "connect-failure,refused-stream"}}]}
    # The mesh gives up before the gateway does, and its retries fit in that time.
    assert mesh.MESH_TIMEOUT_S < PROXY_READ_TIMEOUT_S
    assert mesh.RETRY_ATTEMPTS * mesh.PER_TRY_TIMEOUT_S <= mesh.MESH_TIMEOUT_S


def test_with_a_mesh_nginx_calls_each_service_by_name_and_does_not_retry(plan_of):
    meshed = plan_of("kubernetes-prod").one(CONFIG_MAP, "apigw-gateway-config").inputs["data"]["nginx.conf"]
    assert "proxy_next_upstream off;  # the service mesh retries" in meshed
    assert "server users-api.apigw.svc.cluster.local:80 max_fails=3 fail_timeout=10s;" in meshed
    assert "proxy_next_upstream_tries" not in meshed and "resolver" not in meshed
    direct = plan_of("kubernetes-staging").one(CONFIG_MAP, "apigw-gateway-config").inputs["data"]["nginx.conf"]
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in direct


def test_istio_sidecars_may_reach_istiod_and_nothing_else_is_opened(plan_of):
    policy = plan_of("kubernetes-prod").one(POLICY, "apigw-network-allow-mesh-control-plane").inputs["spec"]
    assert policy == {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
                "podSelector": {"matchLabels": {"app": "istiod"}}}],
        "ports": [{"protocol": "TCP", "port": 15012.0}]}]}
    ingress = plan_of("kubernetes-prod").one(POLICY, "apigw-network-allow-gateway-to-users-api").inputs["spec"]
    assert ingress["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080.0}]


# --- linkerd -----------------------------------------------------------------------------------

def test_linkerd_charts_are_pinned_with_the_cni_and_certificates_made_by_the_stack(plan_of):
    plan = plan_of("gcp-prod")
    found = releases(plan)
    assert charts(found) \
        == {"linkerd-crds": ("linkerd-crds", "2026.8.3", LINKERD_REPO, "linkerd"),
            "linkerd2-cni": ("linkerd2-cni", "2026.8.3", LINKERD_REPO, "linkerd-cni"),
            "linkerd-control-plane": ("linkerd-control-plane", "2026.8.3", LINKERD_REPO, "linkerd")}
    assert found["linkerd-crds"]["values"] == {"installGatewayAPI": True}
    assert found["linkerd2-cni"]["values"] == {"destCNIBinDir": "/home/kubernetes/bin"}   # GKE
    secret = found["linkerd-control-plane"]["values"]
    # The issuer's private key is in the values: the whole values object is a secret.
    assert secret["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
    values = secret["value"]
    assert values["identity"]["issuer"]["tls"]["keyPEM"].startswith("-----BEGIN EC PRIVATE KEY-----")
    anchor = plan.one("tls:index/selfSignedCert:SelfSignedCert", "apigw-mesh-trust-anchor")
    issuer = plan.one("tls:index/locallySignedCert:LocallySignedCert", "apigw-mesh-issuer")
    assert values["cniEnabled"] is True and values["proxy"] == {"capabilities": {"drop": ["ALL"]}}
    assert values["identityTrustAnchorsPEM"].startswith("-----BEGIN CERTIFICATE-----")
    assert values["identity"]["issuer"]["tls"]["crtPEM"].startswith("-----BEGIN CERTIFICATE-----")
    control_plane = plan.one(RELEASE, "apigw-mesh-linkerd-control-plane")
    assert {anchor.urn, issuer.urn} <= set(control_plane.dependencies)


def test_linkerd_trust_anchor_and_issuer_are_ecdsa_p256_cas_with_their_lifetimes(plan_of):
    plan = plan_of("gcp-prod")
    keys = [r.inputs for r in plan.by_type("tls:index/privateKey:PrivateKey")]
    assert keys == [{"algorithm": "ECDSA", "ecdsaCurve": "P256"}] * 2
    anchor = plan.one("tls:index/selfSignedCert:SelfSignedCert", "apigw-mesh-trust-anchor").inputs
    assert (anchor["isCaCertificate"], anchor["validityPeriodHours"], anchor["subject"]) == (
        True, 87600.0, {"commonName": "root.linkerd.cluster.local"})
    issuer = plan.one("tls:index/locallySignedCert:LocallySignedCert", "apigw-mesh-issuer").inputs
    assert (issuer["isCaCertificate"], issuer["validityPeriodHours"]) == (True, 8760.0)
    request = plan.one("tls:index/certRequest:CertRequest", "apigw-mesh-issuer-request").inputs
    assert request["subject"] == {"commonName": "identity.linkerd.cluster.local"}
    namespaces = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
                  for r in plan.by_type("kubernetes:core/v1:Namespace") if r.name.startswith("apigw-mesh-")}
    assert namespaces == {"linkerd": "restricted", "linkerd-cni": "privileged"}


def test_linkerd_routes_time_out_and_retry_idempotent_requests_only(plan_of):
    plan = plan_of("gcp-prod")
    routes = {r.inputs["metadata"]["name"]: r.inputs for r in
              plan.by_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")}
    assert sorted(routes) == sorted([*SERVICES, *(f"{s}-idempotent" for s in SERVICES)])
    parent = [{"group": "", "kind": "Service", "name": "users-api", "port": 80.0}]
    rule = {"backendRefs": [{"name": "users-api", "port": 80.0}], "timeouts": {"request": "28s"}}
    assert routes["users-api"]["spec"] == {"parentRefs": parent, "rules": [rule]}
    assert "annotations" not in routes["users-api"]["metadata"]
    idempotent = routes["users-api-idempotent"]
    assert idempotent["spec"] == {"parentRefs": parent, "rules": [
        {**rule, "matches": [{"method": m} for m in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")]}]}
    assert idempotent["metadata"]["annotations"] == {"retry.linkerd.io/http": "5xx", "retry.linkerd.io/limit": "2",
                                                     "retry.linkerd.io/timeout": "10s"}


def test_linkerd_network_policies_admit_the_control_plane_and_the_proxy_port(plan_of):
    plan = plan_of("gcp-prod")
    control = plan.one(POLICY, "apigw-network-allow-mesh-control-plane").inputs["spec"]["egress"]
    assert control == [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "linkerd"}}}],
                        "ports": [{"protocol": "TCP", "port": p} for p in (8080.0, 8086.0, 8090.0)]}]
    ingress = plan.one(POLICY, "apigw-network-allow-gateway-to-users-api").inputs["spec"]["ingress"][0]["ports"]
    assert ingress == [{"protocol": "TCP", "port": 8080.0}, {"protocol": "TCP", "port": 4143.0}]
    egress = plan.one(POLICY, "apigw-network-allow-gateway-to-services").inputs["spec"]["egress"][0]["ports"]
    assert egress == [{"protocol": "TCP", "port": 4143.0}, {"protocol": "TCP", "port": 8080.0}]


# --- AKS's managed add-on ----------------------------------------------------------------------

def test_the_aks_istio_add_on_replaces_the_charts_and_labels_the_namespace_with_its_revision():
    def change(config):
        config["apigw:azure"] = {**config["apigw:azure"], "istio": "managed", "istio_revision": "asm-1-26"}
    plan = run_program("azure-prod", variant_config("azure-prod", change))
    assert releases(plan) == {}
    cluster = plan.one("azure-native:containerservice:ManagedCluster", "apigw-aks").inputs
    assert cluster["serviceMeshProfile"] == {"mode": "Istio", "istio": {"revisions": ["asm-1-26"]}}
    labels = plan.one("kubernetes:core/v1:Namespace", "apigw-namespace").inputs["metadata"]["labels"]
    assert labels["istio.io/rev"] == "asm-1-26" and "istio-injection" not in labels
    peer_authentications = plan.by_type("kubernetes:security.istio.io/v1:PeerAuthentication")
    assert [r.inputs["metadata"]["namespace"] for r in peer_authentications] == ["apigw"]


def test_the_default_azure_istio_is_the_pinned_charts(plan_of):
    assert set(releases(plan_of("azure-prod"))) == {"base", "istiod", "cni"}
    assert "serviceMeshProfile" not in plan_of("azure-prod").one(
        "azure-native:containerservice:ManagedCluster", "apigw-aks").inputs


# --- custom resources against their CRDs -------------------------------------------------------

def test_istio_resources_validate_against_the_pinned_crds_and_the_rest_is_skipped_with_a_reason(plan_of):
    report = crds.check(plan_of("kubernetes-prod").resources)
    # 3 DestinationRules, 3 VirtualServices, 2 PeerAuthentications
    assert (len(report.checked), report.errors) == (8, [])
    assert dict(report.skipped) == {("PrometheusRule", crds.SKIPPED["monitoring.coreos.com"]): 1,
                                    ("PodMonitor", crds.SKIPPED["monitoring.coreos.com"]): 2}
    linkerd = crds.check(plan_of("gcp-prod").resources)
    assert linkerd.skipped[("HTTPRoute", crds.SKIPPED["gateway.networking.k8s.io"])] == 6
    assert crds.CRD_DIR.joinpath(f"istio-{mesh.ISTIO_VERSION}.yaml").is_file()   # the CRDs of the pinned charts


def test_the_crd_check_fails_on_a_field_the_schema_does_not_declare(plan_of):
    resources = copy.deepcopy([r for r in plan_of("kubernetes-prod").resources
                               if r.type == "kubernetes:networking.istio.io/v1:DestinationRule"])
    resources[0].inputs["spec"]["trafficPolicy"]["loadBalancer"] = {"simple": "FASTEST"}
    resources[1].inputs["spec"]["trafficPolicy"]["retries"] = 3
    errors = crds.check(resources).errors
    assert len(errors) == 2
    assert errors[0] == (f"{resources[0].name} (DestinationRule): spec.trafficPolicy.loadBalancer.simple: "
                         "'FASTEST' is not one of "
                         "['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']")
    assert "'retries' was unexpected" in errors[1]


# --- policy: the prod stacks with the mesh off ---------------------------------------------------

@pytest.mark.parametrize("stack", ["kubernetes-prod", "azure-prod", "gcp-prod"])
def test_each_prod_stack_passes_with_its_mesh_and_fails_without(stack):
    config = copy.deepcopy(stack_config(stack))
    config["apigw:mesh"] = "none"
    config.get("apigw:load_balancer", {}).pop("algorithm", None)
    report = check_stack(f"{stack}-no-mesh", config)
    mandatory = {(v.policy, v.resource) for v in report.violations if v.mandatory}
    assert ("prod-service-mesh", "apigw-namespace") in mandatory, mandatory
    assert not check_stack(stack, stack_config(stack)).failed
