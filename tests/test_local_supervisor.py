"""The supervisor, the state dir's owner, what `pulumi refresh` reports, and `make local-status`.

Real processes on free loopback ports (the supervisor restarts them from their plans in the
state dir); the provider is called as the Pulumi engine calls it (tests/test_local_provider.py
shows the same functions served over gRPC by `python -m pulumi.dynamic`).
"""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)) if str(REPO) not in sys.path else None

from components.local import processes, provider, supervisor  # noqa: E402
from components.local.locks import state_paths  # noqa: E402
from components.local.status import restarts_of, supervisor_status  # noqa: E402
from tools.bench_support import _wait, set_health_failing  # noqa: E402
from tools.local_status import main as local_status  # noqa: E402

pytestmark = pytest.mark.usefixtures("local_programs")  # tests/conftest.py: skip without haproxy and nginx


def entry(topology, key) -> dict:
    return (supervisor_status(topology.state_dir).get("processes") or {}).get(key) or {}


def restarted(plan, old_pid) -> bool:
    record = processes.read_record(plan.pid_path)
    return processes.is_alive(record) and record.pid != old_pid and processes.is_healthy(plan, record.pid)


def test_restart_delays_start_at_zero_and_double_up_to_the_cap():
    assert [supervisor.restart_delay(n) for n in range(1, 10)] == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_killed_haproxy_is_restarted_with_its_restart_counted(topology):
    processes.start_all(topology.processes, topology.state_dir)
    lb = topology.get("lb")
    old = processes.read_record(lb.pid_path)
    processes.kill(lb)  # master and worker: a crash
    _wait(lambda: restarted(lb, old.pid), 30, "HAProxy restarted")
    assert processes.http_status(f"{topology.url}/users/1", 5) == 200
    _wait(lambda: entry(topology, "lb").get("restarts") == 1, 5, "the restart counted")
    assert entry(topology, "lb")["state"] == "running" and restarts_of(topology.state_dir, "lb") == 1
    assert "lb: restarted, pid" in pathlib.Path(topology.get("supervisor").log_path).read_text()


def test_a_process_that_dies_again_soon_after_a_restart_waits_before_the_next(topology):
    wanted = [topology.get("supervisor"), topology.get("svc-users-api-1")]
    processes.start_all(wanted, topology.state_dir)
    backend = wanted[1]
    for attempt in (1, 2):
        old = processes.read_record(backend.pid_path)
        processes.kill(backend)
        if attempt == 2:  # dead again within RESET_AFTER_S of its restart: backoff
            _wait(lambda: entry(topology, backend.key).get("state") == "waiting", 5, "backing off")
            waiting = entry(topology, backend.key)
            assert waiting["next_attempt_at"] - waiting["died_at"] == pytest.approx(supervisor.restart_delay(2))
        _wait(lambda old=old: restarted(backend, old.pid), 30, f"restart {attempt}")
        _wait(lambda n=attempt: entry(topology, backend.key).get("restarts") == n, 5, f"restart {attempt} counted")
    assert entry(topology, backend.key)["streak"] == 2


def test_a_process_stopped_for_good_is_not_restarted(topology):
    wanted = [topology.get("supervisor"), topology.get("svc-payments-api-1")]
    processes.start_all(wanted, topology.state_dir)
    backend = wanted[1]
    _wait(lambda: entry(topology, backend.key).get("state") == "running", 5, "supervised")
    processes.stop_plan(backend)  # what delete and destroy do
    _wait(lambda: backend.key not in supervisor_status(topology.state_dir)["processes"], 5, "no longer supervised")
    assert not state_paths(backend.pid_path)[0].exists() and processes.read_record(backend.pid_path) is None
    assert not processes.port_in_use(backend.ports[0])


def test_refresh_reports_stopped_unhealthy_and_restarted_processes_and_up_repairs_them(topology, fresh_run):
    outs = {p.key: provider.create("process", p.to_inputs()).outs
            for p in (topology.get("supervisor"), topology.get("svc-users-api-1"))}
    plan = topology.get("svc-users-api-1")
    olds = outs[plan.key]
    read = provider.read("process", plan.key, olds).outs
    assert (read["status"], read["restarts"], read["pid"]) == ("running", 0, olds["pid"])

    os.kill(olds["pid"], signal.SIGSTOP)  # hung
    _wait(lambda: processes.stat(olds["pid"])[0] == "T", 5, "the signal delivered")
    read = provider.read("process", plan.key, olds).outs
    assert read["status"] == "stopped"
    assert provider.diff("process", plan.key, read, plan.to_inputs()).changes is True  # `up` repairs it
    olds = provider.update("process", plan.key, read, plan.to_inputs()).outs
    assert olds["pid"] != read["pid"] and olds["status"] == "running"
    assert provider.diff("process", plan.key, olds, plan.to_inputs()).changes is False

    set_health_failing(plan, True)
    assert provider.read("process", plan.key, olds).outs["status"] == "unhealthy"
    set_health_failing(plan, False)

    processes.kill(plan)  # the supervisor restarts it: refresh sees the new pid, not a gone process
    _wait(lambda: restarted(plan, olds["pid"]), 30, "restarted")
    _wait(lambda: restarts_of(topology.state_dir, plan.key) == 1, 5, "counted")
    read = provider.read("process", plan.key, olds)
    assert read.id == plan.key and read.outs["pid"] == processes.read_record(plan.pid_path).pid
    assert (read.outs["status"], read.outs["restarts"]) == ("running", 1)
    assert provider.diff("process", plan.key, olds, plan.to_inputs()).changes is False  # nothing to repair


def test_a_process_started_without_a_plan_is_supervised_after_an_update_in_place(topology, fresh_run):
    plan = topology.get("svc-locations-api-1")
    outs = provider.create("process", plan.to_inputs()).outs
    state_paths(plan.pid_path)[0].unlink()  # as an earlier version of the provider left it
    assert provider.diff("process", plan.key, outs, plan.to_inputs()).changes is True
    updated = provider.update("process", plan.key, outs, plan.to_inputs()).outs
    assert updated["pid"] == outs["pid"] and state_paths(plan.pid_path)[0].exists()  # not restarted
    assert provider.diff("process", plan.key, updated, plan.to_inputs()).changes is False


def ports_props(topology, stack):
    return {"state_dir": topology.state_dir, "host": "127.0.0.1", "stack": stack, "project": "apigw",
            "ports": [{"port": u.port, "user": u.user} for u in topology.port_uses]}


def test_a_second_stack_on_the_same_state_dir_is_refused_naming_the_owner(topology, fresh_run):
    mine, theirs = ports_props(topology, "local-dev"), ports_props(topology, "local-try")
    assert provider.check("ports", {}, mine).failures == []
    provider.create("ports", mine)  # the first `up` claims the state dir
    owner = json.loads(pathlib.Path(topology.state_dir, "owner.json").read_text())
    assert (owner["stack"], owner["project"]) == ("local-dev", "apigw")
    failures = provider.check("ports", {}, theirs).failures
    assert [f.property for f in failures] == ["state_dir"]
    assert failures[0].reason.startswith(
        f"local.state_dir {topology.state_dir} belongs to stack 'local-dev' (project 'apigw', since ")
    assert failures[0].reason.endswith(
        "); stack 'local-try' needs a state dir of its own: set another local.state_dir, or destroy stack "
        f"'local-dev' first (if that stack no longer exists, delete {topology.state_dir}/owner.json); "
        "nothing was started")
    with pytest.raises(processes.ProcessError, match="belongs to stack 'local-dev'"):
        provider.create("ports", theirs)  # refused even if the engine went on
    assert provider.check("ports", {}, mine).failures == []  # its own next `up`
    provider.delete("ports", "ports", mine)  # the last delete of a destroy releases it
    assert provider.check("ports", {}, theirs).failures == []


def test_destroy_stops_every_process_and_the_supervisor_last(topology, fresh_run):
    outs = [(p, provider.create("process", p.to_inputs()).outs) for p in topology.processes]
    assert [p.key for p, _ in outs][0] == "supervisor"
    records = [processes.read_record(p.pid_path) for p, _ in outs]
    for plan, o in reversed(outs):  # the engine deletes dependents first: the supervisor last
        provider.delete("process", plan.key, o)
        if plan.role != "supervisor":
            assert processes.is_alive(processes.read_record(topology.get("supervisor").pid_path)), plan.key
    assert not any(processes.is_alive(r) or processes.group_members(r) for r in records)
    assert not any(processes.port_in_use(port) for p in topology.processes for port in p.ports)
    assert not list(pathlib.Path(topology.state_dir).glob("plans/*.json"))
    assert all(w["restarts"] == 0 for w in supervisor_status(topology.state_dir)["processes"].values())


def test_local_status_lists_every_process_with_port_pid_health_restarts_and_log(topology, capsys):
    processes.start_all(topology.processes, topology.state_dir)
    assert local_status(["--state-dir", topology.state_dir, "--json"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == [p.key for p in topology.processes]  # start order
    gw = topology.get("gw-1")
    assert rows["gw-1"] == {
        "key": "gw-1", "role": "gateway", "description": "gateway instance 1", "ports": list(gw.ports),
        "pid": processes.read_record(gw.pid_path).pid, "state": "running", "health": "ok", "restarts": 0,
        "logs": [gw.log_path, *gw.own_logs]}
    os.kill(rows["svc-users-api-2"]["pid"], signal.SIGSTOP)
    try:
        _wait(lambda: processes.stat(rows["svc-users-api-2"]["pid"])[0] == "T", 5, "the signal delivered")
        assert local_status(["--state-dir", topology.state_dir]) == 3  # not everything runs
        text = capsys.readouterr().out.splitlines()
    finally:
        os.kill(rows["svc-users-api-2"]["pid"], signal.SIGCONT)
    assert text[1].split() == ["process", "ports", "pid", "state", "health", "restarts", "log"]
    users2 = topology.get("svc-users-api-2")
    assert next(line for line in text if line.startswith("svc-users-api-2")).split() == [
        "svc-users-api-2", str(users2.ports[0]), str(rows["svc-users-api-2"]["pid"]), "stopped", "unchecked", "0",
        users2.log_path]


def test_local_logs_follows_every_log_of_the_stack(topology, monkeypatch):
    processes.start_all(topology.processes[:2], topology.state_dir)
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append(argv))
    local_status(["--state-dir", topology.state_dir, "--logs", "--lines", "5"])
    assert calls == [[shutil.which("tail"), "-n", "5", "-F", topology.processes[0].log_path,
                      topology.processes[1].log_path]]


@pytest.mark.parametrize("args,code,message", [
    (["--stack", "aws-dev"], 2, "local_status: error: --stack aws-dev: target is 'aws'; only a stack whose target "
                                "is local runs processes on this machine (e.g. local-dev)"),
    (["--stack", "nope"], 2, "local_status: error: --stack nope: no stack file stacks/Pulumi.nope.yaml"),
    (["--lines", "-1"], 2, "local_status: error: --lines must be 0..10000"),
    (["--state-dir", "/nonexistent/apigw"], 1, "local_status: nothing runs for stack local-dev in /nonexistent/apigw "
                                               "(start it with: make up STACK=local-dev)"),
])
def test_local_status_bad_arguments_are_a_message_not_a_traceback(args, code, message):
    result = subprocess.run([sys.executable, "-m", "tools.local_status", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == code
    assert message in result.stderr and "Traceback" not in result.stderr
