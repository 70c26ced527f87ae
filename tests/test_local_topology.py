"""The local topology plan: HAProxy and nginx configs, process order, the offline Pulumi plan.

Pure, except the two syntax checks that run `haproxy -c` / `nginx -t` on the rendered files
(no server started), skipped where those programs are missing outside CI.
"""
import copy
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)) if str(REPO) not in sys.path else None

from components.local.haproxy import HAPROXY_BALANCE, haproxy_expect, render_haproxy  # noqa: E402
from components.local.topology import (  # noqa: E402
    ProcessPlan,
    all_upstreams,
    gateway_view,
    plan_topology,
    render_local_gateway,
    spec_from_dict,
    spec_to_dict,
    status_matches,
)
from components.spec import parse_spec  # noqa: E402
from tools.bench_local import stack_raw  # noqa: E402

SBIN = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def program(name):
    path = shutil.which(name, path=SBIN)
    if path is None and not os.environ.get("CI"):
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    assert path, f"{name} must be installed in CI (apt-get install {name})"
    return path


@pytest.fixture
def raw():
    return copy.deepcopy(stack_raw("local-dev"))


@pytest.fixture
def topology(raw, tmp_path):
    return plan_topology(parse_spec(raw), tmp_path / "state", python="/venv/bin/python")


def lines(text):
    return [line.strip() for line in text.splitlines()]


@pytest.mark.parametrize("algorithm,balance", [("round_robin", "roundrobin"), ("least_connections", "leastconn"),
                                               ("random", "random"), ("source_ip_hash", "source")])
def test_haproxy_balance_per_algorithm(raw, algorithm, balance):
    raw["load_balancer"]["algorithm"] = algorithm
    backend = render_haproxy(parse_spec(raw)).split("\nbackend gateways\n", 1)[1].split("\n\n", 1)[0]
    assert backend.splitlines() == [
        f"    balance {balance}",
        "    source 127.0.0.2",
        "    option httpchk GET /healthz",
        "    http-check expect status 200",
        "    default-server inter 2s rise 2 fall 2",
        "    acl idempotent method GET HEAD OPTIONS PUT DELETE",
        "    http-request disable-l7-retry if !idempotent",
        "    server gateway-1 127.0.0.1:8100 check",
        "    server gateway-2 127.0.0.1:8101 check",
    ]
    assert set(HAPROXY_BALANCE) == {"round_robin", "least_connections", "random", "source_ip_hash"}


def test_haproxy_health_check_retries_and_prometheus_come_from_the_spec(raw):
    raw["load_balancer"]["health_check"] = {"path": "/ready", "interval_s": 7, "timeout_s": 3,
                                            "healthy_threshold": 4, "unhealthy_threshold": 5, "matcher": "200-299"}
    text = lines(render_haproxy(parse_spec(raw)))
    for expected in ("option httpchk GET /ready", "http-check expect rstatus ^(2[0-9][0-9])$",
                     "default-server inter 7s rise 4 fall 5", "timeout check 3s", "retries 3",
                     "option redispatch 1",
                     "retry-on conn-failure empty-response junk-response response-timeout 502 503 504",
                     "bind 127.0.0.1:8000", "bind 127.0.0.1:8404", "option httpclose",
                     "http-request set-header X-Forwarded-For %[src]",
                     # timeouts.py: connect = timeout_s; server = 2 x (fall x interval + timeout) + 1
                     "timeout connect 3s", "timeout server 77s",
                     "http-request use-service prometheus-exporter if { path /metrics }", "stats uri /stats"):
        assert expected in text


@pytest.mark.parametrize("matcher,line", [
    ("200", "http-check expect status 200"),
    ("200,204", "http-check expect rstatus ^(200|204)$"),
    ("200-299", "http-check expect rstatus ^(2[0-9][0-9])$"),
    ("200-203,301", "http-check expect rstatus ^(200|201|202|203|301)$"),
    ("200-399", "http-check expect rstatus ^(2[0-9][0-9]|3[0-9][0-9])$"),
])
def test_matcher_to_haproxy_expect(matcher, line):
    assert haproxy_expect(matcher) == line


@pytest.mark.parametrize("status,matcher,ok", [(200, "200", True), (204, "200", False), (204, "200-299", True),
                                               (301, "200,204", False), (204, "200,204", True)])
def test_status_matches(status, matcher, ok):
    assert status_matches(status, matcher) is ok


def test_processes_start_supervisor_backends_gateways_readiness_then_haproxy(topology):
    assert [p.key for p in topology.processes] == [
        "supervisor", "svc-locations-api-1", "svc-locations-api-2", "svc-payments-api-1", "svc-payments-api-2",
        "svc-users-api-1", "svc-users-api-2", "svc-users-api-3", "gw-1", "gw-2", "readiness", "lb"]
    assert len({port for p in topology.processes for port in p.ports}) == 11  # lb has two


def test_demo_backend_argv_and_health(topology):
    plan = topology.get("svc-users-api-2")
    assert plan.argv == ("/venv/bin/python", "-m", "components.local.demo_backend", "--service", "users-api",
                         "--instance", "users-api-2", "--host", "127.0.0.1", "--port", "9021",
                         "--prefix", "/users", "--health-path", "/health")
    assert plan.health_url == "http://127.0.0.1:9021/health"
    assert plan.cwd == str(REPO) and dict(plan.env)["PORT"] == "9021"


def test_a_service_command_gets_its_port(raw, tmp_path):
    raw["services"]["users-api"]["command"] = "python3 -m http.server {port} --bind {host}"
    raw["services"]["users-api"]["environment"] = {"LOG_LEVEL": "debug"}
    topology = plan_topology(parse_spec(raw), tmp_path)
    plan = topology.get("svc-users-api-3")
    assert plan.argv == ("python3", "-m", "http.server", "9022", "--bind", "127.0.0.1")
    assert dict(plan.env)["LOG_LEVEL"] == "debug"


def test_one_gateway_config_per_instance_on_loopback(topology):
    for i, port in ((1, 8100), (2, 8101)):
        plan = topology.get(f"gw-{i}")
        (path, conf), = plan.files
        state = pathlib.Path(topology.state_dir)
        assert path == str(state / f"gateway-{i}" / "nginx.conf")
        text = lines(conf)
        assert f"listen 127.0.0.1:{port};" in text and f"listen {port};" not in text
        assert f"add_header X-Gateway-Instance gateway-{i} always;" in text
        assert f"pid {state}/gateway-{i}/nginx.pid;" in text
        assert [line for line in text if line.startswith("server 127.0.0.1:902")] == [
            f"server 127.0.0.1:{p} max_fails=2 fail_timeout=2s;" for p in (9020, 9021, 9022)]
        assert plan.argv[0] == "nginx" and plan.argv[-2:] == ("-g", "daemon off;")
        assert plan.health_url == f"http://127.0.0.1:{port}/healthz"


def test_process_plans_survive_pulumis_wire_form(topology):
    for plan in topology.processes:
        wire = plan.to_inputs()
        wire["ports"] = [float(p) for p in wire["ports"]]  # numbers come back as floats
        wire["start_timeout_s"] = float(wire["start_timeout_s"])
        wire["pid"] = 123.0  # outputs ride along
        assert ProcessPlan.from_inputs(wire) == plan


def test_the_spec_round_trips_for_the_readiness_controller(raw):
    spec = parse_spec(raw)
    assert spec_from_dict(spec_to_dict(spec)) == spec


def test_the_readiness_controller_renders_the_gateways_config_byte_for_byte(raw, tmp_path):
    raw["services"]["users-api"]["command"] = "python3 -m http.server {port} --bind {host}"
    raw["services"]["users-api"]["environment"] = {"LOG_LEVEL": "debug"}
    spec = parse_spec(raw)
    topology = plan_topology(spec, tmp_path)
    readiness_spec = spec_from_dict(json.loads(topology.get("readiness").files[0][1])["spec"])
    assert readiness_spec == gateway_view(spec)
    for i in (1, 2):
        (_, planned), = topology.get(f"gw-{i}").files
        assert render_local_gateway(readiness_spec, topology.state_dir, i, all_upstreams(spec)) == planned


def changed_processes(before, after):
    """Keys whose Pulumi inputs differ: the resources an update restarts (the provider's diff)."""
    assert [p.key for p in before.processes] == [p.key for p in after.processes]
    return [a.key for b, a in zip(before.processes, after.processes, strict=True) if b.to_inputs() != a.to_inputs()]


def test_a_change_to_one_services_program_restarts_that_service_only(raw, tmp_path):
    before = plan_topology(parse_spec(raw), tmp_path)
    raw["services"]["payments-api"]["command"] = "python3 -m http.server {port} --bind {host}"
    raw["services"]["payments-api"]["environment"] = {"LOG_LEVEL": "debug"}
    assert changed_processes(before, plan_topology(parse_spec(raw), tmp_path)) == [
        "svc-payments-api-1", "svc-payments-api-2"]


def test_a_change_to_the_load_balancer_restarts_haproxy_and_what_uses_the_setting_only(raw, tmp_path):
    before = plan_topology(parse_spec(raw), tmp_path)
    raw["local"]["haproxy_stats_port"] = 8405
    assert changed_processes(before, plan_topology(parse_spec(raw), tmp_path)) == ["lb"]
    # The interval is used by HAProxy, the readiness controller and nginx's passive checks
    # (fail_timeout); the backends do not use it.
    raw["load_balancer"]["health_check"]["interval_s"] = 3
    assert changed_processes(before, plan_topology(parse_spec(raw), tmp_path)) == ["gw-1", "gw-2", "readiness", "lb"]


def test_haproxy_accepts_every_rendered_config(raw, tmp_path):
    haproxy = program("haproxy")
    for algorithm in HAPROXY_BALANCE:
        raw["load_balancer"]["algorithm"] = algorithm
        cfg = tmp_path / f"{algorithm}.cfg"
        cfg.write_text(render_haproxy(parse_spec(raw)))
        result = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr


def test_nginx_accepts_the_rendered_gateway_config(topology):
    nginx = program("nginx")
    plan = topology.get("gw-1")
    for directory in plan.dirs:
        pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
    (path, conf), = plan.files
    pathlib.Path(path).write_text(conf)
    argv = [nginx, *plan.argv[1:-2], "-t"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_offline_plan_registers_the_processes_without_starting_any():
    from tools.offline import run_program
    before = set((REPO / ".state" / "local-dev" / "pids").glob("*.json"))
    plan = run_program("local-dev")
    by_name = {r.name: r for r in plan.resources}
    process = "pulumi-python:dynamic/local:Process"
    assert sorted(r.name for r in plan.by_type(process)) == sorted(
        [f"apigw-locations-api-{i}" for i in (1, 2)] + [f"apigw-payments-api-{i}" for i in (1, 2)]
        + [f"apigw-users-api-{i}" for i in (1, 2, 3)]
        + ["apigw-gateway-1", "apigw-gateway-2", "apigw-gateway-readiness", "apigw-lb-haproxy", "apigw-supervisor"])
    assert {r.type for r in plan.resources} == {
        "apigw:local:Platform", "apigw:local:Service", "apigw:local:GatewayFleet", "apigw:local:LoadBalancer",
        process, "pulumi-python:dynamic/local:PortCheck"}
    urn = {name: r.urn for name, r in by_name.items()}
    assert by_name["apigw-users-api-2"].parent == urn["apigw-users-api"]
    assert by_name["apigw-gateway-1"].parent == urn["apigw-gateway"]
    assert by_name["apigw-lb-haproxy"].parent == urn["apigw-lb"]
    assert by_name["apigw-ports"].parent == urn["apigw"] and by_name["apigw-supervisor"].parent == urn["apigw"]
    # Start order: the port check, then the supervisor (so destroy stops it last); every backend
    # before any gateway; gateways before HAProxy.
    assert set(by_name["apigw-supervisor"].dependencies) == {urn["apigw-ports"]}
    first = {urn["apigw-ports"], urn["apigw-supervisor"]}
    assert all(first <= set(r.dependencies) for r in plan.by_type(process) if r.name != "apigw-supervisor")
    backends = {urn[n] for n in by_name if n.startswith("apigw-") and n[-2:] in ("-1", "-2", "-3")
                and "gateway" not in n}
    assert set(by_name["apigw-users-api-1"].dependencies) == first
    # Instances of one service or of the gateway fleet follow each other: updates roll.
    assert set(by_name["apigw-users-api-3"].dependencies) == {*first, urn["apigw-users-api-2"]}
    assert urn["apigw-gateway-1"] in by_name["apigw-gateway-2"].dependencies
    assert backends <= set(by_name["apigw-gateway-2"].dependencies)
    assert {urn["apigw-gateway-1"], urn["apigw-gateway-2"]} <= set(by_name["apigw-gateway-readiness"].dependencies)
    assert {urn["apigw-gateway-1"], urn["apigw-gateway-readiness"]} <= set(by_name["apigw-lb-haproxy"].dependencies)
    lb = by_name["apigw-lb-haproxy"].inputs
    assert lb["ports"] == [8000, 8404] and lb["argv"][:3] == ["haproxy", "-W", "-db"]
    assert lb["reload_signal"] == "SIGUSR2" and by_name["apigw-gateway-1"].inputs["reload_signal"] == "SIGHUP"
    # Graceful stops: HAProxy's master soft-stops, nginx quits once its requests are answered.
    assert (lb["stop_signal"], by_name["apigw-gateway-1"].inputs["stop_signal"]) == ("SIGUSR1", "SIGQUIT")
    ports = by_name["apigw-ports"].inputs
    assert (ports["stack"], ports["project"]) == ("local-dev", "apigw")  # the state dir's owner
    assert set((REPO / ".state" / "local-dev" / "pids").glob("*.json")) == before  # nothing started
