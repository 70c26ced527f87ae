"""What Linux's /proc says about the processes of the local topology (Linux only).

A process is known by its record: pid + kernel start time, so a recycled pid is never taken
for it. Every process runs in its own session, so its process group is the process and every
process it forked (nginx workers), which may outlive it.
"""
from __future__ import annotations

import json
import os
import pathlib
from dataclasses import asdict, dataclass


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
    def from_dict(cls, d: dict) -> ProcessRecord:
        return cls(key=str(d["key"]), pid=int(d["pid"]), start_ticks=int(d["start_ticks"]),
                   argv=tuple(d.get("argv") or ()), ports=tuple(int(p) for p in d.get("ports") or ()),
                   log_path=str(d.get("log_path") or ""), started_at=float(d.get("started_at") or 0))


def stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start ticks) of a pid, or None if there is no such process."""
    try:
        text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = text[text.rfind(")") + 2:].split()
    return rest[0], int(rest[2]), int(rest[19])


def cmdline(pid: int) -> str:
    try:
        raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or "?"


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def is_alive(record: ProcessRecord | None) -> bool:
    """True while the recorded process runs (a zombie or a recycled pid counts as gone)."""
    if record is None:
        return False
    st = stat(record.pid)
    return st is not None and st[0] not in "ZXx" and st[2] == record.start_ticks


def group_members(record: ProcessRecord) -> list[int]:
    """Live processes of the record's process group (its own session: nginx workers included).

    The group outlives its leader when the leader is killed (nginx workers keep the port); a
    recycled pid heading an unrelated group is recognised by its start time and left alone.
    """
    members = []
    for pid in all_pids():
        st = stat(pid)
        if st is None or st[1] != record.pid or st[0] in "ZXx":
            continue
        if pid == record.pid and st[2] != record.start_ticks:
            return []  # the pid was recycled: this group is somebody else's
        members.append(pid)
    return members


def read_record(pid_path: str | os.PathLike) -> ProcessRecord | None:
    try:
        return ProcessRecord.from_dict(json.loads(pathlib.Path(pid_path).read_text()))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def workers_of(pid: int) -> set[int]:
    """The other live members of the process group `pid` leads (nginx's or HAProxy's workers)."""
    members = set()
    for other in all_pids():
        st = stat(other)
        if other != pid and st is not None and st[1] == pid and st[0] not in "ZXx":
            members.add(other)
    return members
