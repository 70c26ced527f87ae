"""One process of the local topology as plain data (it round-trips through Pulumi inputs)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ProcessPlan:
    """One process to run. Plain data, so it round-trips through Pulumi inputs."""

    key: str
    """Stable and unique in the topology: `svc-<service>-<i>`, `gw-<i>`, `readiness`, `lb`, `supervisor`."""
    role: str
    """backend, gateway, readiness, load_balancer or supervisor."""
    description: str
    argv: tuple[str, ...]
    cwd: str
    log_path: str
    pid_path: str
    ports: tuple[int, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str], ...] = ()
    """(absolute path, content) written before the process starts."""
    dirs: tuple[str, ...] = ()
    """Directories created before the process starts (nginx's temp dir)."""
    health_url: str | None = None
    health_status: str = "200"
    """Status codes that count as healthy, in the spec's matcher syntax."""
    ready_file: str | None = None
    """For a process without a port: healthy once this JSON file names its pid."""
    instance_id: str | None = None
    service: str | None = None
    start_timeout_s: int = 20
    reload_signal: str | None = None
    """Re-reads its config files on this signal, without dropping a connection (nginx SIGHUP,
    HAProxy's master SIGUSR2); None: a new config means a restart."""
    reopen_signal: str | None = None
    """Reopens `own_logs` on this signal after they were renamed (nginx SIGUSR1)."""
    own_logs: tuple[str, ...] = ()
    """Log files the process opens itself (besides its output, which goes to `log_path`)."""
    stop_signal: str = "SIGTERM"
    """Asks it to stop once its requests in flight are answered (nginx SIGQUIT, HAProxy's master
    SIGUSR1; SIGTERM would make both drop them); SIGKILL follows after the grace period."""
    secrets_path: str | None = None
    """A JSON file {KEY: value} (mode 0600, in the state dir) whose settings the process gets as
    environment variables, read at each start (supervisor restarts too). The plan names the file
    only: the values never enter a plan, an input or a file other than that one."""

    def to_inputs(self) -> dict:
        d = asdict(self)
        d["argv"] = list(self.argv)
        d["ports"] = list(self.ports)
        d["dirs"] = list(self.dirs)
        d["own_logs"] = list(self.own_logs)
        d["env"] = {k: v for k, v in self.env}
        d["files"] = [{"path": p, "content": c} for p, c in self.files]
        return d

    @classmethod
    def from_inputs(cls, d: dict) -> ProcessPlan:
        """Inverse of to_inputs; tolerant of Pulumi's wire form (numbers as floats, extra keys)."""
        known = {f for f in cls.__dataclass_fields__}
        d = {k: v for k, v in d.items() if k in known}
        return cls(**{
            **d,
            "argv": tuple(str(a) for a in d.get("argv") or ()),
            "ports": tuple(int(p) for p in d.get("ports") or ()),
            "dirs": tuple(str(p) for p in d.get("dirs") or ()),
            "own_logs": tuple(str(p) for p in d.get("own_logs") or ()),
            "env": tuple(sorted((str(k), str(v)) for k, v in (d.get("env") or {}).items())),
            "files": tuple((str(f["path"]), str(f["content"])) for f in d.get("files") or ()),
            "start_timeout_s": int(d.get("start_timeout_s") or 20),
        })



def status_matches(status: int, matcher: str) -> bool:
    """Whether an HTTP status satisfies a spec matcher ("200", "200-299", "200,204")."""
    for part in str(matcher).split(","):
        lo, _, hi = part.partition("-")
        if int(lo) <= status <= int(hi or lo):
            return True
    return False
