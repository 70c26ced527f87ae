"""Start, health-wait, check and stop the real processes of the local topology.

The Pulumi provider (provider.py), the tests and tools/bench_local.py all call these, so what the
tests exercise is what `pulumi up` runs. Linux only (reads /proc).

- A process starts in its own session (its own process group), so a stop reaches every process
  it forked (nginx workers) and a dying Pulumi run does not take it down.
- Its record (procfs.ProcessRecord: pid + kernel start time, so a recycled pid is never mistaken
  for it) is a JSON file under the state dir; its output goes to a log file there.
- Ports are checked before anything starts (ports.py); a port already taken is refused with
  both users named.
- A failed start stops whatever that run had started (`start_all`, and `RUN` for the provider).
- Each started process also leaves its plan in `plans/<key>.json`: what the supervisor
  (supervisor.py) restarts when the process dies. `retire` (a stop for good: delete, destroy, an
  undone start) removes it first. Start, stop and restart of one key hold its lock (locks.py), so
  the provider and the supervisor never act on the same process at once.
- A backend with secret settings gets them as environment variables read from its service's
  secrets file (`plan.secrets_path`, secretfiles.py) at every start; the plan holds no value.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

from components.local import secretfiles

# Re-exported: callers (the provider, the tests, the benchmark) see one module.
from components.local.health import http_status, is_healthy, log_tail  # noqa: F401
from components.local.locks import key_lock, state_paths
from components.local.ports import busy_port_problems, port_in_use  # noqa: F401
from components.local.procfs import ProcessRecord, group_members, is_alive, read_record, stat  # noqa: F401
from components.local.topology import ProcessPlan

EXTRA_PATH = ("/usr/sbin", "/usr/local/sbin", "/sbin")
POLL_S = 0.05
STOP_GRACE_S = 5.0


class ProcessError(RuntimeError):
    """A process could not be started or stopped; the message says which and why."""


class PortInUse(ProcessError):
    pass


def find_program(name: str) -> str:
    if "/" in name:
        return name
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(EXTRA_PATH)
    found = shutil.which(name, path=path)
    if not found:
        raise ProcessError(f"{name}: not found on PATH or in {', '.join(EXTRA_PATH)} "
                           f"(Debian: apt-get install {name})")
    return found


# ---------------------------------------------------------------- start and stop

def write_file_atomic(path: str | os.PathLike, content: str) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(content)
    os.replace(tmp, path)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def start(plan: ProcessPlan, *, check_ports: bool = True, retry_later: bool = False) -> ProcessRecord:
    """Start one process and wait until it is healthy; from then on the supervisor keeps it
    running. On failure it is stopped and this raises; its plan is removed too (nothing restarts
    it), unless `retry_later` (the supervisor's own restarts, which back off and try again)."""
    with key_lock(plan.pid_path):
        try:
            return _start_locked(plan, check_ports)
        except BaseException:
            if not retry_later:
                state_paths(plan.pid_path)[0].unlink(missing_ok=True)
            raise


def _start_locked(plan: ProcessPlan, check_ports: bool) -> ProcessRecord:
    previous = read_record(plan.pid_path)
    if previous is not None and (is_alive(previous) or group_members(previous)):
        stop(previous)  # the same key from an earlier run of this state dir: ours to replace
    if check_ports:
        problems = busy_port_problems((port, plan.description) for port in plan.ports)
        if problems:
            raise PortInUse("; ".join(problems))
    for directory in plan.dirs:
        pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
    for path, content in plan.files:
        write_file_atomic(path, content)
    argv = [find_program(plan.argv[0]), *plan.argv[1:]]
    secrets = _secrets_of(plan)
    log_path = pathlib.Path(plan.log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(plan.pid_path).parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(state_paths(plan.pid_path)[0], json.dumps(plan.to_inputs(), indent=1, sort_keys=True))
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(argv, cwd=plan.cwd if os.path.isdir(plan.cwd) else None,
                                    env={**os.environ, **secrets, **dict(plan.env)}, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as err:
            raise ProcessError(f"{plan.description}: cannot run {argv[0]}: {err}") from None
    st = stat(proc.pid)
    record = ProcessRecord(key=plan.key, pid=proc.pid, start_ticks=st[2] if st else 0,
                           argv=tuple(argv), ports=plan.ports, log_path=str(log_path), started_at=time.time())
    write_file_atomic(plan.pid_path, record.to_json())
    try:
        wait_healthy(plan, proc, plan.start_timeout_s)
    except ProcessError:
        stop(record, pid_path=plan.pid_path)
        raise
    return record


def _secrets_of(plan: ProcessPlan) -> dict[str, str]:
    """The service's secret settings, read from its file at every start (never from the plan)."""
    if not plan.secrets_path:
        return {}
    try:
        return secretfiles.read(plan.secrets_path)
    except (OSError, ValueError) as err:
        raise ProcessError(f"{plan.description}: cannot read its secret settings from {plan.secrets_path} "
                           f"({type(err).__name__}); `pulumi up` writes that file") from None


def wait_healthy(plan: ProcessPlan, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        code = proc.poll()
        if code is not None:
            raise ProcessError(f"{plan.description} exited with code {code} while starting; "
                               f"last lines of {plan.log_path}:\n{log_tail(plan.log_path)}")
        if is_healthy(plan, proc.pid, timeout_s=min(1.0, timeout_s)):
            return
        if time.monotonic() > deadline:
            what = plan.health_url or plan.ready_file
            raise ProcessError(f"{plan.description} not healthy ({what}) after {timeout_s}s; "
                               f"last lines of {plan.log_path}:\n{log_tail(plan.log_path)}")
        time.sleep(POLL_S)


def stop(record: ProcessRecord | None, *, pid_path: str | os.PathLike | None = None,
         grace_s: float = STOP_GRACE_S, stop_signal: str = "SIGTERM") -> None:
    """Signal the process (SIGTERM, or the plan's graceful stop_signal), SIGKILL what is left of
    its group after grace_s; idempotent."""
    if record is not None:
        if is_alive(record):
            _signal(record.pid, getattr(signal, stop_signal))  # the leader stops its own workers cleanly
            _signal(record.pid, signal.SIGCONT)  # a stopped (SIGSTOP) process handles it only when continued
        else:
            for pid in group_members(record):
                _signal(pid, signal.SIGTERM)
        if not _wait_gone(record, grace_s):
            for pid in group_members(record):
                _signal(pid, signal.SIGKILL)
            if not _wait_gone(record, 3.0):
                raise ProcessError(f"{record.key}: pids {group_members(record)} survive SIGKILL")
    if pid_path is not None:
        pathlib.Path(pid_path).unlink(missing_ok=True)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(record: ProcessRecord, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        _reap(record.pid)
        if not is_alive(record) and not group_members(record):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)


def retire(record: ProcessRecord | None, pid_path: str | os.PathLike, stop_signal: str = "SIGTERM") -> None:
    """Stop for good: the supervisor no longer restarts this key (its plan goes first)."""
    with key_lock(pid_path):
        state_paths(pid_path)[0].unlink(missing_ok=True)
        stop(record, pid_path=pid_path, stop_signal=stop_signal)


def stop_plan(plan: ProcessPlan) -> None:
    with key_lock(plan.pid_path):
        retire(read_record(plan.pid_path), plan.pid_path, plan.stop_signal)


def kill(plan: ProcessPlan, sig: int = signal.SIGKILL) -> None:
    """Signal a running instance, its whole process group (tests and the benchmark: `kill -9`,
    an instance crashing; nginx workers would outlive a master killed alone)."""
    record = read_record(plan.pid_path)
    if not is_alive(record):
        raise ProcessError(f"{plan.description} is not running")
    try:
        os.killpg(record.pid, sig)
    except ProcessLookupError:
        pass
    if sig == signal.SIGKILL:
        _wait_gone(record, 3.0)


def start_all(plans: Sequence[ProcessPlan], state_dir: str | os.PathLike | None = None) -> list[ProcessRecord]:
    """Start plans in order, after checking every port; a failure stops what this call started."""
    problems = busy_port_problems(((port, plan.description) for plan in plans for port in plan.ports), state_dir)
    if problems:
        raise PortInUse("nothing was started: " + "; ".join(problems))
    started: list[ProcessPlan] = []
    records = []
    try:
        for plan in plans:
            records.append(start(plan, check_ports=False))
            started.append(plan)
    except BaseException:
        stop_all(started)
        raise
    return records


def stop_all(plans: Sequence[ProcessPlan]) -> None:
    """Stop in reverse start order (the load balancer first, the backends last)."""
    errors = []
    for plan in reversed(list(plans)):
        try:
            stop_plan(plan)
        except ProcessError as err:
            errors.append(str(err))
    if errors:
        raise ProcessError("; ".join(errors))


class Run:
    """What one Pulumi run (one provider process) started, so a failed start can undo it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[tuple[ProcessRecord, str]] = []
        self.failure: str | None = None

    def started_one(self, record: ProcessRecord, pid_path: str) -> bool:
        """Count a start in this run; False (and nothing counted) if the run failed meanwhile:
        starts run in parallel, so another one may have failed while this one was starting."""
        with self.lock:
            if self.failure:
                return False
            self.started.append((record, pid_path))
            return True

    def abort(self, reason: str) -> list[str]:
        """Stop everything this run started, newest first; returns their keys."""
        with self.lock:
            self.failure = self.failure or reason
            started, self.started = self.started, []
        for record, pid_path in reversed(started):
            try:
                retire(record, pid_path)
            except ProcessError:
                pass
        return [record.key for record, _ in started]


RUN = Run()
