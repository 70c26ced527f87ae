"""The five metrics per instance on the Kubernetes-based targets: rules pass the real promtool, every
query names only metrics from the one list, the monitors reach the right ports, and Prometheus may scrape them."""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest
import yaml

from components.gateway import log_exporter
from components.kubernetes.dashboard import dashboard, queries
from components.kubernetes.metrics import QUERIES, SOURCES, metric_names, query
from tests.conftest import variant_config
from tools.offline import run_program, stack_config

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian's prometheus package) is not installed")
RULE_TOKENS = ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "kubernetes:monitoring.googleapis.com/v1:Rules")
VARIANTS = {
    "kubernetes-staging": {}, "kubernetes-prod": {},                       # no mesh; istio
    "gcp-prod": {}, "azure-prod": {},                                      # linkerd; istio
    "gcp-prod-managed": {"stack": "gcp-prod", "kubernetes": {"metrics_backend": "gke-managed-prometheus"}},
}


def plan_for(name: str, plan_of):
    variant = VARIANTS[name]
    if not variant:
        return plan_of(name)
    stack = variant["stack"]
    return run_program(stack, variant_config(stack, lambda c: c.__setitem__(
        "apigw:kubernetes", {**c.get("apigw:kubernetes", {}), **variant["kubernetes"]})))


def rule_spec(plan) -> dict:
    (rule,) = [r for r in plan.resources if r.type in RULE_TOKENS]
    return rule.inputs["spec"]


@needs_promtool
@pytest.mark.parametrize("name", VARIANTS)
def test_every_rule_file_passes_promtool(plan_of, name, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule_spec(plan_for(name, plan_of))))
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


@needs_promtool
def test_promtool_refuses_a_broken_rule(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"alert": "A", "expr": "sum by (pod ("}]}]}))
    assert subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, timeout=60).returncode == 1


@needs_promtool
@pytest.mark.parametrize("mesh", ["none", "istio", "linkerd"])
def test_every_dashboard_query_is_valid_promql(mesh, tmp_path):
    board = dashboard("apigw", ["gateway", "users-api"], mesh, "gateway")
    rules = [{"record": f"apigw:check_{i}", "expr": expression} for i, expression in enumerate(queries(board))]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", VARIANTS)
def test_rules_and_dashboards_read_only_metrics_from_the_list(plan_of, name):
    plan = plan_for(name, plan_of)
    expressions = [rule["expr"] for group in rule_spec(plan)["groups"] for rule in group["rules"]]
    boards = [json.loads(next(iter(r.inputs["data"].values()))) for r in plan.by_type("kubernetes:core/v1:ConfigMap")
              if r.inputs["metadata"]["labels"].get("grafana_dashboard") == "1"]
    for board in boards:
        expressions += queries(board)
    read = set().union(*(metric_names(e) for e in expressions))
    assert read and read <= set(SOURCES), read - set(SOURCES)


def test_each_query_has_a_source_per_mesh_and_names_listed_metrics():
    for name in QUERIES:
        for mesh in ("none", "istio", "linkerd"):
            assert metric_names(query(name, mesh, "ns", "svc")) <= set(SOURCES), (name, mesh)
    # The exporter's own names are the list's.
    assert {log_exporter.REQUESTS, f"{log_exporter.RESPONSE_SECONDS}_bucket"} <= set(SOURCES)


def test_the_dashboard_shows_the_five_metrics_per_instance_and_replicas_against_bounds(plan_of):
    plan = plan_of("kubernetes-staging")   # no mesh: services per upstream instance from the exporter
    (config_map,) = [r for r in plan.by_type("kubernetes:core/v1:ConfigMap") if r.name == "apigw-monitoring-dashboard"]
    assert config_map.inputs["metadata"]["namespace"] == "monitoring"
    assert config_map.inputs["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(config_map.inputs["data"]["apigw-instances.json"])
    titles = [p["title"] for p in board["panels"] if p["type"] == "timeseries"]
    for service in ("users-api", "locations-api", "payments-api"):
        assert [t.split(": ", 1)[1] for t in titles if t.startswith(f"{service}:")] == [
            "Requests per instance", "p99 response time per instance", "5xx share per instance", "CPU per instance",
            "Memory per instance (share of limit)", "Failed probes per instance",
            "replicas against the autoscaler's bounds"]
    requests = next(p for p in board["panels"] if p["title"] == "users-api: Requests per instance")
    assert requests["targets"] == [{"refId": "A", "legendFormat": "{{upstream}}", "expr": (
        'sum by (upstream) (rate(apigw_gateway_requests_total{namespace="apigw-staging", service="users-api"}[5m]))')}]


def test_with_a_mesh_the_instances_come_from_its_proxies(plan_of):
    board = dashboard("apigw", ["gateway", "users-api"], "istio", "gateway")
    requests = next(p for p in board["panels"] if p["title"] == "users-api: Requests per instance")
    assert requests["targets"][0]["expr"] == ('sum by (pod) (rate(istio_requests_total{reporter="destination", '
                                              'namespace="apigw", destination_workload="users-api"}[5m]))')
    monitors = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in
                plan_of("kubernetes-prod").by_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")}
    assert monitors == {
        "apigw-gateway": {"selector": {"matchLabels": {"app": "gateway"}},
                          "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}]},
        "apigw-mesh": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": [
            "gateway", "locations-api", "payments-api", "users-api"]}]},
            "podMetricsEndpoints": [{"port": "http-envoy-prom", "path": "/stats/prometheus", "interval": "15s"}]}}


def test_gke_managed_prometheus_gets_its_own_monitor_and_rule_kinds(plan_of):
    plan = plan_for("gcp-prod-managed", plan_of)
    monitors = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in
                plan.by_type("kubernetes:monitoring.googleapis.com/v1:PodMonitoring")}
    assert monitors["apigw-mesh"]["endpoints"] == [{"port": "linkerd-admin", "path": "/metrics", "interval": "15s"}]
    assert plan.by_type("kubernetes:monitoring.coreos.com/v1:PodMonitor") == []
    assert [r.inputs["chart"] for r in plan.by_type("kubernetes:helm.sh/v3:Release")
            if r.inputs["chart"] == "kube-prometheus-stack"] == []
    policy = plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "apigw-network-allow-metrics-scrape").inputs
    assert policy["spec"]["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "gmp-system"}}}], "ports": [{"protocol": "TCP", "port": 9145.0},
                                                                   {"protocol": "TCP", "port": 4191.0}]}]


def test_prometheus_may_scrape_the_exporter_and_the_sidecars(plan_of):
    policy = plan_of("kubernetes-prod").one("kubernetes:networking.k8s.io/v1:NetworkPolicy",
                                            "apigw-network-allow-metrics-scrape").inputs["spec"]
    assert policy == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "ports": [{"protocol": "TCP", "port": 9145.0}, {"protocol": "TCP", "port": 15090.0}]}]}


def test_the_gateway_runs_the_exporter_from_a_config_map_and_nginx_logs_to_it(plan_of):
    plan = plan_of("kubernetes-staging")
    files = plan.one("kubernetes:core/v1:ConfigMap", "apigw-gateway-metrics").inputs["data"]
    assert files["log_exporter.py"] == pathlib.Path(log_exporter.__file__).read_text()
    assert json.loads(files["routes.json"]) == [["/locations", "locations-api"], ["/payments", "payments-api"],
                                                ["/users", "users-api"]]
    conf = plan.one("kubernetes:core/v1:ConfigMap", "apigw-gateway-config").inputs["data"]["nginx.conf"]
    assert "    access_log syslog:server=127.0.0.1:5514,nohostname gateway;" in conf
    dev = plan_of("kubernetes-dev")   # no monitoring: no exporter, no syslog
    assert "syslog" not in dev.one("kubernetes:core/v1:ConfigMap", "apigw-gateway-config").inputs["data"]["nginx.conf"]


def test_azure_managed_prometheus_gets_its_monitors_and_rule_groups_in_azure(plan_of, tmp_path):
    plan = run_program("azure-prod", variant_config("azure-prod", lambda c: c.__setitem__(
        "apigw:kubernetes", {**c.get("apigw:kubernetes", {}), "metrics_backend": "azure-managed-prometheus"})))
    monitors = {r.inputs["metadata"]["name"] for r in plan.by_type("kubernetes:azmonitoring.coreos.com/v1:PodMonitor")}
    assert monitors == {"apigw-gateway", "apigw-mesh"}
    assert [r for r in plan.resources if r.type.endswith(":PrometheusRule") or
            (r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "kube-prometheus-stack")] == []
    groups = {r.inputs["ruleGroupName"]: r.inputs for r in
              plan.by_type("azure-native:alertsmanagement:PrometheusRuleGroup")}
    assert sorted(groups) == ["apigw-apigw", "apigw-apigw-recording"]
    alerts = {rule["alert"]: rule for rule in groups["apigw-apigw"]["rules"]}
    assert (alerts["ApigwErrorRateHigh"]["severity"], alerts["ApigwErrorRateHigh"]["for"]) == (0.0, "PT5M")
    assert alerts["ApigwLatencyP99High"]["severity"] == 2.0
    assert alerts["ApigwErrorRateHigh"]["actions"] == [{"actionGroupId": stack_config("azure-prod")[
        "apigw:monitoring"]["alarm_topic"]}]
    for group in groups.values():   # the Azure Monitor workspace the telemetry writes to, and the cluster
        assert "/providers/Microsoft.Monitor/accounts/apigw-telemetry-prometheus" in group["scopes"][0]
        assert group["scopes"][1].endswith("/managedClusters/apigw-azure-prod")
        assert group["clusterName"] == "apigw-azure-prod"
    scrape = plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "apigw-network-allow-metrics-scrape").inputs
    assert scrape["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "kube-system"}}}]
    if PROMTOOL:   # the same rules, as promtool reads them
        path = tmp_path / "rules.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": name, "rules": [
            {k: v for k, v in (("record", r.get("record")), ("alert", r.get("alert")), ("expr", r["expression"]))
             if v} for r in group["rules"]]} for name, group in groups.items()]}))
        result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
