"""The whole local topology, for real: HAProxy -> nginx gateways -> demo backends on loopback.

Distribution, least connections, health checks (failing endpoint, a hung backend), kill -9 of a
backend and of a gateway (the supervisor restarts them) with no failed client request, and a
clean stop. Same code as the Pulumi resources (processes.start_all / plan_topology) and the same
measurements as tools/bench_local.py (tools/bench_scenarios.py).
Health checks every 2 s (the spec's minimum with timeout_s 1 < interval_s), fall 2, rise 2:
an instance must leave within 2 x 2 + 1 = 5 s and come back within 5 s.
"""
import http.client
import pathlib
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)) if str(REPO) not in sys.path else None

from components.local import processes, procfs  # noqa: E402
from components.local.status import restarts_of  # noqa: E402
from components.local.timeouts import timeouts_of  # noqa: E402
from tools.bench_scenarios import measure_health_failover, measure_hung_backend, measure_kill_restart  # noqa: E402
from tools.bench_support import Traffic, haproxy_server_up, set_delay_ms  # noqa: E402
from tools.loadtest import run_load  # noqa: E402

HEALTH = {"path": "/healthz", "interval_s": 2, "timeout_s": 1, "healthy_threshold": 2, "unhealthy_threshold": 2}


pytestmark = pytest.mark.usefixtures("local_programs")  # tests/conftest.py: skip without haproxy and nginx


def within_share(counts: dict, names: list[str], total: int, tolerance: float = 0.10):
    share = total / len(names)
    for name in names:
        assert abs(counts.get(name, 0) - share) <= tolerance * share, (name, counts, share)


def test_round_robin_spreads_over_every_gateway_and_backend_instance(start):
    topology = start()
    prefixes = [s.path_prefix for s in topology.spec.services]
    total = 600 * len(prefixes)  # at least 600 requests for every service's instances
    report = run_load(topology.url, total, 8, paths=[f"{p}/items" for p in prefixes])
    assert report.errors == 0 and len(report.samples) == total
    gateways = report.counts("gateway")
    within_share(gateways, ["gateway-1", "gateway-2"], total)
    instances = report.counts("instance")
    for service in topology.spec.services:
        names = [p.instance_id for p in topology.backends(service.name)]
        within_share(instances, names, 600)
    assert sum(instances.values()) == total


def test_least_connections_sends_fewer_requests_to_a_slow_instance(start):
    topology = start(services={"users-api": {"path_prefix": "/users", "instances": {"min": 2}}},
                     load_balancer={"algorithm": "least_connections", "health_check": HEALTH})
    slow, fast = topology.backends("users-api")
    set_delay_ms(slow, 100)
    report = run_load(f"{topology.url}/users/x", 300, 8)
    counts = report.counts("instance")
    assert report.errors == 0
    assert counts[slow.instance_id] < counts[fast.instance_id] / 3, counts


def test_haproxy_exposes_prometheus_metrics(start):
    topology = start()
    assert haproxy_server_up(topology, "gateway-1") is True and haproxy_server_up(topology, "gateway-2") is True
    conn = http.client.HTTPConnection("127.0.0.1", topology.get("lb").ports[1], timeout=5)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    assert 'haproxy_backend_active_servers{proxy="gateways"} 2' in body


def test_a_failing_health_endpoint_leaves_and_rejoins_the_rotation_without_failed_requests(start):
    topology = start()
    hc = topology.spec.load_balancer.health_check
    with Traffic(topology.url, "/users/traffic") as traffic:
        figures = measure_health_failover(topology, traffic, topology.backends("users-api")[1])
    assert figures["left_s"] <= hc.unhealthy_threshold * hc.interval_s + 1, figures
    assert figures["back_s"] <= hc.healthy_threshold * hc.interval_s + 1, figures
    assert traffic.failures() == [] and len(traffic.snapshot()) > 300


def test_a_killed_backend_is_restarted_by_the_supervisor_without_failed_requests(start):
    topology = start()
    victim = topology.backends("users-api")[2]
    before = processes.read_record(victim.pid_path)
    with Traffic(topology.url, "/users/traffic") as traffic:
        figures = measure_kill_restart(topology, traffic, victim)
    after = processes.read_record(victim.pid_path)
    assert after.pid != before.pid and processes.is_alive(after) and not processes.is_alive(before)
    assert figures["failed"] == 0 and traffic.failures() == []
    assert traffic.last_seen(victim.instance_id, after.started_at) is not None  # answers clients again
    assert restarts_of(topology.state_dir, victim.key) == 1


def test_a_killed_gateway_is_restarted_by_the_supervisor_without_failed_requests(start):
    topology = start()
    victim = topology.get("gw-2")
    before = processes.read_record(victim.pid_path)
    with Traffic(topology.url, "/payments/traffic") as traffic:
        figures = measure_kill_restart(topology, traffic, victim)
    assert processes.read_record(victim.pid_path).pid != before.pid and not processes.group_members(before)
    assert figures["failed"] == 0 and traffic.failures() == []
    assert restarts_of(topology.state_dir, victim.key) == 1


def test_a_hung_backend_leaves_the_rotation_and_no_request_waits_past_the_bound(start):
    topology = start(load_balancer={"algorithm": "round_robin", "health_check": {
        **HEALTH, "healthy_threshold": 1, "unhealthy_threshold": 1}})  # read timeout 1 x 2 + 1 = 3 s
    hc = topology.spec.load_balancer.health_check
    bound = timeouts_of(hc).hung_backend_bound_s
    with Traffic(topology.url, "/users/traffic") as traffic:
        traffic.wait_answers(50, time.time())
        figures = measure_hung_backend(topology, traffic, topology.backends("users-api")[0])
    assert figures["state"] == "stopped"  # what `pulumi refresh` reports
    assert figures["left_s"] <= hc.unhealthy_threshold * hc.interval_s + hc.timeout_s + 1, figures
    # A request sent to it waits one read timeout, then another instance answers it.
    assert figures["failed"] == 0 and figures["slow"] >= 1, figures
    assert figures["max_latency_s"] <= bound + 1, figures


def test_a_clean_stop_leaves_no_process_and_no_listening_port(start):
    topology = start()
    records = [processes.read_record(p.pid_path) for p in topology.processes]
    pids = {pid for r in records for pid in processes.group_members(r)}
    assert len(pids) > len(records)  # nginx workers included
    processes.stop_all(topology.processes)
    for plan, record in zip(topology.processes, records, strict=True):
        assert not processes.is_alive(record) and processes.group_members(record) == [], plan.key
        assert not any(processes.port_in_use(p) for p in plan.ports), plan.key
    assert not any(pathlib.Path(f"/proc/{pid}").exists() and procfs.stat(pid)[0] not in "ZX" for pid in pids)
    assert not list(pathlib.Path(topology.state_dir).glob("pids/*.json"))
