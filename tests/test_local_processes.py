"""Real processes: the demo backend, start/stop, port checks, a failed start undone.

Every test runs on free loopback ports chosen at test time and stops what it started, even on
failure (fixtures stop the whole plan in their finalizer).
"""
import dataclasses
import http.client
import json
import os
import pathlib
import signal
import socket
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)) if str(REPO) not in sys.path else None

from components.local import processes, procfs  # noqa: E402
from components.local.topology import plan_topology  # noqa: E402
from tests.conftest import require_programs  # noqa: E402
from tools.bench_local import local_spec, set_delay_ms, set_health_failing  # noqa: E402


def get(port, path, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def assert_nothing_left(topology):
    for plan in topology.processes:
        record = processes.read_record(plan.pid_path)
        assert record is None or not (processes.is_alive(record) or processes.group_members(record)), plan.key
        for port in plan.ports:
            assert not processes.port_in_use(port), f"port {port} of {plan.description} still in use"


def test_demo_backend_answers_under_its_prefix_with_its_identity(topology):
    plan = topology.get("svc-users-api-2")
    processes.start(plan)
    port = plan.ports[0]
    status, headers, body = get(port, "/users/42?x=1")
    assert status == 200 and headers["X-Instance"] == "users-api-2" and headers["X-Service"] == "users-api"
    assert headers["X-Instance-Port"] == str(port)
    assert json.loads(body) == {"service": "users-api", "instance": "users-api-2", "port": port,
                                "method": "GET", "path": "/users/42"}
    assert get(port, "/users")[0] == 200
    assert get(port, "/usersx")[0] == 404 and get(port, "/payments/1")[0] == 404
    assert get(port, "/health")[0] == 200

    set_health_failing(plan, True)
    assert get(port, "/health")[0] == 503
    assert get(port, "/users/1")[0] == 200  # still serves: only its health check fails
    set_health_failing(plan, False)
    assert get(port, "/health")[0] == 200

    set_delay_ms(plan, 200)
    t0 = time.monotonic()
    assert get(port, "/users/slow")[0] == 200
    assert time.monotonic() - t0 >= 0.2
    assert get(port, "/_control/nope", "POST")[0] == 404

    processes.stop_plan(plan)
    assert not processes.port_in_use(port)
    assert not pathlib.Path(plan.pid_path).exists()


def test_start_refuses_a_port_already_in_use_naming_both_users(topology):
    require_programs("nginx", "haproxy")
    taken = topology.get("svc-users-api-2").ports[0]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with pytest.raises(processes.PortInUse) as err:
            processes.start_all(topology.processes, topology.state_dir)
    message = str(err.value)
    assert message.startswith("nothing was started: ")
    assert f"port {taken} of users-api instance 2 is already in use on this machine by pid {os.getpid()} (" in message
    assert not list(pathlib.Path(topology.state_dir).glob("pids/*.json"))
    assert_nothing_left(topology)


def test_a_failed_start_stops_what_that_run_started(tmp_path):
    require_programs("nginx", "haproxy")
    spec = local_spec("local-dev", tmp_path / "state", services={
        "locations-api": {"instances": {"min": 2}},
        "payments-api": {"command": "sh -c 'echo broken; exit 3' {port}"},
    })
    topology = plan_topology(spec, tmp_path / "state")
    try:
        with pytest.raises(processes.ProcessError) as err:
            processes.start_all(topology.processes, topology.state_dir)
        assert "payments-api instance 1 exited with code 3 while starting" in str(err.value)
        assert "broken" in str(err.value)  # the log's last lines come with the error
        assert_nothing_left(topology)  # both locations-api instances were started, then stopped
        assert "start:" in pathlib.Path(topology.get("svc-locations-api-2").log_path).read_text()
    finally:
        processes.stop_all(topology.processes)


def test_a_process_that_never_gets_healthy_is_stopped(tmp_path):
    spec = local_spec("local-dev", tmp_path / "state", services={
        "users-api": {"command": "sleep 30 {port}"}})
    spec = dataclasses.replace(spec, options=dataclasses.replace(spec.options, start_timeout_s=1))
    plan = plan_topology(spec, tmp_path / "state").get("svc-users-api-1")
    try:
        with pytest.raises(processes.ProcessError, match=r"users-api instance 1 not healthy "
                                                         r"\(http://127.0.0.1:\d+/health\) after 1s"):
            processes.start(plan)
        assert not list(pathlib.Path(tmp_path / "state").glob("pids/*.json"))
        assert [pid for pid in procfs.all_pids() if procfs.cmdline(pid) == f"sleep 30 {plan.ports[0]}"] == []
    finally:
        processes.stop_plan(plan)


def test_a_recycled_pid_is_not_taken_for_the_recorded_process():
    me = processes.ProcessRecord.from_dict({"key": "me", "pid": os.getpid(), "start_ticks": 0})
    assert not processes.is_alive(me)  # same pid, another start time: somebody else's now
    assert processes.group_members(me) == []


def test_stop_reaches_nginx_workers_that_outlive_their_master(topology):
    require_programs("nginx")
    plan = topology.get("gw-1")
    record = processes.start(plan)  # nginx needs no backend to start
    assert get(plan.ports[0], "/healthz")[0] == 200
    workers = [pid for pid in processes.group_members(record) if pid != record.pid]
    assert workers, "nginx forked no worker"
    os.kill(record.pid, signal.SIGKILL)  # the master alone: its workers keep the port
    time.sleep(0.2)
    assert not processes.is_alive(record) and processes.port_in_use(plan.ports[0])
    processes.stop_plan(plan)
    assert not processes.group_members(record) and not processes.port_in_use(plan.ports[0])
