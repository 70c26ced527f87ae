"""Locks of the local target's state dir (Linux `flock`).

- `key_lock(pid_path)`: one process of the topology is started, stopped or restarted by one
  actor at a time: the Pulumi provider (create, update, delete) or the supervisor (a restart
  after a crash). Re-entrant within a thread, exclusive across threads and processes.
- `claim_state_dir` / `state_dir_owner`: a state dir belongs to one stack. A second stack whose
  `local.state_dir` names the same directory is refused with the owner's name (it would otherwise
  restart the first stack's processes, and destroying either would stop both). The claim is a
  file, `<state_dir>/owner.json`, written by the stack's first `up` and removed by its `destroy`.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import threading
import time
from collections.abc import Iterator

OWNER_FILE = "owner.json"

_registry_lock = threading.Lock()
_held: dict[str, tuple[threading.RLock, list]] = {}  # path -> (thread lock, [fd, depth])


def state_paths(pid_path: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
    """(desired-plan path, lock path) of the process whose pid record is `pid_path`:
    `<state>/pids/<key>.json` -> `<state>/plans/<key>.json`, `<state>/locks/<key>.lock`."""
    pid_path = pathlib.Path(pid_path)
    state, key = pid_path.parent.parent, pid_path.stem
    return state / "plans" / f"{key}.json", state / "locks" / f"{key}.lock"


@contextlib.contextmanager
def key_lock(pid_path: str | os.PathLike, blocking: bool = True) -> Iterator[bool]:
    """Hold the lock of one process key; yields False (and holds nothing) if `blocking` is False
    and another actor holds it."""
    path = str(state_paths(pid_path)[1])
    with _registry_lock:
        entry = _held.setdefault(path, (threading.RLock(), [None, 0]))
    rlock, state = entry
    if not rlock.acquire(blocking=blocking):
        yield False
        return
    try:
        if state[1] == 0:
            pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                yield False
                return
            state[0] = fd
        state[1] += 1
        try:
            yield True
        finally:
            state[1] -= 1
            if state[1] == 0:
                os.close(state[0])  # closing the descriptor releases the flock
                state[0] = None
    finally:
        rlock.release()


# ---------------------------------------------------------------- the state dir's owner


class StateDirTaken(RuntimeError):
    """The state dir belongs to another stack; the message names it and what to do."""


def owner_path(state_dir: str | os.PathLike) -> pathlib.Path:
    return pathlib.Path(state_dir) / OWNER_FILE


def state_dir_owner(state_dir: str | os.PathLike) -> dict | None:
    try:
        data = json.loads(owner_path(state_dir).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("stack") else None


def owner_problem(state_dir: str | os.PathLike, stack: str, project: str) -> str | None:
    """Why `stack` may not use `state_dir`, or None if it may."""
    owner = state_dir_owner(state_dir)
    if owner is None or (owner.get("stack"), owner.get("project")) == (stack, project):
        return None
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(owner.get("since") or 0)))
    return (f"local.state_dir {state_dir} belongs to stack {owner['stack']!r} (project {owner.get('project')!r}, "
            f"since {since}); stack {stack!r} needs a state dir of its own: set another local.state_dir, "
            f"or destroy stack {owner['stack']!r} first (if that stack no longer exists, delete "
            f"{owner_path(state_dir)})")


def claim_state_dir(state_dir: str | os.PathLike, stack: str, project: str) -> None:
    """Record `stack` as the owner of `state_dir`; raise StateDirTaken if another stack owns it."""
    pathlib.Path(state_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(str(pathlib.Path(state_dir) / ".owner.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # two stacks claiming at once: one wins, the other is refused
        problem = owner_problem(state_dir, stack, project)
        if problem:
            raise StateDirTaken(problem)
        if state_dir_owner(state_dir) is None:
            tmp = owner_path(state_dir).with_suffix(".tmp")
            tmp.write_text(json.dumps({"stack": stack, "project": project, "since": time.time(),
                                       "pid": os.getpid()}, indent=2) + "\n")
            os.replace(tmp, owner_path(state_dir))
    finally:
        os.close(fd)


def release_state_dir(state_dir: str | os.PathLike, stack: str, project: str) -> None:
    """Remove the claim if `stack` holds it (destroy)."""
    owner = state_dir_owner(state_dir)
    if owner is not None and (owner.get("stack"), owner.get("project")) == (stack, project):
        owner_path(state_dir).unlink(missing_ok=True)
