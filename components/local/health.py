"""Is a process of the local topology healthy: its health URL answers (never through a proxy),
or its ready file names its pid. Also the last lines of a log, for error messages."""
from __future__ import annotations

import http.client
import json
import pathlib
import urllib.parse

from components.local.processplan import ProcessPlan, status_matches


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
