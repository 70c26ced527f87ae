"""Pulumi dynamic resources for the local target: one per process, plus a port check.

`LocalProcess` (type `pulumi-python:dynamic/local:Process`): create starts the process and waits
until it is healthy; update applies a change with the least disruption (rollout.py: in place, a
graceful reload, or a rolling restart that waits until the instance is back in rotation); delete
stops it for good; read (refresh) reports the process as it is: gone if dead, `status` stopped
or unhealthy otherwise (drift), with the pid the supervisor restarted it under and its restart
count; diff also reports a dead or stopped process, or one a refresh found not running, so the
next `pulumi up` repairs it.

`PortCheck` (`pulumi-python:dynamic/local:PortCheck`): every process depends on it, and its
`check` (run by the engine on every preview and update, before any create) refuses a state dir
another stack owns (naming that stack) and ports already taken on this machine by something
other than this stack's own processes, naming both users. Nothing has started when it fails.
Its create claims the state dir for the stack (locks.py); its delete, the last of a destroy,
releases it.

How the code reaches the provider process: Pulumi pickles the provider object (dill). A class
defined at module level is pickled by reference, and the provider process (started by the
Pulumi CLI, whose working directory and sys.path we do not control) could not import it
(pulumi/pulumi#7453). So the provider class is built inside a function, which makes dill pickle
it by value; it carries the repo path and imports this module from there on first use. Under
the offline mocks (tools/offline.py) nothing here runs: the resources are only registered.
"""
from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.local import locks, processes, rollout, secretfiles, status
from components.local.options import options_of
from components.local.processes import ProcessError, ProcessRecord
from components.local.topology import ProcessPlan, Topology

PROCESS_TYPE = "pulumi-python:dynamic/local:Process"
PORT_CHECK_TYPE = "pulumi-python:dynamic/local:PortCheck"
OUTPUT_KEYS = ("pid", "start_ticks", "started_at", "status", "restarts")
SECRETS_KEY = "secrets"
"""A backend's secret values {KEY: value}: an input of its own, a Pulumi secret (the engine keeps the
output of the same name secret too), never part of the plan. The provider writes them to the
service's secrets file (secretfiles.py) before a start."""
RUNNING = "running"


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


def _owner(props: dict) -> tuple[str, str, str]:
    return str(props.get("state_dir")), str(props.get("stack") or ""), str(props.get("project") or "")


def check(kind: str, olds: dict, news: dict) -> CheckResult:
    if kind != "ports":
        return CheckResult(news, [])
    taken = locks.owner_problem(*_owner(news)) if news.get("stack") else None
    if taken:
        return CheckResult(news, [CheckFailure("state_dir", f"{taken}; nothing was started")])
    problems = processes.busy_port_problems(_port_users(news), news.get("state_dir"), news.get("host") or "127.0.0.1")
    return CheckResult(news, [CheckFailure("ports", f"{p}; nothing was started") for p in problems])


def _outputs(props: dict, record: ProcessRecord) -> dict:
    return {**_inputs(props), "pid": record.pid, "start_ticks": record.start_ticks, "started_at": record.started_at,
            "status": RUNNING, "restarts": status.restarts_of(rollout.state_dir_of(
                ProcessPlan.from_inputs(_inputs(props))), str(props.get("key")))}


def _start(props: dict) -> dict:
    plan = ProcessPlan.from_inputs(_inputs(props))
    _write_secrets(plan, props)
    return _outputs(props, _start_plan(plan))


def _write_secrets(plan: ProcessPlan, props: dict) -> None:
    if plan.secrets_path:
        secretfiles.write(plan.secrets_path, dict(props.get(SECRETS_KEY) or {}))


def _secrets_changed(olds: dict, news: dict) -> bool:
    return (olds.get(SECRETS_KEY) or {}) != (news.get(SECRETS_KEY) or {})  # unknown in a preview: changed


def _start_plan(plan: ProcessPlan, **_: object) -> ProcessRecord:
    if processes.RUN.failure:
        raise ProcessError(f"{plan.description}: not started: an earlier start in this run failed "
                           f"({processes.RUN.failure.splitlines()[0]})")
    try:
        record = processes.start(plan)
    except Exception as err:  # noqa: BLE001 - any failure must undo this run's starts
        stopped = processes.RUN.abort(str(err))
        raise ProcessError(f"{err}\nstopped what this run had started: {', '.join(stopped) or 'nothing'}") from None
    if not processes.RUN.started_one(record, plan.pid_path):
        processes.retire(record, plan.pid_path)
        raise ProcessError(f"{plan.description}: stopped again: another start in this run failed meanwhile "
                           f"({processes.RUN.failure.splitlines()[0]})")
    return record


def _claim(props: dict) -> None:
    if props.get("stack"):
        try:
            locks.claim_state_dir(*_owner(props))
        except locks.StateDirTaken as err:
            raise ProcessError(f"{err}; nothing was started") from None


def create(kind: str, props: dict) -> CreateResult:
    if kind == "ports":
        _claim(props)
        return CreateResult("ports", _inputs(props))
    outs = _start(props)
    return CreateResult(str(props["key"]), outs)


def _live_record(props: dict) -> ProcessRecord | None:
    return status.current_record(ProcessPlan.from_inputs(_inputs(props)), _record(props))


def _needs_repair(olds: dict) -> bool:
    """Dead or stopped now, or found not running by the last refresh."""
    record = _live_record(olds)
    st = processes.stat(record.pid) if processes.is_alive(record) else None
    return st is None or st[0] in "Tt" or olds.get("status") not in (None, RUNNING)


def _unsupervised(olds: dict) -> bool:
    """Running without a plan for the supervisor (started by a version without one): an update
    in place records it, nothing restarts."""
    path = olds.get("pid_path")
    return bool(path) and not locks.state_paths(path)[0].exists()


def diff(kind: str, id_: str, olds: dict, news: dict) -> DiffResult:
    if kind == "ports":
        return DiffResult(changes=_inputs(olds) != _inputs(news), replaces=[])
    changed = _normalized(olds) != _normalized(news) or _secrets_changed(olds, news)
    return DiffResult(changes=changed or _needs_repair(olds) or _unsupervised(olds), replaces=[],
                      delete_before_replace=True)


def update(kind: str, id_: str, olds: dict, news: dict) -> UpdateResult:
    if kind == "ports":
        _claim(news)
        return UpdateResult(_inputs(news))
    old, new = ProcessPlan.from_inputs(_inputs(olds)), ProcessPlan.from_inputs(_inputs(news))
    _write_secrets(new, news)
    record = rollout.update(old, new, _live_record(olds), start=_start_plan, repair=_needs_repair(olds),
                            fail_timeout_s=_fail_timeout_s(new), restart=_secrets_changed(olds, news))
    if old.secrets_path != new.secrets_path:
        secretfiles.forget_if_unused(old.secrets_path, str(rollout.state_dir_of(new)))
    return UpdateResult(_outputs(news, record))


def _fail_timeout_s(plan: ProcessPlan) -> float:
    """nginx's fail_timeout for this backend: the readiness controller's check interval."""
    try:
        return float(json.loads((rollout.state_dir_of(plan) / "readiness" / "plan.json").read_text())["interval_s"])
    except (OSError, ValueError, KeyError):
        return 0.0


def read(kind: str, id_: str, props: dict) -> ReadResult:
    if kind == "ports":
        return ReadResult(id_, props)
    plan = ProcessPlan.from_inputs(_inputs(props))
    record = _live_record(props)
    state, _ = status.state_of(plan, record)
    if state == "dead":
        return ReadResult("", {})  # gone: a refresh drops it from the state
    return ReadResult(id_, {**props, "pid": record.pid, "start_ticks": record.start_ticks,
                            "started_at": record.started_at, "status": state,
                            "restarts": status.restarts_of(rollout.state_dir_of(plan), plan.key)})


def delete(kind: str, id_: str, props: dict) -> None:
    if kind == "ports":
        # The last of a destroy: every process is gone, so is every secrets file.
        if props.get("state_dir"):
            secretfiles.remove_all(str(props["state_dir"]))
        locks.release_state_dir(*_owner(props))
        return
    pid_path = props.get("pid_path")
    if pid_path:
        # The pid file may name a newer process of the same key (restarted by the supervisor).
        plan = ProcessPlan.from_inputs(_inputs(props))
        with locks.key_lock(pid_path):
            processes.retire(_record(props), pid_path, plan.stop_signal)
            processes.retire(processes.read_record(pid_path), pid_path, plan.stop_signal)
        secretfiles.forget_if_unused(plan.secrets_path, str(rollout.state_dir_of(plan)))
    else:
        processes.stop(_record(props))


# ---------------------------------------------------------------- the resources

class LocalProcess(Resource, module="local", name="Process"):
    """One process of the local topology (inputs: a ProcessPlan; outputs add pid and start time)."""

    pid: pulumi.Output[Any]
    started_at: pulumi.Output[Any]

    def __init__(self, name: str, plan: ProcessPlan, repo: str, opts: pulumi.ResourceOptions | None = None,
                 secrets: dict[str, str] | None = None):
        props = {**plan.to_inputs(), **{k: None for k in OUTPUT_KEYS}}
        if plan.secrets_path:
            # A separate input, a Pulumi secret: encrypted in the state, `[secret]` in previews.
            props[SECRETS_KEY] = pulumi.Output.secret(dict(secrets or {}))
        super().__init__(_make_provider("process", repo), name, props, opts)


class PortCheck(Resource, module="local", name="PortCheck"):
    """Refuses, before anything starts, a state dir another stack owns and ports another program
    already uses on this machine; owns the state dir for the stack from create to delete."""

    def __init__(self, name: str, topology: Topology, repo: str, stack: str,
                 opts: pulumi.ResourceOptions | None = None):
        props = {"state_dir": topology.state_dir, "host": options_of(topology.spec).listen_host,
                 "ports": [{"port": u.port, "user": u.user} for u in topology.port_uses],
                 "stack": stack, "project": topology.spec.project}
        super().__init__(_make_provider("ports", repo), name, props, opts)
