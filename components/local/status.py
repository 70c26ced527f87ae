"""What each process of a local topology is doing right now, from its state dir.

Read by the provider's `read` (so `pulumi refresh` reports a dead, stopped or unhealthy process as
drift) and by `make local-status` (tools/local_status.py). Nothing here changes anything.

A process is `running` (alive and, if it has a health check, passing it), `unhealthy` (alive,
failing its health check), `stopped` (SIGSTOP: alive but not running; its health check would
only time out, so it is not probed) or `dead` (no such process: the supervisor restarts it).
"""
from __future__ import annotations

import json
import os
import pathlib

from components.local.processes import is_healthy
from components.local.processplan import ProcessPlan
from components.local.procfs import ProcessRecord, is_alive, read_record, stat

HEALTH_TIMEOUT_S = 1.0


def supervisor_status(state_dir: str | os.PathLike) -> dict:
    try:
        return json.loads(pathlib.Path(state_dir, "supervisor", "status.json").read_text())
    except (OSError, ValueError):
        return {}


def restarts_of(state_dir: str | os.PathLike, key: str) -> int:
    entry = (supervisor_status(state_dir).get("processes") or {}).get(key) or {}
    return int(entry.get("restarts") or 0)


def current_record(plan: ProcessPlan, stored: ProcessRecord | None = None) -> ProcessRecord | None:
    """The process now running for this key: the pid file's (the supervisor may have restarted it
    since Pulumi recorded `stored`), else `stored`."""
    record = read_record(plan.pid_path)
    return record if is_alive(record) else stored


def state_of(plan: ProcessPlan, record: ProcessRecord | None) -> tuple[str, str]:
    """(state, health): state running/unhealthy/stopped/dead; health ok/failing/unchecked."""
    if not is_alive(record):
        return "dead", "unchecked"
    st = stat(record.pid)
    if st is not None and st[0] in "Tt":
        return "stopped", "unchecked"
    if not (plan.health_url or plan.ready_file):
        return "running", "unchecked"
    if is_healthy(plan, record.pid, timeout_s=HEALTH_TIMEOUT_S):
        return "running", "ok"
    return "unhealthy", "failing"


def desired(state_dir: str | os.PathLike) -> list[ProcessPlan]:
    """Every process the state dir's stack keeps running, in start order (supervisor first,
    backends, gateways, readiness controller, HAProxy)."""
    order = {"supervisor": 0, "backend": 1, "gateway": 2, "readiness": 3, "load_balancer": 4}
    plans = []
    for path in pathlib.Path(state_dir, "plans").glob("*.json"):
        try:
            plans.append(ProcessPlan.from_inputs(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return sorted(plans, key=lambda p: (order.get(p.role, 9), p.key))


def topology_status(state_dir: str | os.PathLike) -> list[dict]:
    """One row per process: key, role, ports, pid, state, health, restarts, logs."""
    counts = (supervisor_status(state_dir).get("processes") or {})
    rows = []
    for plan in desired(state_dir):
        record = read_record(plan.pid_path)
        state, health = state_of(plan, record)
        rows.append({"key": plan.key, "role": plan.role, "description": plan.description,
                     "ports": list(plan.ports), "pid": record.pid if is_alive(record) else None,
                     "state": state, "health": health,
                     "restarts": int((counts.get(plan.key) or {}).get("restarts") or 0),
                     "logs": [plan.log_path, *plan.own_logs]})
    return rows
