"""tools/loadtest.py: argument errors, percentiles, and a real run with its table and chart;
tools/bench_local.py: argument errors and its distribution figures."""
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
from tools.bench_local import distribution, local_spec  # noqa: E402


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
                          "--path", "/users/1", "--path", "/nowhere", "--out", str(out), "--max-error-rate", "60"])
    assert code == 0  # 50 % errors by design (/nowhere), within the budget given
    table = capsys.readouterr().out
    assert f"load test http://127.0.0.1:{port}/users: 200 requests, concurrency 4" in table
    assert "errors 100 (50.00 %)" in table  # /nowhere answers 404: counted as an error
    assert "status: 200: 100, 404: 100" in table
    assert "users-api-1" in table
    summary = json.loads((out / "loadtest.json").read_text())
    assert summary["instances"]["users-api-1"]["requests"] == 200 and summary["error_rate"] == 0.5
    assert summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    assert (out / "loadtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unreachable_url_is_all_errors_and_fails_by_default(tmp_path, capsys):
    port = 1
    code = loadtest.main(["--url", f"http://127.0.0.1:{port}/", "--requests", "5", "--no-chart",
                          "--out", str(tmp_path)])
    assert code == 1
    out = capsys.readouterr()
    assert "errors 5 (100.00 %)" in out.out and "ConnectionRefusedError: 5" in out.out
    assert out.err == "error rate 100.00 % is above --max-error-rate 1.0\n"
    # ... unless the budget says so.
    assert loadtest.main(["--url", f"http://127.0.0.1:{port}/", "--requests", "2", "--no-chart",
                          "--max-error-rate", "100", "--out", str(tmp_path)]) == 0


def test_an_unwritable_out_dir_is_a_message_not_a_traceback(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code = loadtest.main(["--url", "http://127.0.0.1:1/", "--requests", "1", "--no-chart",
                          "--out", str(tmp_path / "file" / "out")])
    assert code == 2
    assert capsys.readouterr().err == f"loadtest: --out {tmp_path / 'file' / 'out'}: cannot write the results: " \
                                      "Not a directory\n"


@pytest.mark.parametrize("args,message", [
    (["--stack", "nope"], "bench_local: error: --stack nope: no stack file stacks/Pulumi.nope.yaml; stacks: "),
    (["--stack", "aws-dev"], "bench_local: error: --stack aws-dev: target is 'aws'; the benchmark runs a stack "
                             "whose target is local (e.g. local-dev)"),
    (["--requests", "0"], "bench_local: error: --requests must be 1..100000 and --concurrency 1..256"),
])
def test_bench_local_bad_arguments_exit_2_with_a_message_and_no_traceback(args, message):
    result = subprocess.run([sys.executable, "-m", "tools.bench_local", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def sample(instance, gateway, status=200):
    return loadtest.Sample(0.0, 0.001, status, instance, gateway, "/")


def test_bench_distribution_counts_each_instance_against_an_even_share_of_its_tier(tmp_path):
    topology = plan_topology(local_spec("local-dev", tmp_path / "state", base_port=20000), tmp_path / "state")
    samples = ([sample("users-api-1", "gateway-1")] * 5 + [sample("users-api-2", "gateway-2")] * 3
               + [sample("payments-api-1", "gateway-1")] * 2 + [sample("users-api-3", "gateway-2", status=502)] * 4)
    report = loadtest.LoadReport("http://x", len(samples), 1, 1.0, samples)
    rows = {(r["tier"], r["instance"]): (r["requests"], r["share"], round(r["deviation"], 4))
            for r in distribution(topology, report)}
    assert rows == {
        ("gateway", "gateway-1"): (7, 5.0, 0.4), ("gateway", "gateway-2"): (3, 5.0, -0.4),
        ("locations-api", "locations-api-1"): (0, 0.0, 0.0), ("locations-api", "locations-api-2"): (0, 0.0, 0.0),
        ("payments-api", "payments-api-1"): (2, 1.0, 1.0), ("payments-api", "payments-api-2"): (0, 1.0, -1.0),
        ("users-api", "users-api-1"): (5, 8 / 3, 0.875), ("users-api", "users-api-2"): (3, 8 / 3, 0.125),
        ("users-api", "users-api-3"): (0, 8 / 3, -1.0)}
