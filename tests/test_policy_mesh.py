"""The mesh rules through the real analyzer protocol: prod-service-mesh and prod-strict-mtls.

The k8s baseline of tests/test_policy_rules.py runs Istio (its namespace labelled
istio-injection: enabled, a STRICT PeerAuthentication `default` in istio-system) and passes both;
each case here changes the mesh and asserts the violation: the rule, the resource, the level and
the message naming the property, the value and what passes.
"""
from __future__ import annotations

import pytest

from policies.rules import types as T
from tests.test_policy_rules import (  # noqa: F401
    R,
    aks_exposure,
    assert_findings,
    aws,
    azure_resources,
    captured,
    findings,
    gcp_resources,
    k8s,
    one,
    peer_authentication,
    prod,
    run,
    start,
)
from tools.check import UNKNOWN
from tools.offline import stack_config

MESH, MTLS = "prod-service-mesh", "prod-strict-mtls"
NAMESPACE = "apigw-namespace"
DEPLOYMENTS = ["apigw-gateway-deployment", "apigw-locations-api-deployment", "apigw-payments-api-deployment",
               "apigw-users-api-deployment"]
PASSES = ("label istio-injection: enabled (or istio.io/rev: <revision>), or annotation linkerd.io/inject: enabled on "
          "the namespace; set `mesh: istio` or `mesh: linkerd` in the stack")
ROOT = ("prod needs a PeerAuthentication named default in the root namespace istio-system with spec.mtls.mode: STRICT "
        'and no selector, or one in namespace "apigw"')


def mesh_findings(pack, resources):
    return [v for v in findings(pack, resources) if v.policy in (MESH, MTLS)]


def namespace_meta(resources) -> dict:
    return one(resources, NAMESPACE).properties["metadata"]


def no_mesh(resources):
    """The namespace without any injection label or annotation (the shipped stacks before `mesh`)."""
    meta = namespace_meta(resources)
    for key in ("istio-injection", "istio.io/rev"):
        meta.setdefault("labels", {}).pop(key, None)
    (meta.get("annotations") or {}).pop("linkerd.io/inject", None)
    return resources


def linkerd(resources):
    no_mesh(resources)
    namespace_meta(resources).setdefault("annotations", {})["linkerd.io/inject"] = "enabled"
    return [r for r in resources if r.type not in T.K8S_PEER_AUTHENTICATIONS]


def istio(resources, **labels):
    """Istio injection by these namespace labels (istio-injection: enabled by default), no PeerAuthentication."""
    no_mesh(resources)
    namespace_meta(resources)["labels"].update(labels or {"istio-injection": "enabled"})
    return [r for r in resources if r.type not in T.K8S_PEER_AUTHENTICATIONS]


def template(resources, app) -> dict:
    return one(resources, f"apigw-{app}-deployment").properties["spec"]["template"]["metadata"]


def destination_rule(name, spec, token=T.K8S_DESTINATION_RULE):
    version = token.split(":")[1].split("/")[1]
    return R(token, name, {"apiVersion": f"networking.istio.io/{version}", "kind": "DestinationRule",
                           "metadata": {"name": name, "namespace": "apigw"}, "spec": spec})


# --- the baseline ------------------------------------------------------------------------------

def test_the_istio_baseline_passes_both_rules(prod, k8s):
    assert namespace_meta(k8s)["labels"]["istio-injection"] == "enabled"
    assert ("istio-system", "STRICT") in [(r.properties["metadata"]["namespace"], r.properties["spec"]["mtls"]["mode"])
                                          for r in k8s if r.type in T.K8S_PEER_AUTHENTICATIONS]
    assert findings(prod, k8s) == []


@pytest.mark.parametrize("stack, mesh", [("kubernetes-prod", "istio"), ("azure-prod", "istio"),
                                         ("gcp-prod", "linkerd")])
def test_the_shipped_prod_stacks_pass_both_rules_with_their_mesh(prod, plan_of, stack, mesh):
    if stack_config(stack).get("apigw:mesh") != mesh:
        pytest.skip(f"{stack} does not set mesh: {mesh}")
    assert mesh_findings(prod, captured(plan_of, stack)) == []


def test_both_rules_are_mandatory_in_prod_and_advisory_elsewhere(prod):
    assert (prod.levels[MESH], prod.levels[MTLS]) == ("mandatory", "mandatory")
    with start("staging") as pack:
        assert (pack.levels[MESH], pack.levels[MTLS]) == ("advisory", "advisory")


# --- prod-service-mesh on Kubernetes -----------------------------------------------------------

def test_a_namespace_without_injection_is_reported_naming_it(prod, k8s):
    no_mesh(k8s)
    [v] = mesh_findings(prod, k8s)
    assert (v.policy, v.resource, v.level) == (MESH, NAMESPACE, "mandatory")
    assert v.message == (
        f"{NAMESPACE} (kubernetes:core/v1:Namespace): metadata.labels[istio-injection] is not set, "
        "metadata.labels[istio.io/rev] is not set and metadata.annotations[linkerd.io/inject] is not set; "
        f'namespace "apigw" holds {", ".join(DEPLOYMENTS)} and prod sends the traffic between the gateway and the '
        f"services through a service mesh: {PASSES} ({MESH})")


def test_injection_disabled_overrides_a_revision_label(prod, k8s):
    k8s = istio(k8s, **{"istio-injection": "disabled", "istio.io/rev": "1-24"})
    [v] = mesh_findings(prod, k8s)
    assert (v.policy, v.resource) == (MESH, NAMESPACE)
    assert 'metadata.labels[istio-injection] is "disabled" (so metadata.labels[istio.io/rev] "1-24" is ignored) ' \
           "and metadata.annotations[linkerd.io/inject] is not set;" in v.message


@pytest.mark.parametrize("labels", [{"istio-injection": "enabled"}, {"istio.io/rev": "asm-1-24"}])
def test_istio_injection_by_label_or_revision_passes_with_a_strict_root_policy(prod, k8s, labels):
    k8s = istio(k8s, **labels) + [peer_authentication("root", "default", "istio-system", "STRICT")]
    assert mesh_findings(prod, k8s) == []


def test_the_linkerd_annotation_passes_and_needs_no_peer_authentication(prod, k8s):
    assert mesh_findings(prod, linkerd(k8s)) == []


def test_linkerd_annotation_disabled_on_the_namespace_is_no_mesh(prod, k8s):
    k8s = linkerd(k8s)
    namespace_meta(k8s)["annotations"]["linkerd.io/inject"] = "disabled"
    [v] = mesh_findings(prod, k8s)
    assert (v.policy, v.resource) == (MESH, NAMESPACE)
    assert 'and metadata.annotations[linkerd.io/inject] is "disabled";' in v.message


@pytest.mark.parametrize("field, key, value", [
    ("labels", "sidecar.istio.io/inject", "false"),
    ("annotations", "sidecar.istio.io/inject", "false"),
    ("annotations", "linkerd.io/inject", "disabled"),
])
def test_a_deployment_that_opts_out_of_the_mesh_is_reported(prod, k8s, field, key, value):
    template(k8s, "users-api").setdefault(field, {})[key] = value
    [v] = mesh_findings(prod, k8s)
    assert (v.policy, v.resource, v.level) == (MESH, "apigw-users-api-deployment", "mandatory")
    assert v.message == (
        f"apigw-users-api-deployment (kubernetes:apps/v1:Deployment): spec.template.metadata.{field}[{key}] is "
        f'"{value}"; prod needs every pod of the gateway and the services in the service mesh: remove it so the '
        f"namespace's injection applies ({MESH})")


@pytest.mark.parametrize("name, labels", [("istio-system", {}), ("aks-istio-system", {}),
                                          ("linkerd", {"linkerd.io/is-control-plane": "true"})])
def test_the_meshs_own_control_plane_namespace_is_not_judged(prod, k8s, name, labels):
    k8s.append(R(T.K8S_NAMESPACE, f"mesh-{name}", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": name, "labels": labels}}))
    deployment = one(k8s, "apigw-gateway-deployment")
    k8s.append(R(T.K8S_DEPLOYMENT, f"mesh-{name}-controller", {
        **deployment.properties, "metadata": {**deployment.properties["metadata"], "namespace": name}}))
    assert mesh_findings(prod, k8s) == []
    k8s[-2].properties["metadata"]["name"] = "apigw-tools"
    k8s[-1].properties["metadata"]["namespace"] = "apigw-tools"
    k8s[-2].properties["metadata"]["labels"] = {}
    assert [(v.policy, v.resource) for v in mesh_findings(prod, k8s)] == [(MESH, f"mesh-{name}")]


def test_opting_in_explicitly_is_not_an_opt_out(prod, k8s):
    template(k8s, "users-api")["labels"]["sidecar.istio.io/inject"] = "true"
    template(k8s, "gateway")["annotations"]["linkerd.io/inject"] = "enabled"
    assert mesh_findings(prod, k8s) == []


def test_a_namespace_the_stack_does_not_create_cannot_be_verified(prod, k8s):
    k8s.remove(one(k8s, NAMESPACE))
    found = mesh_findings(prod, k8s)
    assert sorted((v.policy, v.resource, v.level) for v in found) == [(MESH, d, "mandatory") for d in DEPLOYMENTS]
    v = next(v for v in found if v.resource == "apigw-users-api-deployment")
    assert v.message == (
        'apigw-users-api-deployment (kubernetes:apps/v1:Deployment): metadata.namespace is "apigw"; no Namespace of '
        'this stack is named "apigw", so the pack cannot verify that its pods are in a service mesh; prod needs the '
        f"namespace created by the stack with {PASSES} ({MESH})")


def test_a_deployment_without_a_namespace_runs_in_default(prod, k8s):
    one(k8s, "apigw-users-api-deployment").properties["metadata"].pop("namespace")
    [v] = mesh_findings(prod, k8s)
    assert (v.policy, v.resource) == (MESH, "apigw-users-api-deployment")
    assert 'metadata.namespace is not set ("default"); no Namespace of this stack is named "default"' in v.message


def test_unknown_values_during_a_preview_are_no_false_alarm(prod, k8s):
    k8s = istio(k8s, **{"istio-injection": UNKNOWN}) + [peer_authentication("root", "default", "istio-system",
                                                                              UNKNOWN)]
    assert mesh_findings(prod, k8s) == []
    namespace_meta(k8s)["labels"] = UNKNOWN
    assert mesh_findings(prod, k8s) == []


def test_a_namespace_unknown_during_a_preview_is_followed_through_its_dependency(prod, k8s):
    ns = one(k8s, NAMESPACE)
    deployment = one(k8s, "apigw-users-api-deployment")
    deployment.properties["metadata"]["namespace"] = UNKNOWN
    deployment.property_dependencies = {"metadata": [ns.urn]}
    assert mesh_findings(prod, k8s) == []
    no_mesh(k8s)
    [v] = mesh_findings(prod, k8s)
    assert (v.policy, v.resource) == (MESH, NAMESPACE) and "apigw-users-api-deployment" in v.message


# --- prod-service-mesh on aws, local and stacks without workloads ---------------------------------

def test_the_aws_baseline_runs_ecs_service_connect(prod, aws):
    assert all(r.properties["serviceConnectConfiguration"]["enabled"] is True
               for r in aws if r.type == T.AWS_ECS_SERVICE)
    assert mesh_findings(prod, aws) == []


@pytest.mark.parametrize("change, path, found", [
    (lambda props: props.pop("serviceConnectConfiguration"), "serviceConnectConfiguration", "not set"),
    (lambda props: props["serviceConnectConfiguration"].update(enabled=False), "serviceConnectConfiguration.enabled",
     "false"),
])
def test_an_ecs_service_without_service_connect_is_reported(prod, aws, change, path, found):
    change(one(aws, "apigw-users-api-service").properties)
    [v] = mesh_findings(prod, aws)
    assert (v.policy, v.resource, v.level) == (MESH, "apigw-users-api-service", "mandatory")
    assert v.message == (
        f"apigw-users-api-service (aws:ecs/service:Service): {path} is {found}; prod connects the gateway and the "
        "services through ECS Service Connect, the mesh on aws: serviceConnectConfiguration with enabled: true and "
        f"the cluster's namespace (the aws target sets it on every service) ({MESH})")


def test_service_connect_unknown_during_a_preview_passes(prod, aws):
    one(aws, "apigw-users-api-service").properties["serviceConnectConfiguration"] = UNKNOWN
    one(aws, "apigw-gateway-service").properties["serviceConnectConfiguration"]["enabled"] = UNKNOWN
    assert mesh_findings(prod, aws) == []


def test_the_local_target_and_stacks_without_workloads_have_nothing_to_check():
    with start("prod", target="local") as pack:
        assert mesh_findings(pack, [R("apigw:local:Platform", "apigw", {})]) == []
    with start("prod", target="gcp") as pack:
        assert mesh_findings(pack, gcp_resources()) == []


def test_outside_prod_a_missing_mesh_is_advisory(k8s):
    no_mesh(k8s)
    k8s.append(peer_authentication("relaxed", "default", "apigw", "PERMISSIVE"))
    with start("staging") as pack:
        found = mesh_findings(pack, k8s)
    assert sorted((v.policy, v.resource, v.level) for v in found) == [
        (MESH, NAMESPACE, "advisory"), (MTLS, "relaxed", "advisory")]
    assert all("prod " in v.message.split("; ", 1)[1] for v in found)  # says what prod would need


# --- prod-strict-mtls ---------------------------------------------------------------------------

def test_istio_without_a_peer_authentication_is_reported_on_the_namespace(prod, k8s):
    k8s = istio(k8s)
    [v] = mesh_findings(prod, k8s)
    assert (v.policy, v.resource, v.level) == (MTLS, NAMESPACE, "mandatory")
    assert v.message == (
        f'{NAMESPACE} (kubernetes:core/v1:Namespace): metadata.labels[istio-injection] is "enabled"; Istio injects '
        'namespace "apigw" and no PeerAuthentication of the stack makes its mutual TLS STRICT (Istio\'s default, '
        f"PERMISSIVE, also accepts plain text); {ROOT} ({MTLS})")


def test_a_root_policy_permissive_is_reported_twice(prod, k8s):
    k8s = istio(k8s) + [peer_authentication("apigw-mesh-mtls", "default", "istio-system", "PERMISSIVE")]
    assert_findings(mesh_findings(prod, k8s), [
        (MTLS, "apigw-mesh-mtls", 'spec.mtls.mode is "PERMISSIVE"; prod needs mutual TLS only: STRICT, or UNSET to '
                                  "inherit the mesh-wide STRICT"),
        (MTLS, NAMESPACE, "no PeerAuthentication of the stack makes its mutual TLS STRICT")])


@pytest.mark.parametrize("mode", ["PERMISSIVE", "DISABLE"])
def test_a_namespace_or_workload_policy_letting_plain_text_in_is_reported(prod, k8s, mode):
    k8s.append(peer_authentication("apigw-relaxed", "relaxed", "apigw", mode,
                                   selector={"matchLabels": {"app": "users-api"}}))
    [v] = mesh_findings(prod, k8s)
    assert (v.policy, v.resource, v.level) == (MTLS, "apigw-relaxed", "mandatory")
    assert v.message == (f'apigw-relaxed (kubernetes:security.istio.io/v1:PeerAuthentication): spec.mtls.mode is '
                         f'"{mode}"; prod needs mutual TLS only: STRICT, or UNSET to inherit the mesh-wide STRICT '
                         f"({MTLS})")


def test_a_port_level_permissive_mode_is_reported(prod, k8s):
    k8s.append(peer_authentication("apigw-metrics", "metrics", "apigw", None, token=T.K8S_PEER_AUTHENTICATION_V1BETA1,
                                   selector={"matchLabels": {"app": "gateway"}},
                                   portLevelMtls={"9113": {"mode": "PERMISSIVE"}}))
    [v] = mesh_findings(prod, k8s)
    assert (v.policy, v.resource) == (MTLS, "apigw-metrics")
    assert v.message.startswith('apigw-metrics (kubernetes:security.istio.io/v1beta1:PeerAuthentication): '
                                'spec.portLevelMtls[9113].mode is "PERMISSIVE"; prod needs mutual TLS only')


@pytest.mark.parametrize("policy, passes", [
    (lambda: peer_authentication("ns", "default", "apigw", "STRICT"), True),
    (lambda: peer_authentication("ns", "default", "apigw", "STRICT", token=T.K8S_PEER_AUTHENTICATION_V1BETA1), True),
    (lambda: peer_authentication("other", "default", "other", "STRICT"), False),
    (lambda: peer_authentication("root", "default", "istio-system", "STRICT",
                                 selector={"matchLabels": {"app": "gateway"}}), False),
    (lambda: peer_authentication("root", "default", "istio-system", "UNSET"), False),
    (lambda: peer_authentication("aks-root", "default", "aks-istio-system", "STRICT"), False),
])
def test_which_peer_authentication_covers_an_injected_namespace(prod, k8s, policy, passes):
    found = mesh_findings(prod, istio(k8s) + [policy()])
    assert [(v.policy, v.resource) for v in found] == ([] if passes else [(MTLS, NAMESPACE)])


@pytest.mark.parametrize("spec, path", [
    ({"host": "users-api", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}, "spec.trafficPolicy.tls.mode"),
    ({"host": "users-api", "trafficPolicy": {"portLevelSettings": [
        {"port": {"number": 8080.0}, "tls": {"mode": "DISABLE"}}]}},
     "spec.trafficPolicy.portLevelSettings[8080].tls.mode"),
    ({"host": "users-api", "subsets": [{"name": "v1", "labels": {"version": "v1"},
                                        "trafficPolicy": {"tls": {"mode": "DISABLE"}}}]},
     "spec.subsets[v1].trafficPolicy.tls.mode"),
])
def test_a_destination_rule_turning_tls_off_is_reported(prod, k8s, spec, path):
    k8s.append(destination_rule("apigw-users-api-plain", spec))
    [v] = mesh_findings(prod, k8s)
    assert (v.policy, v.resource, v.level) == (MTLS, "apigw-users-api-plain", "mandatory")
    assert v.message == (f'apigw-users-api-plain (kubernetes:networking.istio.io/v1:DestinationRule): {path} is '
                         '"DISABLE"; prod needs mutual TLS to every host in the mesh: ISTIO_MUTUAL, or no tls setting '
                         f"(Istio then uses mutual TLS on its own) ({MTLS})")


@pytest.mark.parametrize("token", [T.K8S_DESTINATION_RULE, T.K8S_DESTINATION_RULE_V1BETA1,
                                   T.K8S_DESTINATION_RULE_V1ALPHA3])
def test_destination_rules_of_every_served_version_are_judged(prod, k8s, token):
    k8s.append(destination_rule("apigw-mutual", {"host": "users-api", "trafficPolicy": {
        "tls": {"mode": "ISTIO_MUTUAL"}, "loadBalancer": {"simple": "LEAST_REQUEST"}}}, token))
    assert mesh_findings(prod, k8s) == []
    one(k8s, "apigw-mutual").properties["spec"]["trafficPolicy"]["tls"]["mode"] = "DISABLE"
    assert [(v.policy, v.resource) for v in mesh_findings(prod, k8s)] == [(MTLS, "apigw-mutual")]


def test_without_istio_there_is_nothing_to_check(prod, k8s):
    assert mesh_findings(prod, linkerd(k8s)) == []


# --- AKS with the managed Istio add-on -------------------------------------------------------------

def aks_istio(k8s, revision="asm-1-24"):
    resources = aks_exposure(istio(k8s, **{"istio.io/rev": revision})) + azure_resources()
    one(resources, "apigw-aks").properties["serviceMeshProfile"] = {"mode": "Istio",
                                                                    "istio": {"revisions": [revision]}}
    return resources


def test_aks_istio_add_on_with_a_strict_policy_in_its_root_namespace_passes(prod, k8s):
    resources = aks_istio(k8s) + [peer_authentication("root", "default", "aks-istio-system", "STRICT")]
    assert mesh_findings(prod, resources) == []


def test_aks_istio_add_on_without_a_peer_authentication(prod, k8s):
    resources = aks_istio(k8s)
    [v] = mesh_findings(prod, resources)
    assert (v.policy, v.resource) == (MTLS, NAMESPACE)
    assert v.message == (
        f'{NAMESPACE} (kubernetes:core/v1:Namespace): metadata.labels[istio.io/rev] is "asm-1-24"; Istio injects '
        'namespace "apigw" and no PeerAuthentication of the stack makes its mutual TLS STRICT (Istio\'s default, '
        "PERMISSIVE, also accepts plain text); prod needs a PeerAuthentication named default in the root namespace "
        'istio-system or aks-istio-system with spec.mtls.mode: STRICT and no selector, or one in namespace "apigw" '
        f"({MTLS})")


def test_aks_istio_add_on_without_injected_namespaces_is_reported_on_the_cluster(prod, k8s):
    resources = aks_istio(k8s)
    no_mesh(resources)
    assert_findings(mesh_findings(prod, resources), [
        (MESH, NAMESPACE, "metadata.labels[istio-injection] is not set"),
        (MTLS, "apigw-aks", 'serviceMeshProfile.mode is "Istio"; the AKS Istio add-on runs and no PeerAuthentication '
                            "of the stack makes mutual TLS STRICT (Istio's default, PERMISSIVE, also accepts plain "
                            "text); prod needs a PeerAuthentication named default in the root namespace "
                            "aks-istio-system with spec.mtls.mode: STRICT and no selector")])


def test_a_mesh_route_on_a_service_is_not_an_entry_point():
    """Linkerd's HTTPRoutes attach to Services (GAMMA): prod-load-balanced-gateway must not count them as
    load balancers in front of the services (they are the mesh's routing between gateway and services)."""
    from policies.rules.topology import is_mesh_route
    mesh_route = {"spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "users-api", "port": 80}]}}
    gateway_route = {"spec": {"parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                              "name": "edge"}]}}
    assert is_mesh_route(mesh_route) and not is_mesh_route(gateway_route) and not is_mesh_route({"spec": {}})
