"""Pulumi dynamic resources for the local target: one per process, plus a port check.

`LocalProcess` (type `pulumi-python:dynamic/local:Process`): create starts the process and waits
until it is healthy; update restarts it (only resources whose inputs changed are updated, so a
change to one service restarts that service only); delete stops it; read (refresh) reports a
dead process as gone; diff also reports a dead process, so the next `pulumi up` restarts it.

`PortCheck` (`pulumi-python:dynamic/local:PortCheck`): every process depends on it, and its
`check` (run by the engine on every preview and update, before any create) refuses ports
already taken on this machine by something other than this stack's own processes, naming both
users of the port. Nothing has started when it fails.

How the code reaches the provider process: Pulumi pickles the provider object (dill). A class
defined at module level is pickled by reference, and the provider process (started by the
Pulumi CLI, whose working directory and sys.path we do not control) could not import it
(pulumi/pulumi#7453). So the provider class is built inside a function, which makes dill pickle
it by value; it carries the repo path and imports this module from there on first use. Under
the offline mocks (tools/offline.py) nothing here runs: the resources are only registered.
"""
from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic import (CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource,
                            UpdateResult)

from components.local import processes
from components.local.processes import ProcessError, ProcessRecord
from components.local.options import options_of
from components.local.topology import ProcessPlan, Topology

PROCESS_TYPE = "pulumi-python:dynamic/local:Process"
PORT_CHECK_TYPE = "pulumi-python:dynamic/local:PortCheck"
OUTPUT_KEYS = ("pid", "start_ticks", "started_at")


def _make_provider(kind: str, repo: str):
    """A provider object whose class dill pickles by value (see the module docstring)."""
    from pulumi.dynamic import ResourceProvider

    class LocalProvider(ResourceProvider):
        # Nothing secret inside: keep it plain so a local file backend needs no passphrase for it.
        serialize_as_secret_always = False

        def __init__(self, kind: str, repo: str):
            self.kind = kind
            self.repo = repo

        def _impl(self):
            import importlib
            import sys
            if self.repo not in sys.path:
                sys.path.insert(0, self.repo)
            return importlib.import_module("components.local.provider")

        def check(self, olds, news):
            return self._impl().check(self.kind, olds, news)

        def diff(self, id_, olds, news):
            return self._impl().diff(self.kind, id_, olds, news)

        def create(self, props):
            return self._impl().create(self.kind, props)

        def read(self, id_, props):
            return self._impl().read(self.kind, id_, props)

        def update(self, id_, olds, news):
            return self._impl().update(self.kind, id_, olds, news)

        def delete(self, id_, props):
            return self._impl().delete(self.kind, id_, props)

    return LocalProvider(kind, repo)


# ---------------------------------------------------------------- provider operations (plain data)

def _inputs(props: dict) -> dict:
    return {k: v for k, v in props.items() if not k.startswith("__") and k not in OUTPUT_KEYS}


def _record(outs: dict) -> ProcessRecord | None:
    if not outs or outs.get("pid") is None:
        return None
    return ProcessRecord(key=str(outs.get("key")), pid=int(outs["pid"]), start_ticks=int(outs.get("start_ticks") or 0),
                         argv=tuple(outs.get("argv") or ()), ports=tuple(int(p) for p in outs.get("ports") or ()),
                         log_path=str(outs.get("log_path") or ""), started_at=float(outs.get("started_at") or 0))


def _normalized(props: dict) -> dict:
    return ProcessPlan.from_inputs(_inputs(props)).to_inputs()


def _port_users(props: dict) -> list[tuple[int, str]]:
    return [(int(u["port"]), str(u["user"])) for u in props.get("ports") or ()]


def check(kind: str, olds: dict, news: dict) -> CheckResult:
    if kind != "ports":
        return CheckResult(news, [])
    problems = processes.busy_port_problems(_port_users(news), news.get("state_dir"), news.get("host") or "127.0.0.1")
    return CheckResult(news, [CheckFailure("ports", f"{p}; nothing was started") for p in problems])


def _start(props: dict) -> dict:
    plan = ProcessPlan.from_inputs(_inputs(props))
    if processes.RUN.failure:
        raise ProcessError(f"{plan.description}: not started: an earlier start in this run failed "
                           f"({processes.RUN.failure.splitlines()[0]})")
    try:
        record = processes.start(plan)
    except Exception as err:  # noqa: BLE001 - any failure must undo this run's starts
        stopped = processes.RUN.abort(str(err))
        raise ProcessError(f"{err}\nstopped what this run had started: {', '.join(stopped) or 'nothing'}") from None
    if not processes.RUN.started_one(record, plan.pid_path):
        processes.stop(record, pid_path=plan.pid_path)
        raise ProcessError(f"{plan.description}: stopped again: another start in this run failed meanwhile "
                           f"({processes.RUN.failure.splitlines()[0]})")
    return {**_inputs(props), "pid": record.pid, "start_ticks": record.start_ticks, "started_at": record.started_at}


def create(kind: str, props: dict) -> CreateResult:
    if kind == "ports":
        return CreateResult("ports", _inputs(props))
    outs = _start(props)
    return CreateResult(str(props["key"]), outs)


def diff(kind: str, id_: str, olds: dict, news: dict) -> DiffResult:
    if kind == "ports":
        return DiffResult(changes=_inputs(olds) != _inputs(news), replaces=[])
    changed = _normalized(olds) != _normalized(news)
    dead = not processes.is_alive(_record(olds))
    return DiffResult(changes=changed or dead, replaces=[], delete_before_replace=True)


def update(kind: str, id_: str, olds: dict, news: dict) -> UpdateResult:
    if kind == "ports":
        return UpdateResult(_inputs(news))
    processes.stop(_record(olds), pid_path=olds.get("pid_path"))
    return UpdateResult(_start(news))


def read(kind: str, id_: str, props: dict) -> ReadResult:
    if kind == "ports":
        return ReadResult(id_, props)
    if not processes.is_alive(_record(props)):
        return ReadResult("", {})  # gone: a refresh drops it from the state
    return ReadResult(id_, props)


def delete(kind: str, id_: str, props: dict) -> None:
    if kind == "ports":
        return
    processes.stop(_record(props), pid_path=None)
    # The pid file may name a newer process of the same key (restarted outside Pulumi).
    if props.get("pid_path"):
        processes.stop(processes.read_record(props["pid_path"]), pid_path=props["pid_path"])


# ---------------------------------------------------------------- the resources

class LocalProcess(Resource, module="local", name="Process"):
    """One process of the local topology (inputs: a ProcessPlan; outputs add pid and start time)."""

    pid: pulumi.Output[Any]
    started_at: pulumi.Output[Any]

    def __init__(self, name: str, plan: ProcessPlan, repo: str, opts: Optional[pulumi.ResourceOptions] = None):
        props = {**plan.to_inputs(), **{k: None for k in OUTPUT_KEYS}}
        super().__init__(_make_provider("process", repo), name, props, opts)


class PortCheck(Resource, module="local", name="PortCheck"):
    """Refuses, before anything starts, ports another program already uses on this machine."""

    def __init__(self, name: str, topology: Topology, repo: str, opts: Optional[pulumi.ResourceOptions] = None):
        props = {"state_dir": topology.state_dir, "host": options_of(topology.spec).listen_host,
                 "ports": [{"port": u.port, "user": u.user} for u in topology.port_uses]}
        super().__init__(_make_provider("ports", repo), name, props, opts)
