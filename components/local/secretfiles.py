"""The local target's secret store: one JSON file per service in the state dir.

    <state_dir>/secrets/            mode 0700
    <state_dir>/secrets/<service>.json   {KEY: value}, mode 0600

The Pulumi provider writes a service's file (from its `secrets` input, a Pulumi secret) before it
starts or restarts an instance; processes.start reads it at every start (the supervisor's restarts
too) and hands the values to the process as environment variables. A ProcessPlan, and so every
plan file, log line and status, names the file only. Readable by the user running the stack.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import threading

DIR_MODE = 0o700
FILE_MODE = 0o600


def secrets_dir(state_dir: str | os.PathLike) -> pathlib.Path:
    return pathlib.Path(state_dir, "secrets")


def secrets_path(state_dir: str | os.PathLike, service: str) -> str:
    return str(secrets_dir(state_dir) / f"{service}.json")


def write(path: str | os.PathLike, values: dict[str, str]) -> None:
    """Atomically: a temp file created 0600 (never readable by others, not even for a moment), then renamed."""
    path = pathlib.Path(path)
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path.parent, DIR_MODE)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w") as out:
            json.dump({str(k): str(v) for k, v in sorted(values.items())}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def read(path: str | os.PathLike) -> dict[str, str]:
    """The values; raises OSError (missing file) or ValueError (not a JSON object of strings)."""
    values = json.loads(pathlib.Path(path).read_text())
    if not isinstance(values, dict):
        raise ValueError(f"{path}: not a JSON object")
    return {str(k): str(v) for k, v in values.items()}


def in_use(path: str, state_dir: str | os.PathLike) -> bool:
    """Whether a process plan the supervisor keeps running (plans/<key>.json) still reads `path`."""
    for plan in pathlib.Path(state_dir, "plans").glob("*.json"):
        try:
            if json.loads(plan.read_text()).get("secrets_path") == path:
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


def forget_if_unused(path: str | None, state_dir: str | os.PathLike) -> None:
    """Remove a service's file once no planned process reads it (its last instance deleted, or
    every instance updated to a plan without secrets)."""
    if path and not in_use(path, state_dir):
        pathlib.Path(path).unlink(missing_ok=True)


def remove_all(state_dir: str | os.PathLike) -> None:
    """`pulumi destroy`: no secret file is left behind."""
    shutil.rmtree(secrets_dir(state_dir), ignore_errors=True)
