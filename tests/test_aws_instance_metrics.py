"""Per-instance metrics on AWS: the gateway log's metric filters (their inputs, and the real nginx's access
log run through their patterns), the per-task dashboard widgets, and the new alarms."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import pytest

from components.aws.monitoring import GATEWAY_NAMESPACE, INSTANCE_FILTERS
from components.gateway.nginx import render_gateway_config
from tests.test_gateway_nginx import NGINX, _free_port, _wait_listening, make_spec, needs_nginx
from tests.test_gateway_resolved import BACKEND

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
_TERM = re.compile(r'^\{ \$\.(?P<field>\w+) = (?P<value>\*|"[^"]*") \}$')


def matches(pattern: str, event: dict) -> bool:
    """CloudWatch's JSON filter pattern, for the two forms INSTANCE_FILTERS uses: any value, or a string with `*`."""
    term = _TERM.match(pattern)
    assert term, f"a pattern form this check does not know: {pattern}"
    if term["field"] not in event:
        return False
    if term["value"] == "*":
        return True
    wanted = term["value"].strip('"')
    return re.fullmatch(re.escape(wanted).replace(r"\*", ".*"), str(event[term["field"]])) is not None


def published(lines: list[str]) -> dict[str, dict[str, list[float]]]:
    """metric -> Instance -> the values the filters would publish."""
    out: dict[str, dict[str, list[float]]] = {metric: {} for metric in INSTANCE_FILTERS}
    for line in lines:
        event = json.loads(line)
        for metric, (pattern, value) in INSTANCE_FILTERS.items():
            if matches(pattern, event):
                number = event[value[2:]] if value.startswith("$.") else float(value)
                assert isinstance(number, (int, float)), f"{metric}: {value} is not a number in the log: {number!r}"
                out[metric].setdefault(event["instance"], []).append(float(number))
    return out


def test_metric_filters_publish_per_gateway_task(plan_of):
    plan = plan_of("aws-prod")
    filters = {r.name: r.inputs for r in plan.by_type(FILTER)}
    assert sorted(filters) == ["apigw-monitoring-gateway-errors5xx", "apigw-monitoring-gateway-requests",
                               "apigw-monitoring-gateway-responsetime"]
    time = filters["apigw-monitoring-gateway-responsetime"]
    assert (time["name"], time["logGroupName"], time["pattern"]) == (
        "apigw-aws-prod-gateway-ResponseTime", "/ecs/apigw-aws-prod/gateway", "{ $.request_time = * }")
    assert time["metricTransformation"] == {"name": "ResponseTime", "namespace": GATEWAY_NAMESPACE,
                                            "value": "$.request_time", "dimensions": {"Instance": "$.instance"},
                                            "unit": "Seconds"}


def test_the_new_alarms_watch_minimums_and_imbalance(plan_of):
    plan = plan_of("aws-prod")
    below = plan.one(ALARM, "apigw-monitoring-users-api-below-minimum").inputs
    assert (below["namespace"], below["metricName"], below["statistic"], below["threshold"],
            below["comparisonOperator"], below["treatMissingData"]) == (
        "ECS/ContainerInsights", "RunningTaskCount", "Minimum", 3.0, "LessThanThreshold", "breaching")
    assert plan.one(ALARM, "apigw-monitoring-gateway-below-minimum").inputs["threshold"] == 3.0
    imbalance = plan.one(ALARM, "apigw-monitoring-gateway-imbalance").inputs
    assert [q.get("expression") for q in imbalance["metricQueries"]] == [
        'SELECT MAX(Requests) FROM SCHEMA("apigw/gateway", Instance)',
        'SELECT MIN(Requests) FROM SCHEMA("apigw/gateway", Instance)', "IF(quietest > 0, busiest / quietest, 0)"]
    assert (imbalance["threshold"], imbalance["evaluationPeriods"]) == (2.0, 3.0)
    assert imbalance["alarmActions"] == ["arn:aws:sns:us-east-1:123456789012:apigw-prod-alarms"]


def test_the_dashboard_shows_each_gateway_task_and_each_service_task(plan_of):
    body = json.loads(plan_of("aws-prod").one("aws:cloudwatch/dashboard:Dashboard",
                                              "apigw-monitoring-dashboard").inputs["dashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert {"Requests per gateway task (access log)", "p99 response time per gateway task (s)",
            "5xx per gateway task", "Running tasks against the minimum",
            "users-api: CPU and memory per task (Container Insights)"} <= set(titles)
    requests = next(w for w in body["widgets"] if w["properties"]["title"] == "Requests per gateway task (access log)")
    assert requests["properties"]["metrics"] == [[{
        "expression": "SEARCH('{apigw/gateway,Instance} MetricName=\"Requests\"', 'Sum', 60)", "label": "",
        "id": "e1"}]]


@needs_nginx
def test_the_real_nginx_log_gives_per_instance_figures_through_the_filters(tmp_path):
    port, backend_port = _free_port(), _free_port()
    backend = subprocess.Popen([sys.executable, "-c", BACKEND, "127.0.0.1", str(backend_port), "ok",
                                str(tmp_path / "backend.log")])
    spec = make_spec(services={"users-api": {}})
    conf = render_gateway_config(spec, {"users-api": [f"127.0.0.1:{backend_port}"]}, listen_port=port,
                                 pid_path=str(tmp_path / "nginx.pid"), temp_dir=str(tmp_path),
                                 access_log=str(tmp_path / "access.log"), error_log=str(tmp_path / "error.log"))
    (tmp_path / "nginx.conf").write_text(conf)
    nginx = subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path), "-g", "daemon off;"])
    try:
        _wait_listening(port)
        _wait_listening(backend_port)
        for i in range(6):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/users-api/{i}", timeout=5).read()
        with pytest.raises(urllib.error.HTTPError):   # the gateway's own 404: counted, not a 5xx
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nowhere", timeout=5)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        backend.terminate()
    lines = (tmp_path / "access.log").read_text().splitlines()
    figures = published(lines)
    (instance,) = figures["Requests"]       # this machine's host name: one gateway instance
    assert instance == json.loads(lines[0])["instance"] and instance
    assert len(figures["Requests"][instance]) == 7 and figures["Errors5xx"] == {}
    assert len(figures["ResponseTime"][instance]) == 7 and all(0 <= t < 5 for t in figures["ResponseTime"][instance])


def test_every_per_instance_widget_reads_a_listed_metric(plan_of):
    body = json.loads(plan_of("aws-prod").one("aws:cloudwatch/dashboard:Dashboard",
                                              "apigw-monitoring-dashboard").inputs["dashboardBody"])
    listed = {*INSTANCE_FILTERS, "CpuUtilized", "MemoryUtilized"}   # the log's filters, Container Insights
    searched = {name for w in body["widgets"] for metric in w["properties"]["metrics"] for entry in metric
                if isinstance(entry, dict) and "expression" in entry
                for name in re.findall(r'MetricName=\\?"(\w+)\\?"', entry["expression"])}
    assert searched == listed
