"""Log rotation by the supervisor, with the size and count from `apigw:local`, on real processes:
nginx's own logs are renamed and reopened (SIGUSR1); a process's output is copied and truncated."""
import http.client
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)) if str(REPO) not in sys.path else None

from components.local import logrotate, processes  # noqa: E402
from components.local.status import supervisor_status  # noqa: E402
from components.local.topology import plan_topology  # noqa: E402
from tools.bench_support import _wait, local_spec  # noqa: E402

MIB = 1024 * 1024
LONG = "/users/" + "x" * 4000  # about 4 KB per log line: 1 MiB in about 250 requests


def test_copytruncate_keeps_a_running_writer_appending_from_the_start(tmp_path):
    log = tmp_path / "out.log"
    with open(log, "ab") as out:  # as processes.start opens every process's output
        writer = subprocess.Popen(["sh", "-c", "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.002; done"],
                                  stdout=out)
    try:
        _wait(lambda: logrotate.size(log) > 2000, 10, "output")
        assert logrotate.rotate_if_large(log, 1000, keep=2) is True
        _wait(lambda: logrotate.size(log) > 100, 10, "output after the rotation")
    finally:
        writer.kill()
        writer.wait()
    rotated = (tmp_path / "out.log.1").read_text().splitlines()
    now = log.read_bytes()
    assert b"\0" not in now  # O_APPEND: the writer went on at the new end, not at its old offset
    first_after = int(now.decode().splitlines()[0].split()[1])
    assert rotated[0] == "line 1" and first_after > int(rotated[-1].split()[1])  # later lines only
    assert logrotate.rotated_files(log) == [tmp_path / "out.log.1"]


def test_rotation_keeps_at_most_the_configured_count(tmp_path):
    log = tmp_path / "a.log"
    for n in range(5):
        log.write_text(f"generation {n}\n" * 100)
        logrotate.rotate_if_large(log, 10, keep=3)
    assert [p.name for p in logrotate.rotated_files(log)] == ["a.log.1", "a.log.2", "a.log.3"]
    assert [p.read_text().split()[1] for p in logrotate.rotated_files(log)] == ["4", "3", "2"]
    assert logrotate.rotate_if_large(log, 10_000, keep=3) is False  # under the size: nothing


def send(port: int, count: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(count):
            conn.request("GET", LONG)
            conn.getresponse().read()
    finally:
        conn.close()


def test_the_supervisor_rotates_every_log_by_the_configured_size_and_count(tmp_path):
    if shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None and not os.environ.get("CI"):
        pytest.skip("nginx is not installed (apt-get install nginx)")
    state = tmp_path / "state"
    spec = local_spec("local-dev", state, services={"users-api": {
        "path_prefix": "/users", "instances": {"min": 1}, "health_check_path": "/",
        # Python's http.server writes a line per request to its output: logs/svc-users-api-1.log.
        "command": "python3 -m http.server {port} --bind {host}"}})
    spec = spec.__class__(**{**spec.__dict__, "options": spec.options.__class__(
        **{**spec.options.__dict__, "log_max_size_mib": 1, "log_keep_files": 2})})
    topology = plan_topology(spec, state)
    wanted = [topology.get(k) for k in ("supervisor", "svc-users-api-1", "gw-1")]
    gateway, backend = topology.get("gw-1"), topology.get("svc-users-api-1")
    access = pathlib.Path(gateway.own_logs[0])
    try:
        processes.start_all(wanted, state)
        for burst in range(1, 4):  # three rotations, one per burst of a bit more than 1 MiB
            send(gateway.ports[0], 300)
            _wait(lambda b=burst: supervisor_status(state).get("log_rotations", 0) >= 2 * b, 15, f"rotation {burst}")
        assert [p.name for p in logrotate.rotated_files(access)] == ["access.log.1", "access.log.2"]
        assert [p.name for p in logrotate.rotated_files(backend.log_path)] == [
            "svc-users-api-1.log.1", "svc-users-api-1.log.2"]
        assert all(p.stat().st_size > MIB for p in logrotate.rotated_files(access))
        conn = http.client.HTTPConnection("127.0.0.1", gateway.ports[0], timeout=10)
        conn.request("GET", "/users/after-the-rotation")
        conn.getresponse().read()
        conn.close()
        # nginx reopened its log: the newest request is in access.log, nothing went to the rotated file.
        _wait(lambda: "/users/after-the-rotation" in access.read_text(), 5, "the request logged")
        assert json.loads(access.read_text().splitlines()[-1])["request"] == "GET /users/after-the-rotation HTTP/1.1"
        assert "after-the-rotation" in pathlib.Path(backend.log_path).read_text()
        assert logrotate.size(access) < MIB and logrotate.size(backend.log_path) < MIB
    finally:
        processes.stop_all(wanted)
