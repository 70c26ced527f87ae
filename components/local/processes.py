"""Start, health-wait, check and stop the real processes of the local topology.

The Pulumi provider (provider.py), the tests and tools/bench_local.py all call these, so what the
tests exercise is what `pulumi up` runs. Linux only (reads /proc).

- A process starts in its own session (its own process group), so a stop reaches every process
  it forked (nginx workers) and a dying Pulumi run does not take it down.
- Its record (pid + kernel start time, so a recycled pid is never mistaken for it) is a JSON file
  under the state dir; its output goes to a log file there.
- Ports are checked before anything starts; a port already taken is refused with both users named.
- A failed start stops whatever that run had started (`start_all`, and `RUN` for the provider).
"""
from __future__ import annotations

import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from components.local.topology import ProcessPlan, status_matches

EXTRA_PATH = ("/usr/sbin", "/usr/local/sbin", "/sbin")
POLL_S = 0.05
STOP_GRACE_S = 5.0


class ProcessError(RuntimeError):
    """A process could not be started or stopped; the message says which and why."""


class PortInUse(ProcessError):
    pass


@dataclass(frozen=True)
class ProcessRecord:
    key: str
    pid: int
    start_ticks: int
    """Kernel start time of the pid (/proc/<pid>/stat field 22): tells a recycled pid apart."""
    argv: tuple[str, ...]
    ports: tuple[int, ...]
    log_path: str
    started_at: float

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "argv": list(self.argv), "ports": list(self.ports)}, indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "ProcessRecord":
        return cls(key=str(d["key"]), pid=int(d["pid"]), start_ticks=int(d["start_ticks"]),
                   argv=tuple(d.get("argv") or ()), ports=tuple(int(p) for p in d.get("ports") or ()),
                   log_path=str(d.get("log_path") or ""), started_at=float(d.get("started_at") or 0))


# ---------------------------------------------------------------- /proc helpers

def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start ticks) of a pid, or None if there is no such process."""
    try:
        text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = text[text.rfind(")") + 2:].split()
    return rest[0], int(rest[2]), int(rest[19])


def _cmdline(pid: int) -> str:
    try:
        raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or "?"


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def is_alive(record: ProcessRecord | None) -> bool:
    """True while the recorded process runs (a zombie or a recycled pid counts as gone)."""
    if record is None:
        return False
    stat = _stat(record.pid)
    return stat is not None and stat[0] not in "ZXx" and stat[2] == record.start_ticks


def group_members(record: ProcessRecord) -> list[int]:
    """Live processes of the record's process group (its own session: nginx workers included).

    The group outlives its leader when the leader is killed (nginx workers keep the port); a
    recycled pid heading an unrelated group is recognised by its start time and left alone.
    """
    members = []
    for pid in _all_pids():
        stat = _stat(pid)
        if stat is None or stat[1] != record.pid or stat[0] in "ZXx":
            continue
        if pid == record.pid and stat[2] != record.start_ticks:
            return []  # the pid was recycled: this group is somebody else's
        members.append(pid)
    return members


def read_record(pid_path: str | os.PathLike) -> ProcessRecord | None:
    try:
        return ProcessRecord.from_dict(json.loads(pathlib.Path(pid_path).read_text()))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def find_program(name: str) -> str:
    if "/" in name:
        return name
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(EXTRA_PATH)
    found = shutil.which(name, path=path)
    if not found:
        raise ProcessError(f"{name}: not found on PATH or in {', '.join(EXTRA_PATH)} "
                           f"(Debian: apt-get install {name})")
    return found


# ---------------------------------------------------------------- ports

def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something listens on (or holds) host:port. SO_REUSEADDR as servers set it, so
    connections in TIME_WAIT from an earlier run do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def port_owners(port: int) -> list[int]:
    """Pids holding a listening socket on `port` (best effort: needs to read their /proc/<pid>/fd)."""
    targets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    owners = []
    for pid in _all_pids() if targets else []:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                    owners.append(pid)
                    break
            except OSError:
                continue
    return owners


def describe_port_owner(port: int) -> str:
    owners = port_owners(port)
    if not owners:
        return "another process on this machine"
    pid = min(owners)
    return f"pid {pid} ({_cmdline(pid)[:120]})"


def own_pids(state_dir: str | os.PathLike) -> set[int]:
    """Leaders of the live processes recorded in a state dir (their groups are ours)."""
    pids = set()
    for path in pathlib.Path(state_dir, "pids").glob("*.json"):
        record = read_record(path)
        if is_alive(record):
            pids.add(record.pid)
    return pids


def busy_port_problems(port_users: Iterable[tuple[int, str]], state_dir: str | os.PathLike | None = None,
                       host: str = "127.0.0.1") -> list[str]:
    """Messages for planned ports already taken on this machine by a process that is not ours.

    `port_users` is (port, who will use it); ports held by processes recorded in `state_dir` are
    fine (a re-run of the same topology).
    """
    ours = own_pids(state_dir) if state_dir else set()
    problems = []
    for port, user in port_users:
        if not port_in_use(port, host):
            continue
        owners = port_owners(port)
        if owners and all((_stat(pid) or ("", -1, 0))[1] in ours for pid in owners):
            continue
        problems.append(f"port {port} of {user} is already in use on this machine by {describe_port_owner(port)}")
    return problems


# ---------------------------------------------------------------- health

def http_status(url: str, timeout_s: float) -> int | None:
    """Status of a GET to url, or None if nothing answered. http.client: never goes through a proxy."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                     headers={"User-Agent": "apigw-local-health"})
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def is_healthy(plan: ProcessPlan, pid: int | None = None, timeout_s: float = 1.0) -> bool:
    if plan.health_url:
        status = http_status(plan.health_url, timeout_s)
        return status is not None and status_matches(status, plan.health_status)
    if plan.ready_file:
        try:
            data = json.loads(pathlib.Path(plan.ready_file).read_text())
        except (OSError, ValueError):
            return False
        return pid is None or data.get("pid") == pid
    return True


def log_tail(path: str, lines: int = 15) -> str:
    try:
        text = pathlib.Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


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


def start(plan: ProcessPlan, *, check_ports: bool = True) -> ProcessRecord:
    """Start one process and wait until it is healthy; on failure it is stopped and this raises."""
    previous = read_record(plan.pid_path)
    if previous is not None and (is_alive(previous) or group_members(previous)):
        stop(previous)  # the same key from an earlier run of this state dir: ours to replace
    if check_ports:
        problems = busy_port_problems(((port, plan.description) for port in plan.ports))
        if problems:
            raise PortInUse("; ".join(problems))
    for directory in plan.dirs:
        pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
    for path, content in plan.files:
        write_file_atomic(path, content)
    argv = [find_program(plan.argv[0]), *plan.argv[1:]]
    log_path = pathlib.Path(plan.log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(plan.pid_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(argv, cwd=plan.cwd if os.path.isdir(plan.cwd) else None,
                                    env={**os.environ, **dict(plan.env)}, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as err:
            raise ProcessError(f"{plan.description}: cannot run {argv[0]}: {err}") from None
    stat = _stat(proc.pid)
    record = ProcessRecord(key=plan.key, pid=proc.pid, start_ticks=stat[2] if stat else 0,
                           argv=tuple(argv), ports=plan.ports, log_path=str(log_path), started_at=time.time())
    write_file_atomic(plan.pid_path, record.to_json())
    try:
        wait_healthy(plan, proc, plan.start_timeout_s)
    except ProcessError:
        stop(record, pid_path=plan.pid_path)
        raise
    return record


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
         grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the process (and its group), SIGKILL what is left after grace_s; idempotent."""
    if record is not None:
        if is_alive(record):
            _signal(record.pid, signal.SIGTERM)  # the leader stops its own workers cleanly
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


def stop_plan(plan: ProcessPlan) -> None:
    stop(read_record(plan.pid_path), pid_path=plan.pid_path)


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

    def started_one(self, record: ProcessRecord, pid_path: str) -> None:
        with self.lock:
            self.started.append((record, pid_path))

    def abort(self, reason: str) -> list[str]:
        """Stop everything this run started, newest first; returns their keys."""
        with self.lock:
            self.failure = self.failure or reason
            started, self.started = self.started, []
        for record, pid_path in reversed(started):
            try:
                stop(record, pid_path=pid_path)
            except ProcessError:
                pass
        return [record.key for record, _ in started]


RUN = Run()
