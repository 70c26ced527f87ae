"""Who listens on a loopback port: refusing ports already taken, naming both users.

The plan's own port conflicts (two processes of the topology on one port) are config errors,
found in components/local/options.py; this module finds ports taken on this machine right now.
"""
from __future__ import annotations

import os
import pathlib
import socket
from collections.abc import Iterable

from components.local.procfs import all_pids, cmdline, is_alive, read_record, stat


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
    for pid in all_pids() if targets else []:
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
    return f"pid {pid} ({cmdline(pid)[:120]})"


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
        if owners and all((stat(pid) or ("", -1, 0))[1] in ours for pid in owners):
            continue
        problems.append(f"port {port} of {user} is already in use on this machine by {describe_port_owner(port)}")
    return problems
