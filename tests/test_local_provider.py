"""The Pulumi dynamic provider of the local target, on real processes.

The first test serves the provider the way the Pulumi CLI does: `python -m pulumi.dynamic` in
another working directory without this repo on its path, driven over gRPC with the pickled
provider, so it proves that `pulumi up`'s provider process can load and run it.
"""
import asyncio
import dataclasses
import os
import pathlib
import socket
import subprocess
import sys

import grpc
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)) if str(REPO) not in sys.path else None

from components.local import processes, procfs, provider  # noqa: E402
from components.local.topology import plan_topology  # noqa: E402
from tools.bench_local import local_spec  # noqa: E402

URN = "urn:pulumi:test::apigw::apigw:local:Service$pulumi-python:dynamic/local:Process::apigw-users-api-1"


@pytest.fixture
def provider_host(tmp_path):
    """The dynamic provider process, as the Pulumi CLI starts it (foreign cwd, no PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    host = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.dynamic"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(host.stdout.readline())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield provider_pb2_grpc.ResourceProviderStub(channel)
        channel.close()
    finally:
        host.kill()
        host.wait(timeout=10)


def wire(props: dict):
    # A private loop: asyncio.run would unset the thread's loop, which the offline plan uses.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def props_of(plan):
    return {**plan.to_inputs(), "pid": None, "start_ticks": None, "started_at": None,
            "__provider": serialize_provider(provider._make_provider("process", str(REPO)))}


def test_the_pulumi_provider_process_runs_create_read_diff_update_delete(topology, provider_host):
    plan = topology.get("svc-users-api-1")
    news = props_of(plan)
    stub = provider_host
    checked = stub.Check(provider_pb2.CheckRequest(urn=URN, olds=wire({}), news=wire(news)))
    assert list(checked.failures) == []

    created = stub.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))
    outs = rpc.deserialize_properties(created.properties)
    record = processes.read_record(plan.pid_path)
    assert created.id == "svc-users-api-1" and int(outs["pid"]) == record.pid and processes.is_alive(record)
    assert processes.port_in_use(plan.ports[0])

    read = stub.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=wire(outs)))
    assert read.id == created.id
    same = stub.Diff(provider_pb2.DiffRequest(id=created.id, urn=URN, olds=wire(outs), news=wire(news)))
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
    changed = {**news, "argv": [*news["argv"], "--health-path", "/health"]}
    diff = stub.Diff(provider_pb2.DiffRequest(id=created.id, urn=URN, olds=wire(outs), news=wire(changed)))
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME and list(diff.replaces) == []

    processes.kill(plan)  # the process dies outside Pulumi
    read = stub.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=wire(outs)))
    assert read.id == ""  # refresh: gone
    dead = stub.Diff(provider_pb2.DiffRequest(id=created.id, urn=URN, olds=wire(outs), news=wire(news)))
    assert dead.changes == provider_pb2.DiffResponse.DIFF_SOME  # the next `up` restarts it

    updated = stub.Update(provider_pb2.UpdateRequest(id=created.id, urn=URN, olds=wire(outs), news=wire(news)))
    outs = rpc.deserialize_properties(updated.properties)
    assert int(outs["pid"]) != record.pid and processes.is_alive(processes.read_record(plan.pid_path))

    stub.Delete(provider_pb2.DeleteRequest(id=created.id, urn=URN, properties=wire(outs)))
    assert not processes.port_in_use(plan.ports[0]) and not pathlib.Path(plan.pid_path).exists()


def test_update_restarts_only_the_resource_whose_inputs_changed(topology, fresh_run):
    one, two = topology.get("svc-users-api-1"), topology.get("svc-users-api-2")
    outs_one = provider.create("process", one.to_inputs()).outs
    outs_two = provider.create("process", two.to_inputs()).outs
    assert provider.diff("process", "x", outs_one, one.to_inputs()).changes is False
    moved = dataclasses.replace(two, env=(*two.env, ("FEATURE", "on")))
    assert provider.diff("process", "x", outs_two, moved.to_inputs()).changes is True
    new_two = provider.update("process", "x", outs_two, moved.to_inputs()).outs
    assert new_two["pid"] != outs_two["pid"]
    assert processes.is_alive(provider._record(outs_one))  # untouched
    for outs in (outs_one, new_two):
        provider.delete("process", "x", outs)
    assert not any(processes.port_in_use(p) for p in (*one.ports, *two.ports))


def test_a_failed_create_stops_what_this_run_had_started(tmp_path, fresh_run):
    spec = local_spec("local-dev", tmp_path / "state", services={
        "locations-api": {},
        "users-api": {"command": "false {port}"}})
    topology = plan_topology(spec, tmp_path / "state")
    try:
        good = topology.get("svc-locations-api-1")
        provider.create("process", good.to_inputs())
        assert processes.port_in_use(good.ports[0])
        with pytest.raises(processes.ProcessError) as err:
            provider.create("process", topology.get("svc-users-api-1").to_inputs())
        assert "users-api instance 1 exited with code 1" in str(err.value)
        assert "stopped what this run had started: svc-locations-api-1" in str(err.value)
        assert not processes.port_in_use(good.ports[0])
        with pytest.raises(processes.ProcessError, match="not started: an earlier start in this run failed"):
            provider.create("process", topology.get("gw-1").to_inputs())
    finally:
        processes.stop_all(topology.processes)


def test_port_check_refuses_a_busy_port_before_anything_starts(topology):
    news = {"state_dir": topology.state_dir, "host": "127.0.0.1",
            "ports": [{"port": u.port, "user": u.user} for u in topology.port_uses]}
    assert provider.check("ports", {}, news).failures == []
    lb_port = topology.port_uses[0].port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", lb_port))
        squatter.listen()
        failures = provider.check("ports", {}, news).failures
    assert [(f.property, f.reason) for f in failures] == [
        ("ports", f"port {lb_port} of the load balancer is already in use on this machine by pid {os.getpid()} "
                  f"({procfs.cmdline(os.getpid())[:120]}); nothing was started")]


def test_port_check_accepts_ports_held_by_this_stacks_own_processes(topology):
    plan = topology.get("svc-payments-api-1")
    processes.start(plan)
    news = {"state_dir": topology.state_dir, "host": "127.0.0.1",
            "ports": [{"port": plan.ports[0], "user": plan.description}]}
    assert provider.check("ports", {}, news).failures == []  # a second `pulumi up`
    assert provider.check("ports", {}, {**news, "state_dir": str(pathlib.Path(topology.state_dir) / "other")}).failures


def test_a_start_that_ends_after_a_parallel_start_failed_is_stopped_too(topology, fresh_run, monkeypatch):
    plan = topology.get("svc-users-api-1")
    real_start = processes.start

    def start_while_another_create_fails(p, **kwargs):
        record = real_start(p, **kwargs)
        processes.RUN.abort("payments-api instance 1 exited with code 3 while starting")  # the engine's other thread
        return record

    monkeypatch.setattr(processes, "start", start_while_another_create_fails)
    with pytest.raises(processes.ProcessError) as err:
        provider.create("process", plan.to_inputs())
    assert str(err.value) == ("users-api instance 1: stopped again: another start in this run failed meanwhile "
                              "(payments-api instance 1 exited with code 3 while starting)")
    assert not processes.port_in_use(plan.ports[0]) and not pathlib.Path(plan.pid_path).exists()
    assert fresh_run.started == []
