"""Zero-downtime changes and the client's address, on real processes.

Config changes are applied as `pulumi up` applies them (the provider's diff and update, one
process at a time, in dependency order: tools/bench_scenarios.apply_change) while clients that
never retry send requests through HAProxy. Plus the pure parts: how a change is applied, and the
timeouts derived from the health check.
"""
import dataclasses
import json
import os
import pathlib
import shutil
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)) if str(REPO) not in sys.path else None

from components.gateway.nginx import render_gateway_config, routing_of  # noqa: E402
from components.local import processes, procfs, rollout  # noqa: E402
from components.local.haproxy import render_haproxy  # noqa: E402
from components.local.timeouts import timeouts_of  # noqa: E402
from components.local.topology import all_upstreams, plan_topology, render_local_gateway  # noqa: E402
from components.spec import HealthCheck  # noqa: E402
from tools.bench_scenarios import (  # noqa: E402
    apply_change,
    changed_topology,
    client_addresses,
    load_balancer_config,
    requests_from,
    service_config,
    spread,
)
from tools.bench_support import Traffic, haproxy_server_up, local_spec  # noqa: E402

pytestmark = pytest.mark.usefixtures("local_programs")  # tests/conftest.py: skip without haproxy and nginx


def pids(topology) -> dict[str, int]:
    return {p.key: processes.read_record(p.pid_path).pid for p in topology.processes}


def applied(topology) -> dict[str, dict]:
    """Per gateway, the upstreams its running nginx has (the readiness controller's view)."""
    return json.loads(pathlib.Path(topology.state_dir, "readiness", "status.json").read_text())["gateways"]


# ---------------------------------------------------------------- pure


def test_a_change_is_applied_in_place_by_a_reload_or_by_a_restart(tmp_path):
    topology = plan_topology(local_spec("local-dev", tmp_path, base_port=20000), tmp_path)
    gw, backend, lb = topology.get("gw-1"), topology.get("svc-users-api-1"), topology.get("lb")
    config = dataclasses.replace(gw, files=((gw.files[0][0], gw.files[0][1] + "# changed\n"),))
    assert rollout.how_to_apply(gw, config, alive=True) == "reload"
    assert rollout.how_to_apply(gw, config, alive=False) == "restart"
    assert rollout.how_to_apply(gw, dataclasses.replace(gw, argv=("/usr/sbin/nginx", *gw.argv[1:])), True) == "restart"
    assert rollout.how_to_apply(lb, dataclasses.replace(lb, files=()), alive=True) == "reload"
    assert rollout.how_to_apply(backend, dataclasses.replace(backend, health_status="200-299"), True) == "in place"
    assert rollout.how_to_apply(backend, dataclasses.replace(backend, env=(("A", "1"),)), True) == "restart"
    readiness = topology.get("readiness")  # no reload signal: a new plan.json means a restart
    assert rollout.how_to_apply(readiness, dataclasses.replace(readiness, files=()), True) == "restart"


def test_upstream_timeouts_follow_the_health_check_locally_only(tmp_path):
    spec = local_spec("local-dev", tmp_path, base_port=20000)  # interval 2 s, timeout 1 s, fall 2
    assert timeouts_of(spec.load_balancer.health_check) == rollout_timeouts(1, 5, 10, 11)
    conf = render_local_gateway(spec, str(tmp_path), 1, all_upstreams(spec)).splitlines()
    for line in ("proxy_connect_timeout 1s;", "proxy_read_timeout 5s;", "proxy_send_timeout 5s;",
                 "proxy_next_upstream_timeout 10s;", "set_real_ip_from 127.0.0.2;"):
        assert f"        {line}" in conf or f"    {line}" in conf, line
    haproxy = render_haproxy(spec).splitlines()
    assert "    timeout connect 1s" in haproxy and "    timeout server 11s" in haproxy
    cloud = render_gateway_config(routing_of(spec), all_upstreams(spec)).splitlines()  # the other targets
    for line in ("proxy_connect_timeout 2s;", "proxy_read_timeout 30s;", "proxy_next_upstream_timeout 10s;"):
        assert f"        {line}" in cloud, line
    slow = HealthCheck(path="/h", interval_s=10, timeout_s=4, healthy_threshold=2, unhealthy_threshold=3)
    assert timeouts_of(slow) == rollout_timeouts(4, 34, 68, 69)


def rollout_timeouts(connect, read, next_upstream, haproxy):
    from components.local.timeouts import Timeouts
    return Timeouts(connect_s=connect, read_s=read, next_upstream_s=next_upstream, haproxy_server_s=haproxy)


# ---------------------------------------------------------------- real processes


def test_a_rolling_config_change_under_load_fails_no_request(start):
    before = start()
    after = changed_topology(before, services=service_config(before, **{"users-api": {"environment": {"X": "1"}}}))
    old = pids(before)
    in_rotation = []

    def check(plan):  # when the engine would update the next instance, this one serves again everywhere
        address = f"127.0.0.1:{plan.ports[0]}"
        in_rotation.append(all(address in g["upstreams"]["users-api"] for g in applied(after).values()))

    with Traffic(before.url, "/users/roll", clients=3) as traffic, \
            Traffic(before.url, "/users/roll", clients=2, method="POST") as posts:  # never replayed
        traffic.wait_answers(100, time.time())
        updated = apply_change(before, after, on_update=check)
        traffic.wait_answers(100, time.time())
    assert updated == ["svc-users-api-1", "svc-users-api-2", "svc-users-api-3"]
    assert in_rotation == [True, True, True]
    assert posts.failures() == [] and len(posts.snapshot()) > 50
    assert all(pids(after)[k] != old[k] for k in updated)
    assert all(pids(after)[k] == old[k] for k in old if k not in updated)
    assert traffic.failures() == [] and len(traffic.snapshot()) > 200
    assert {s.who for s in traffic.snapshot() if s.t > time.time() - 1} == {"users-api-1", "users-api-2", "users-api-3"}


def test_a_health_check_change_reloads_haproxy_and_the_gateways_without_restarting_them(start):
    before = start()
    after = changed_topology(before, services=service_config(before),
                             load_balancer=load_balancer_config(before, interval_s=3, unhealthy_threshold=3))
    old = pids(before)
    workers = {k: procfs.workers_of(old[k]) for k in ("gw-1", "gw-2", "lb")}
    with Traffic(before.url, "/payments/hc", clients=4) as traffic:
        traffic.wait_answers(100, time.time())
        updated = apply_change(before, after)
        traffic.wait_answers(100, time.time())
    assert updated == ["gw-1", "gw-2", "readiness", "lb"]
    new = pids(after)
    assert [k for k in old if new[k] != old[k]] == ["readiness"]  # the others reloaded
    assert all(not (procfs.workers_of(new[k]) & workers[k]) for k in workers)  # new workers everywhere
    assert traffic.failures() == []
    assert "    default-server inter 3s rise 2 fall 3" in pathlib.Path(after.get("lb").files[0][0]).read_text()
    assert "max_fails=3 fail_timeout=3s;" in pathlib.Path(after.get("gw-2").files[0][0]).read_text()


def test_a_gateway_restart_waits_until_haproxy_has_it_back(start):
    before = start()
    nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    after = plan_topology(before.spec, before.state_dir, nginx=nginx)  # a new program path: a restart
    old = pids(before)
    up_after_each = []
    # POSTs too: HAProxy never replays one that reached a gateway, so a gateway must finish the
    # requests it has (nginx's graceful stop, SIGQUIT) before it goes.
    with Traffic(before.url, "/locations/gw", clients=3) as traffic, \
            Traffic(before.url, "/locations/gw", clients=2, method="POST") as posts:
        traffic.wait_answers(100, time.time())
        updated = apply_change(before, after, on_update=lambda p: up_after_each.append(
            haproxy_server_up(after, p.instance_id)))
        traffic.wait_answers(100, time.time())
    assert updated == ["gw-1", "gw-2"] and up_after_each == [True, True]
    assert all(pids(after)[k] != old[k] for k in updated)
    assert traffic.failures() == [] and posts.failures() == [] and len(posts.snapshot()) > 50


def test_source_ip_hash_spreads_clients_over_every_instance_by_their_real_address(start):
    before = start()  # round robin; the change reloads HAProxy and the gateways
    topology = changed_topology(before, services=service_config(before),
                                load_balancer=load_balancer_config(before, algorithm="source_ip_hash"))
    assert apply_change(before, topology) == ["gw-1", "gw-2", "readiness", "lb"]
    # Measured at once: when `up` returns, every gateway runs the new config (the readiness
    # controller of the old spec does not revert it, the new one is ready once it has applied it).
    instances = [p.instance_id for p in topology.backends("users-api")]
    figures = spread(requests_from(topology.url, "/users/hash", client_addresses(32), per_client=4), instances)
    assert figures["errors"] == 0 and figures["clients"] == 32
    assert figures["sticky_clients"] == 32  # each client always on the same instance
    assert all(n > 0 for n in figures["clients_per_instance"].values()), figures  # and every instance used
    logged = {json.loads(line)["remote_addr"] for gw in topology.by_role("gateway")
              for line in pathlib.Path(gw.own_logs[0]).read_text().splitlines()}
    assert set(client_addresses(32)) <= logged  # the gateways see each client, not HAProxy
    # A client cannot choose another address with its own X-Forwarded-For, not even from 127.0.0.1:
    # HAProxy replaces the header, and the gateways trust it from HAProxy's own address only.
    forged = spread(requests_from(topology.url, "/users/hash", ["127.0.0.1"], per_client=24,
                                  forwarded_for=lambda i: f"10.0.{i}.1"), instances)
    assert forged["sticky_clients"] == 1 and forged["errors"] == 0
