"""tools/loadtest.py: argument errors, percentiles, and a real run with its table and chart."""
import json
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)) if str(REPO) not in sys.path else None

from components.local import processes  # noqa: E402
from components.local.topology import plan_topology  # noqa: E402
from tools import loadtest  # noqa: E402
from tools.bench_local import local_spec  # noqa: E402


@pytest.mark.parametrize("args,message", [
    ([], "the following arguments are required: --url"),
    (["--url", "ftp://127.0.0.1/"], "'ftp://127.0.0.1/' is not an http:// or https:// URL with a host"),
    (["--url", "http://127.0.0.1:99999/"], "the port is not a number from 1 to 65535"),
    (["--url", "http://127.0.0.1/", "--requests", "0"], "argument --requests: 0 is not from 1 to 1000000"),
    (["--url", "http://127.0.0.1/", "--concurrency", "many"], "argument --concurrency: 'many' is not a whole number"),
    (["--url", "http://127.0.0.1/", "--path", "users"], "'users' is not a path starting with '/'"),
])
def test_bad_arguments_exit_2_with_a_message_and_no_traceback(args, message):
    result = subprocess.run([sys.executable, "-m", "tools.loadtest", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert [loadtest.percentile(values, q) for q in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]
    assert loadtest.percentile([], 50) == 0.0 and loadtest.percentile([3.0], 99) == 3.0


@pytest.fixture
def backend(tmp_path):
    topology = plan_topology(local_spec("local-dev", tmp_path / "state"), tmp_path / "state")
    plan = topology.get("svc-users-api-1")
    processes.start(plan)
    yield plan
    processes.stop_plan(plan)


def test_a_run_reports_distribution_latency_and_errors(backend, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    port = backend.ports[0]
    code = loadtest.main(["--url", f"http://127.0.0.1:{port}/users", "--requests", "200", "--concurrency", "4",
                          "--path", "/users/1", "--path", "/nowhere", "--out", str(out)])
    assert code == 0
    table = capsys.readouterr().out
    assert f"load test http://127.0.0.1:{port}/users: 200 requests, concurrency 4" in table
    assert "errors 100 (50.00 %)" in table  # /nowhere answers 404: counted as an error
    assert "status: 200: 100, 404: 100" in table
    assert "users-api-1" in table
    summary = json.loads((out / "loadtest.json").read_text())
    assert summary["instances"]["users-api-1"]["requests"] == 200 and summary["error_rate"] == 0.5
    assert summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    assert (out / "loadtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unreachable_url_is_all_errors_and_fails_the_error_budget(tmp_path, capsys):
    port = 1
    code = loadtest.main(["--url", f"http://127.0.0.1:{port}/", "--requests", "5", "--no-chart",
                          "--max-error-rate", "1", "--out", str(tmp_path)])
    assert code == 1
    out = capsys.readouterr()
    assert "errors 5 (100.00 %)" in out.out and "ConnectionRefusedError: 5" in out.out
    assert "is above --max-error-rate 1" in out.err
