"""Zero-downtime changes of the local topology: what the Pulumi provider's update runs.

An update of one process (the engine updates the instances of a service, and the gateways, one
at a time: each depends on the previous one) is the first that applies of:

1. **in place**: only what the provider checks changed (health URL, matcher, start timeout): the
   running process is kept;
2. **reload**: only its config files changed and it reloads them without dropping a connection
   (`reload_signal`: nginx SIGHUP, HAProxy's master SIGUSR2): the files are written, the signal
   sent, and the update waits until new workers run (the old ones finish their requests) and the
   process answers its health check;
3. **rolling restart**: it is taken out of rotation first, stopped, started, and the update waits
   until it is ready *and back in rotation* before it returns, so the engine never stops the next
   instance while this one is still out:
   - a backend: the readiness controller drops it from every gateway's upstreams (a drain file;
     it confirms once every gateway runs the new config and its old workers, with their requests
     in flight, are gone), and puts it back once it answers again;
   - a gateway: HAProxy drains it first (its runtime API: no new request, and the update waits
     until it has none in progress), it stops gracefully (nginx SIGQUIT), starts, is enabled
     again, and the update waits until HAProxy's health check has it up.
   A planned restart therefore sends no request to a stopped instance, so nginx's passive
   failure marking (max_fails / fail_timeout, from the health check) never counts one against it
   and never takes a whole service out. Without a readiness controller to drain through (the
   first `up`), the update waits fail_timeout after the restart instead, so any failure nginx
   counted meanwhile has expired before the next instance stops.
"""
from __future__ import annotations

import csv
import http.client
import json
import os
import pathlib
import re
import signal
import socket
import time
from collections.abc import Callable

from components.local import processes
from components.local.haproxy import ADMIN_SOCKET
from components.local.locks import key_lock
from components.local.processplan import ProcessPlan
from components.local.procfs import ProcessRecord, is_alive, read_record, workers_of

IN_PLACE_FIELDS = ("health_url", "health_status", "start_timeout_s", "description", "stop_signal")
POLL_S = 0.02
DRAIN_TIMEOUT_S = 15.0
"""How long an update waits for the readiness controller to confirm a drain (a drain waits for the
old nginx workers to finish their requests, each at most the upstream read timeout)."""


class RolloutError(processes.ProcessError):
    pass


def drain_dir(state_dir: str | os.PathLike) -> pathlib.Path:
    return pathlib.Path(state_dir, "readiness", "drain")


def state_dir_of(plan: ProcessPlan) -> pathlib.Path:
    return pathlib.Path(plan.pid_path).parent.parent


# ---------------------------------------------------------------- reload


def reload_process(pid: int, sig: int, timeout_s: float, *, until_old_gone: bool) -> str | None:
    """Signal a master to reload; wait until a new worker runs (and, if until_old_gone, every
    worker from before has exited). None when done, else what went wrong."""
    old = workers_of(pid)
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return "not running"
    deadline = time.monotonic() + timeout_s
    while True:
        now = workers_of(pid)
        if (now - old) and not (until_old_gone and now & old):
            return None
        if not os.path.exists(f"/proc/{pid}"):
            return "exited while reloading"
        if time.monotonic() > deadline:
            return f"no new worker after {timeout_s:g}s" if not now - old else \
                f"old workers {sorted(now & old)} still busy after {timeout_s:g}s"
        time.sleep(POLL_S)


def _reload(old: ProcessPlan, new: ProcessPlan, record: ProcessRecord) -> ProcessRecord:
    for path, content in new.files:
        processes.write_file_atomic(path, content)
    problem = reload_process(record.pid, getattr(signal, new.reload_signal), new.start_timeout_s, until_old_gone=False)
    if problem is None:
        problem = _wait_healthy(new, new.start_timeout_s)
    if problem:
        raise RolloutError(f"{new.description}: reload ({new.reload_signal}) failed: {problem}; last lines of "
                           f"{new.log_path}:\n{processes.log_tail(new.log_path)}")
    processes.write_file_atomic(processes.state_paths(new.pid_path)[0],
                                json.dumps(new.to_inputs(), indent=1, sort_keys=True))
    return record


def _wait_healthy(plan: ProcessPlan, timeout_s: float) -> str | None:
    deadline = time.monotonic() + timeout_s
    while not processes.is_healthy(plan, timeout_s=1.0):
        if time.monotonic() > deadline:
            return f"not healthy ({plan.health_url or plan.ready_file}) after {timeout_s:g}s"
        time.sleep(POLL_S * 5)
    return None


# ---------------------------------------------------------------- backends: drain through the readiness controller


def _readiness(state_dir: pathlib.Path) -> tuple[dict, dict] | None:
    """(plan, status) of a running readiness controller, or None."""
    try:
        plan = json.loads((state_dir / "readiness" / "plan.json").read_text())
        status = json.loads(pathlib.Path(plan["status_path"]).read_text())
    except (OSError, ValueError, KeyError):
        return None
    record = read_record(state_dir / "pids" / "readiness.json")
    return (plan, status) if is_alive(record) and record.pid == status.get("pid") else None


def _applied_everywhere(state_dir: pathlib.Path, address: str, present: bool) -> bool:
    found = _readiness(state_dir)
    if found is None:
        return False
    gateways = found[1].get("gateways") or {}
    return bool(gateways) and all(
        any(address in servers for servers in g.get("upstreams", {}).values()) == present for g in gateways.values())


def set_drained(plan: ProcessPlan, drained: bool, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
    """Take a backend out of every gateway's upstreams (or put it back) through the readiness
    controller; True once every gateway runs that config. False at once when no controller runs
    or the instance is its service's only one (a service keeps at least one instance)."""
    state_dir = state_dir_of(plan)
    found = _readiness(state_dir)
    address = f"{plan.health_url.split('://', 1)[1].split('/', 1)[0]}" if plan.health_url else ""
    marker = drain_dir(state_dir) / str(plan.instance_id)
    if not drained:
        marker.unlink(missing_ok=True)
    if found is None or not address:
        return False
    siblings = [b for b in found[0].get("backends", ()) if b.get("service") == plan.service]
    if len(siblings) < 2:
        return False
    if drained:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{time.time()}\n")
    deadline = time.monotonic() + timeout_s
    while not _applied_everywhere(state_dir, address, present=not drained):
        if time.monotonic() > deadline or _readiness(state_dir) is None:
            return False
        time.sleep(POLL_S * 5)
    return True


# ---------------------------------------------------------------- gateways: back in HAProxy's rotation


def haproxy_reports_up(state_dir: pathlib.Path, server: str) -> bool | None:
    """HAProxy's view of a gateway from its Prometheus endpoint; None if HAProxy does not answer."""
    try:
        lb = ProcessPlan.from_inputs(json.loads((state_dir / "plans" / "lb.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    conn = http.client.HTTPConnection("127.0.0.1", lb.ports[1], timeout=2)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    match = re.search(rf'^haproxy_server_status{{proxy="gateways",server="{server}",state="UP"}} (\d+)', body, re.M)
    return None if match is None else match.group(1) == "1"


def haproxy_admin(state_dir: pathlib.Path, command: str) -> str | None:
    """One command to HAProxy's runtime API (haproxy.ADMIN_SOCKET); its answer, or None if HAProxy
    does not answer. The socket is reached through the directory's descriptor, so the path stays
    short whatever the state dir's."""
    try:
        directory = os.open(state_dir / "haproxy", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(2.0)
            conn.connect(f"/proc/self/fd/{directory}/{ADMIN_SOCKET.removeprefix('unix@')}")
            conn.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")
    except OSError:
        return None
    finally:
        os.close(directory)


def _sessions(state_dir: pathlib.Path, server: str) -> int | None:
    """Requests HAProxy has in progress on a gateway (`scur` of `show stat`)."""
    answer = haproxy_admin(state_dir, "show stat")
    rows = csv.reader(line for line in (answer or "").lstrip("# ").splitlines() if line)
    header = next(rows, None)
    if not header or "scur" not in header:
        return None
    for row in rows:
        if row[:2] == ["gateways", server]:
            return int(row[header.index("scur")] or 0)
    return None


def _drain_in_haproxy(plan: ProcessPlan, timeout_s: float) -> bool:
    """HAProxy sends the gateway no new request; True once it has none in progress either."""
    state_dir, server = state_dir_of(plan), str(plan.instance_id)
    if haproxy_admin(state_dir, f"set server gateways/{server} state drain") != "\n":
        return False  # no HAProxy to drain through (the first `up`): its retries cover the restart
    deadline = time.monotonic() + timeout_s
    while (_sessions(state_dir, server) or 0) > 0 and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return True


def _wait_in_haproxy(plan: ProcessPlan, timeout_s: float) -> None:
    haproxy_admin(state_dir_of(plan), f"set server gateways/{plan.instance_id} state ready")
    deadline = time.monotonic() + timeout_s
    while haproxy_reports_up(state_dir_of(plan), str(plan.instance_id)) is False:
        if time.monotonic() > deadline:
            raise RolloutError(f"{plan.description}: HAProxy did not mark it up within {timeout_s:g}s")
        time.sleep(POLL_S * 5)


# ---------------------------------------------------------------- the update


def how_to_apply(old: ProcessPlan, new: ProcessPlan, alive: bool) -> str:
    """"in place", "reload" or "restart" (see the module doc); a dead process is always restarted."""
    changed = {k for k, v in new.to_inputs().items() if old.to_inputs().get(k) != v}
    if alive and changed <= set(IN_PLACE_FIELDS):
        return "in place"
    same_signal = old.reload_signal is not None and new.reload_signal == old.reload_signal
    if alive and same_signal and changed <= {"files", *IN_PLACE_FIELDS}:
        return "reload"
    return "restart"


def update(old: ProcessPlan, new: ProcessPlan, old_record: ProcessRecord | None, *,
           start: Callable[[ProcessPlan], ProcessRecord] = processes.start, repair: bool = False,
           fail_timeout_s: float = 0.0, rotation_timeout_s: float = 30.0,
           restart: bool = False) -> ProcessRecord:
    """Apply `new` to the process running `old` with the least disruption (see the module doc).
    `repair`: the process is not running as it should (stopped, unhealthy): restart it.
    `restart`: something the plan does not show changed (a secret value, read at start): a rolling
    restart even if the plan is the same."""
    with key_lock(new.pid_path):
        current = read_record(new.pid_path)
        record = current if is_alive(current) else old_record
        alive = is_alive(record) and not repair
        how = "restart" if restart else how_to_apply(old, new, alive)
        if how == "in place":
            processes.write_file_atomic(processes.state_paths(new.pid_path)[0],
                                        json.dumps(new.to_inputs(), indent=1, sort_keys=True))
            return record
        if how == "reload":
            return _reload(old, new, record)
        drained = new.role == "backend" and alive and set_drained(new, True)
        if new.role == "gateway" and alive:
            _drain_in_haproxy(new, DRAIN_TIMEOUT_S)
        processes.stop(record, pid_path=new.pid_path, stop_signal=old.stop_signal)
        started = start(new)
        if new.role == "backend":
            set_drained(new, False)  # waits until every gateway sends it requests again
            if not drained and fail_timeout_s:
                time.sleep(fail_timeout_s)  # not drained: let any failure nginx counted meanwhile expire
        elif new.role == "gateway":
            _wait_in_haproxy(new, rotation_timeout_s)
        return started
