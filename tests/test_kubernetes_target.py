"""The kubernetes stacks under mocks: exact inputs by type token, per phase."""
from __future__ import annotations

import pytest

from components.kubernetes.gateway import EXPORTER_UID
from components.kubernetes.workload import GATEWAY_UID, SERVICE_UID
from tests.conftest import variant_config
from tools.offline import run_program

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SERVICES = ("users-api", "locations-api", "payments-api")

# (gateway min, max), {service: (min, max)} as the shipped stack files say.
EXPECTED_BOUNDS = {
    "kubernetes-dev": ((1, 2), {s: (1, 2) for s in SERVICES}),
    "kubernetes-staging": ((2, 4), {s: (2, 4) for s in SERVICES}),
    "kubernetes-prod": ((3, 12), {"users-api": (3, 10), "locations-api": (2, 8), "payments-api": (2, 8)}),
}


def deployment(plan, app):
    return plan.one(DEPLOYMENT, f"apigw-{app}-deployment").inputs


@pytest.mark.parametrize("stack", sorted(EXPECTED_BOUNDS))
def test_replicas_and_autoscaler_bounds(plan_of, stack):
    plan = plan_of(stack)
    (gw_min, gw_max), services = EXPECTED_BOUNDS[stack]
    for app, (lo, hi) in {"gateway": (gw_min, gw_max), **services}.items():
        assert deployment(plan, app)["spec"]["replicas"] == lo
        hpa = plan.one(HPA, f"apigw-{app}-hpa").inputs["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (lo, hi)
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": app}
        assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert len(plan.by_type(DEPLOYMENT)) == 4 and len(plan.by_type(HPA)) == 4


def test_prod_autoscaler_target_comes_from_options(plan_of):
    hpa = plan_of("kubernetes-prod").one(HPA, "apigw-users-api-hpa").inputs["spec"]
    assert hpa["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 65}}}]


@pytest.mark.parametrize("stack, expected", [("kubernetes-dev", 0), ("kubernetes-staging", 4),
                                             ("kubernetes-prod", 4)])
def test_disruption_budgets_allow_one_eviction(plan_of, stack, expected):
    budgets = plan_of(stack).by_type(PDB)
    assert len(budgets) == expected  # one instance (dev) cannot both allow an eviction and keep one ready
    for budget in budgets:
        app = budget.name.removeprefix("apigw-").removesuffix("-pdb")
        assert budget.inputs["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}}


@pytest.mark.parametrize("stack", sorted(EXPECTED_BOUNDS))
def test_every_container_is_hardened_and_probed(plan_of, stack):
    plan = plan_of(stack)
    for app in ("gateway", *SERVICES):
        pod = deployment(plan, app)["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        assert {"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
        # With monitoring on (staging, prod) the gateway also runs its metrics exporter, hardened the same way.
        expected = ["nginx", "metrics"] if app == "gateway" and stack != "kubernetes-dev" else [app if app != "gateway"
                                                                                               else "nginx"]
        assert [c["name"] for c in pod["containers"]] == expected
        for container in pod["containers"]:
            uid = {"nginx": GATEWAY_UID, "metrics": EXPORTER_UID}.get(container["name"], SERVICE_UID)
            assert container["securityContext"] == {
                "runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"}}
            assert not container["image"].endswith(":latest") and ":" in container["image"]
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}
            assert container["resources"]["limits"] == {"memory": container["resources"]["requests"]["memory"]}
            port = container["ports"][0]
            assert container["readinessProbe"]["httpGet"]["port"] in (port["containerPort"], port["name"])
            assert container["livenessProbe"]["httpGet"] == container["readinessProbe"]["httpGet"]


def test_probes_follow_the_stack_health_check(plan_of):
    plan = plan_of("kubernetes-prod")  # interval 10, timeout 3, healthy 2, unhealthy 3
    users = deployment(plan, "users-api")["spec"]["template"]["spec"]["containers"][0]
    assert users["readinessProbe"] == {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10,
                                       "timeoutSeconds": 3, "successThreshold": 2, "failureThreshold": 3}
    assert users["livenessProbe"] == {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10,
                                      "timeoutSeconds": 3, "successThreshold": 1, "failureThreshold": 6}
    assert users["resources"] == {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}
    assert users["env"] == [{"name": "WHOAMI_PORT_NUMBER", "value": "8080"}]
    gateway = deployment(plan, "gateway")["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert gateway["command"] == ["nginx", "-c", "/etc/nginx/gateway/nginx.conf", "-g", "daemon off;"]
    assert gateway["image"] == "nginxinc/nginx-unprivileged:1.27.3-alpine"


@pytest.mark.parametrize("stack, phase", [("kubernetes-dev", "dev"), ("kubernetes-staging", "staging"),
                                          ("kubernetes-prod", "prod")])
def test_labels_on_everything(plan_of, stack, phase):
    plan = plan_of(stack)
    for resource in plan.resources:
        if not resource.type.startswith("kubernetes:") or resource.type.startswith("kubernetes:helm"):
            continue
        found = resource.inputs["metadata"]["labels"]
        assert found["phase"] == phase and "app" in found and "component" in found, resource.name
    users = deployment(plan, "users-api")
    assert users["metadata"]["labels"]["app"] == "users-api"
    assert users["metadata"]["labels"]["component"] == "service"
    assert users["spec"]["template"]["metadata"]["labels"]["phase"] == phase


def test_extra_labels_from_config(plan_of):
    labels = deployment(plan_of("kubernetes-prod"), "gateway")["metadata"]["labels"]
    assert labels["team"] == "platform" and labels["cost-center"] == "api"


def test_namespace_enforces_restricted_pod_security(plan_of):
    ns = plan_of("kubernetes-prod").one(NAMESPACE, "apigw-namespace").inputs["metadata"]
    assert ns["name"] == "apigw"
    for mode in ("enforce", "audit", "warn"):
        assert ns["labels"][f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_topology_spread_only_in_prod(plan_of):
    for app in ("gateway", *SERVICES):
        pod = deployment(plan_of("kubernetes-prod"), app)["spec"]["template"]["spec"]
        assert pod["topologySpreadConstraints"] == [
            {"topologyKey": "topology.kubernetes.io/zone", "maxSkew": 1, "minDomains": 2,
             "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": app}}},
            {"topologyKey": "kubernetes.io/hostname", "maxSkew": 1,
             "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": app}}},
        ]
        for stack in ("kubernetes-dev", "kubernetes-staging"):
            assert "topologySpreadConstraints" not in deployment(plan_of(stack), app)["spec"]["template"]["spec"]


@pytest.mark.parametrize("stack, source", [
    ("kubernetes-prod", {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}),
    # staging exposes a LoadBalancer Service: its addresses are not known in advance.
    ("kubernetes-staging", {"ipBlock": {"cidr": "0.0.0.0/0"}}),
])
def test_network_policies_in_staging_and_prod_not_dev(plan_of, stack, source):
    assert plan_of("kubernetes-dev").by_type(NETWORK_POLICY) == []
    plan = plan_of(stack)
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plan.by_type(NETWORK_POLICY)}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies["allow-dns"]["egress"] == [{"to": [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]
    assert policies["allow-lb-to-gateway"] == {
        "podSelector": {"matchLabels": {"app": "gateway"}}, "policyTypes": ["Ingress"],
        "ingress": [{"from": [source], "ports": [{"protocol": "TCP", "port": 8080}]}]}
    egress = policies["allow-gateway-to-services"]["egress"][0]
    assert egress["to"][0]["podSelector"]["matchExpressions"][0]["values"] == [
        "locations-api", "payments-api", "users-api"]
    for app in SERVICES:
        assert policies[f"allow-gateway-to-{app}"] == {
            "podSelector": {"matchLabels": {"app": app}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "gateway"}}}],
                         "ports": [{"protocol": "TCP", "port": 8080}]}]}


def test_exposure_load_balancer_service_in_dev(plan_of):
    plan = plan_of("kubernetes-dev")
    gateway = plan.one(SERVICE, "apigw-gateway-service").inputs["spec"]
    assert gateway["type"] == "LoadBalancer" and gateway["selector"] == {"app": "gateway"}
    assert plan.by_type(INGRESS) == []


def test_exposure_ingress_with_tls_in_prod(plan_of):
    plan = plan_of("kubernetes-prod")
    assert plan.one(SERVICE, "apigw-gateway-service").inputs["spec"]["type"] == "ClusterIP"
    ingress = plan.one(INGRESS, "apigw-gateway-ingress").inputs
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "api-example-com-tls", "hosts": ["api.example.com"]}]
    assert ingress["spec"]["rules"][0]["host"] == "api.example.com"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"


def without_mesh(change=lambda config: None) -> dict:
    """kubernetes-prod's config with the mesh off (the shipped stack runs Istio), changed by `change`."""
    def both(config):
        config["apigw:mesh"] = "none"
        config["apigw:load_balancer"].pop("algorithm", None)
        change(config)
    return variant_config("kubernetes-prod", both)


def test_without_a_mesh_the_gateway_balances_over_each_services_pods():
    """The shipped gateway image is nginx 1.27.3: upstream servers re-resolved while it runs."""
    plan = run_program("kubernetes-prod", without_mesh())
    conf = plan.one(CONFIG_MAP, "apigw-gateway-config").inputs["data"]["nginx.conf"]
    lines = [line.strip() for line in conf.splitlines()]
    assert "resolver kube-dns.kube-system.svc.cluster.local valid=5s ipv6=off;" in lines
    for app in SERVICES:
        upstream = "svc_" + app.replace("-", "_")
        block = lines[lines.index(f"upstream {upstream} {{"):][:5]
        assert block == [f"upstream {upstream} {{", f"zone {upstream} 64k;",
                         f"server {app}-endpoints.apigw.svc.cluster.local:8080 resolve max_fails=3 fail_timeout=10s;",
                         "keepalive 32;", "}"]
        assert lines.count(f"proxy_pass http://{upstream};") == 2
        headless = plan.one(SERVICE, f"apigw-{app}-endpoints").inputs
        assert headless["metadata"]["name"] == f"{app}-endpoints"
        assert headless["spec"] == {"clusterIP": "None", "selector": {"app": app}, "ports": [
            {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]}
    pod_annotations = deployment(plan, "gateway")["spec"]["template"]["metadata"]["annotations"]
    assert len(pod_annotations["checksum/nginx-config"]) == 64
    backend = plan.one(SERVICE, "apigw-users-api-service").inputs
    assert backend["metadata"]["name"] == "users-api"
    assert backend["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


def test_monitoring_follows_the_phase(plan_of):
    assert plan_of("kubernetes-dev").by_type("kubernetes:helm.sh/v3:Release") == []
    release = plan_of("kubernetes-prod").one("kubernetes:helm.sh/v3:Release", "apigw-monitoring-prometheus-stack")
    assert release.inputs["chart"] == "kube-prometheus-stack" and release.inputs["version"] == "65.1.1"
    rule = plan_of("kubernetes-prod").one("kubernetes:monitoring.coreos.com/v1:PrometheusRule",
                                          "apigw-monitoring-alerts").inputs
    assert [group["name"] for group in rule["spec"]["groups"]] == ["apigw-recording", "apigw"]
    records = [r["record"] for r in rule["spec"]["groups"][0]["rules"]]
    assert records == ["apigw:instance_requests:rate5m", "apigw:instance_errors:rate5m",
                       "apigw:instance_latency_p99:seconds"]
    alerts = [r["alert"] for r in rule["spec"]["groups"][1]["rules"]]
    assert alerts == ["ApigwInstancesUnavailable", "ApigwSingleInstance", "ApigwAutoscalerAtMax", "ApigwErrorRateHigh",
                      "ApigwLatencyP99High", "ApigwFewerReadyThanMinimum", "ApigwInstanceImbalance"]


def test_istio_mesh_labels_namespace_and_sets_the_algorithm():
    from tests.conftest import variant_config
    from tools.offline import run_program

    def use_istio(config):
        config["apigw:mesh"] = "istio"
        config["apigw:load_balancer"]["algorithm"] = "least_connections"

    plan = run_program("kubernetes-prod", variant_config("kubernetes-prod", use_istio))
    labels = plan.one(NAMESPACE, "apigw-namespace").inputs["metadata"]["labels"]
    assert labels["istio-injection"] == "enabled"
    rules = {r.inputs["metadata"]["name"]: r.inputs for r in
             plan.by_type("kubernetes:networking.istio.io/v1:DestinationRule")}
    assert sorted(rules) == sorted(SERVICES)
    assert rules["users-api"]["spec"]["host"] == "users-api.apigw.svc.cluster.local"
    assert rules["users-api"]["spec"]["trafficPolicy"]["loadBalancer"] == {"simple": "LEAST_REQUEST"}
    # With a mesh the gateway calls each ClusterIP Service, and says so in its config.
    conf = plan.one(CONFIG_MAP, "apigw-gateway-config").inputs["data"]["nginx.conf"]
    assert conf.splitlines()[0] == ("# Each service by its ClusterIP Service: the mesh balances over the pods "
                                    "and retries.")
    assert "server users-api.apigw.svc.cluster.local:80 max_fails=3 fail_timeout=10s;" in conf
    assert "resolver" not in conf and not plan.by_type(SERVICE) == []
    assert [r.name for r in plan.by_type(SERVICE) if r.name.endswith("-endpoints")] == []


def test_linkerd_mesh_annotates_namespace():
    from tests.conftest import variant_config
    from tools.offline import run_program

    def use_linkerd(config):
        config["apigw:mesh"] = "linkerd"

    plan = run_program("kubernetes-dev", variant_config("kubernetes-dev", use_linkerd))
    meta = plan.one(NAMESPACE, "apigw-namespace").inputs["metadata"]
    assert meta["annotations"] == {"linkerd.io/inject": "enabled"}
    assert plan.by_type("kubernetes:networking.istio.io/v1:DestinationRule") == []


def test_deployments_leave_the_replica_count_to_the_autoscaler(plan_of):
    # pulumi-kubernetes drops ignored fields from its server-side apply patch, so `pulumi up`
    # neither resets a scaled-out fleet nor conflicts with the HPA's field manager
    # (pulumi/pulumi-kubernetes#2491).
    plan = plan_of("kubernetes-prod")
    for app in ("gateway", *SERVICES):
        assert plan.one(DEPLOYMENT, f"apigw-{app}-deployment").ignore_changes == ["spec.replicas"]
    assert plan.one(HPA, "apigw-gateway-hpa").ignore_changes == []


def test_dns_and_ingress_controller_sources_come_from_the_options():
    config = variant_config("kubernetes-prod", lambda c: c["apigw:kubernetes"].update(
        dns={"cidrs": ["169.254.20.10/32"]},  # NodeLocal DNSCache
        ingress_controller={"pod_labels": {"app.kubernetes.io/name": "ingress-nginx"}}))
    plan = run_program("kubernetes-prod", config)
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plan.by_type(NETWORK_POLICY)}
    assert policies["allow-dns"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "169.254.20.10/32"}}]
    assert policies["allow-lb-to-gateway"]["ingress"][0]["from"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}]


@pytest.mark.parametrize("block, expected", [
    ({"dns": {"cidrs": ["not-a-cidr"]}},
     "kubernetes.dns.cidrs: found 'not-a-cidr'; allowed: a CIDR such as 169.254.20.10/32 or 10.0.0.0/16"),
    ({"dns": {"cidrs": ["10.0.0.10/32"], "namespace": "kube-system"}},
     "kubernetes.dns: found {'cidrs': ['10.0.0.10/32'], 'namespace': 'kube-system'}; allowed: either cidrs, "
     "or namespace and pod_labels (not both)"),
    ({"ingress_controller": {"namespace": "x"}},
     "kubernetes.ingress_controller.namespace: found 'x'; allowed: known keys: pod_labels, cidrs"),
])
def test_bad_network_sources_are_refused(block, expected):
    assert expected in problems_with("kubernetes-prod", block)


def problems_with(stack: str, block: dict) -> list[str]:
    """The spec's refusals of a shipped stack whose `kubernetes` block is updated with `block`."""
    from components.spec import SpecError, parse_spec
    from tools.offline import project_keys, stack_config
    raw = project_keys(stack_config(stack))
    raw["kubernetes"].update(block)
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    return [str(p) for p in err.value.problems]


def test_the_gateways_resolver_is_the_dns_the_network_policy_admits():
    config = without_mesh(lambda c: c["apigw:kubernetes"].update(dns={"cidrs": ["169.254.20.10/32"]}))
    plan = run_program("kubernetes-prod", config)
    conf = plan.one(CONFIG_MAP, "apigw-gateway-config").inputs["data"]["nginx.conf"]
    assert "    resolver 169.254.20.10 valid=5s ipv6=off;" in conf


def test_staging_and_prod_monitoring_releases_can_share_a_cluster(plan_of):
    def without_deployed_names(config):
        for key in ("monitoring_release", "monitoring_namespace"):
            config["apigw:kubernetes"].pop(key)
        config["apigw:kubernetes"]["node_exporter"] = False
    shared = run_program("kubernetes-staging", variant_config("kubernetes-staging", without_deployed_names))
    releases = {"kubernetes-staging": shared.one("kubernetes:helm.sh/v3:Release",
                                                 "apigw-monitoring-prometheus-stack").inputs,
                "kubernetes-prod": plan_of("kubernetes-prod").one("kubernetes:helm.sh/v3:Release",
                                                                  "apigw-monitoring-prometheus-stack").inputs}
    names = {stack: (r["name"], r["namespace"], r["values"]["fullnameOverride"]) for stack, r in releases.items()}
    assert names == {"kubernetes-staging": ("apigw-staging-kps", "apigw-staging-monitoring", "apigw-staging-kps"),
                     "kubernetes-prod": ("kube-prometheus-stack", "monitoring", "kube-prometheus-stack")}
    assert (releases["kubernetes-staging"]["values"]["nodeExporter"], releases["kubernetes-prod"]["values"][
        "nodeExporter"]) == ({"enabled": False}, {"enabled": True})
    values = releases["kubernetes-staging"]["values"]
    assert values["prometheusOperator"] == {"namespaces": {"releaseNamespace": True, "additional": ["apigw-staging"]}}
    in_watched = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                        "values": ["apigw-staging", "apigw-staging-monitoring"]}]}
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["ruleNamespaceSelector"] == spec["serviceMonitorNamespaceSelector"] == \
        spec["podMonitorNamespaceSelector"] == in_watched


@pytest.mark.parametrize("stack", ["kubernetes-staging", "kubernetes-prod"])
def test_shipped_stacks_keep_the_monitoring_release_they_were_deployed_with(plan_of, stack):
    release = plan_of(stack).one("kubernetes:helm.sh/v3:Release", "apigw-monitoring-prometheus-stack").inputs
    assert (release["name"], release["namespace"]) == ("kube-prometheus-stack", "monitoring")


def test_a_monitoring_release_name_the_chart_would_truncate_is_refused():
    from components.spec import SpecError, parse_spec
    from tools.offline import project_keys, stack_config
    raw = project_keys(stack_config("kubernetes-staging"))
    for key in ("monitoring_release", "monitoring_namespace"):
        raw["kubernetes"].pop(key)
    raw["kubernetes"]["namespace"] = "payments-platform-staging"  # 25 + "-kps" > 26
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert [str(p) for p in err.value.problems] == [
        "kubernetes.namespace: found 'payments-platform-staging'; allowed: a release name "
        "(kubernetes.monitoring_release, default <namespace>-kps) that is a DNS label of at most 26 characters: "
        "kube-prometheus-stack truncates longer names, and two stacks would share cluster-wide objects"]
    raw["kubernetes"]["monitoring_release"] = "payments-staging-kps"
    assert parse_spec(raw).options.monitoring_release == "payments-staging-kps"


@pytest.mark.parametrize("block, expected", [
    ({"dns": {"namespace": "Bad NS"}},
     "kubernetes.dns.namespace: found 'Bad NS'; allowed: a namespace name: a DNS label"),
    ({"dns": {"namespace": "kube-system", "pod_labels": {"x y": "z"}}},
     "kubernetes.dns.pod_labels.x y: found 'x y'; allowed: a Kubernetes label key"),
    ({"ingress_controller": {"pod_labels": {"app": "a b"}}},
     "kubernetes.ingress_controller.pod_labels.app: found 'a b'; allowed: a Kubernetes label value"),
    ({"host": "Not A Host!"}, "kubernetes.host: found 'Not A Host!'; allowed: the Ingress host: a DNS name"),
    ({"ingress_class": "Bad Class"}, "kubernetes.ingress_class: found 'Bad Class'; allowed: an IngressClass name"),
    ({"ingress_namespace": "Ingress NS"}, "kubernetes.ingress_namespace: found 'Ingress NS'; allowed: a DNS label"),
    ({"dns": {"cidrs": ["10.96.0.0/12"]}},
     "kubernetes.dns.cidrs: found '10.96.0.0/12'; allowed: a single address first (e.g. 169.254.20.10/32): the "
     "gateway's nginx uses it as its DNS resolver"),
])
def test_kubernetes_names_labels_and_resolver_are_checked(block, expected):
    found = problems_with("kubernetes-prod", block)
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize("key, value", [("host", "api.example.com"), ("ingress_class", "nginx"),
                                        ("ingress_namespace", "ingress-nginx"),
                                        ("ingress_controller", {"pod_labels": {"app": "x"}})])
def test_ingress_keys_are_refused_without_an_ingress(key, value):
    assert problems_with("kubernetes-staging", {key: value}) == [
        f"kubernetes.{key}: found {value!r}; allowed: nothing with exposure load_balancer: only an Ingress uses it"]


def test_an_older_nginx_image_balances_over_pods_with_a_variable():
    """nginx before 1.27.3 cannot re-resolve upstream servers: the config then uses proxy_pass with a
    variable (what tests/test_gateway_resolved.py runs on Debian's nginx 1.22)."""
    config = without_mesh(lambda c: c["apigw:gateway"].update(image="nginxinc/nginx-unprivileged:1.26.2-alpine"))
    conf = run_program("kubernetes-prod", config).one(CONFIG_MAP, "apigw-gateway-config").inputs["data"]["nginx.conf"]
    lines = [line.strip() for line in conf.splitlines()]
    assert lines.count('set $svc_users_api "users-api-endpoints.apigw.svc.cluster.local:8080";') == 2
    assert "proxy_pass http://$svc_users_api;" in lines and "upstream svc_users_api {" not in lines
