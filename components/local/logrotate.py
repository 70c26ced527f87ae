"""Log rotation for the local topology, by size, run by the supervisor.

A log past `max_bytes` becomes `<log>.1` (the older ones shift to `.2` ... `.<keep>`; the oldest
is deleted), in one of two ways:

- a file the process opens itself and reopens on a signal (nginx's access and error logs:
  SIGUSR1): renamed, then the process is told to reopen it; nothing is lost;
- a file that holds the process's output (every process's `logs/<key>.log`, opened once when it
  started): copied, then truncated in place (`copytruncate`, as logrotate calls it). The process
  keeps writing at the new end (the file is open with O_APPEND). Lines written between the copy
  and the truncation are lost; the copy takes milliseconds.

As root, nginx's workers run as `nobody` and reopen the files themselves, in a state dir they may
not be allowed to enter (pytest's and mkdtemp's directories are 0700); so when the supervisor
runs as root it copies and truncates nginx's logs too (nginx also appends with O_APPEND).
"""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
from collections.abc import Callable


def _shift(path: pathlib.Path, keep: int) -> None:
    """<log>.<keep-1> -> <log>.<keep>, ..., <log>.1 -> <log>.2 (the oldest is overwritten)."""
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{n + 1}"))


def size(path: str | os.PathLike) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def rotate_copytruncate(path: str | os.PathLike, keep: int) -> None:
    path = pathlib.Path(path)
    _shift(path, keep)
    shutil.copyfile(path, path.with_name(f"{path.name}.1"))
    os.truncate(path, 0)


def rotate_reopen(path: str | os.PathLike, keep: int, reopen: Callable[[], bool]) -> None:
    """Rename, then `reopen()`; if the process cannot be told (not running), the file stays renamed
    and the process creates a new one when it starts."""
    path = pathlib.Path(path)
    _shift(path, keep)
    os.replace(path, path.with_name(f"{path.name}.1"))
    reopen()


def workers_can_reopen() -> bool:
    """Whether a process started by this user reopens its logs as this user (see the module doc)."""
    return os.geteuid() != 0


def signal_reopen(pid: int, signal_name: str) -> Callable[[], bool]:
    def reopen() -> bool:
        try:
            os.kill(pid, getattr(signal, signal_name))
            return True
        except (OSError, AttributeError):
            return False
    return reopen


def rotate_if_large(path: str | os.PathLike, max_bytes: int, keep: int,
                    reopen: Callable[[], bool] | None = None) -> bool:
    """Rotate `path` if it is larger than max_bytes; True if it did."""
    if size(path) <= max_bytes:
        return False
    if reopen is None:
        rotate_copytruncate(path, keep)
    else:
        rotate_reopen(path, keep, reopen)
    return True


def rotated_files(path: str | os.PathLike) -> list[pathlib.Path]:
    """The rotated copies of a log, newest first."""
    path = pathlib.Path(path)
    found = [p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()]
    return sorted(found, key=lambda p: int(p.suffix[1:]))
