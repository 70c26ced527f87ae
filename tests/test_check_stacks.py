"""The offline policy check on the shipped stacks, their single-host variants and the CLI."""
from __future__ import annotations

import copy
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from policies.rules import RULES
from tools.check import PolicyPackProcess, check_stack, main
from tools.offline import STACKS_DIR, stack_config, stack_names

REPO = pathlib.Path(__file__).resolve().parents[1]
PROD_STACKS = [s for s in stack_names()
               if (yaml.safe_load((STACKS_DIR / f"Pulumi.{s}.yaml").read_text()) or {}).get("config", {})
               .get("apigw:phase") == "prod"]


def single_host(config: dict) -> dict:
    """Every `instances: {min: N}` set to 1 (max stays >= min)."""
    config = copy.deepcopy(config)
    blocks = [config.get("apigw:gateway") or {}, *(config.get("apigw:services") or {}).values()]
    for block in blocks:
        block.setdefault("instances", {})["min"] = 1
    config.setdefault("apigw:gateway", blocks[0])
    return config


@pytest.mark.parametrize("stack", stack_names())
def test_every_shipped_stack_passes(stack):
    report = check_stack(stack, stack_config(stack))
    assert not report.problems and report.mandatory == 0, [v.message for v in report.violations if v.mandatory]
    assert report.resources > 0 and report.policies == 18
    if stack_config(stack).get("apigw:phase") != "prod":
        assert {v.level for v in report.violations} <= {"advisory"}


@pytest.mark.parametrize("stack", PROD_STACKS)
def test_single_host_variant_of_each_prod_stack_fails(stack):
    report = check_stack(f"{stack}-single-host", single_host(stack_config(stack)))
    if stack_config(stack).get("apigw:target") == "aws":
        # aws asks for one task per zone in prod: its spec refuses the copy before the pack sees it (the pack's own
        # floor on aws: tests/test_aws_policy.py).
        assert report.failed and report.resources == 0
        assert any("gateway.instances.min" in line and "one task in each of the" in line for line in report.problems)
        return
    mandatory = {(v.policy, v.resource): v.message for v in report.violations if v.mandatory}
    assert report.failed and not report.problems
    rules = {policy for policy, _ in mandatory}
    assert {"prod-min-instances", "prod-load-balanced-gateway"} <= rules
    gateway = [m for (p, r), m in mandatory.items() if p == "prod-min-instances" and "gateway" in r]
    assert gateway and all("is 1; prod needs at least 3 for the gateway fleet" in m for m in gateway)
    services = [m for (p, r), m in mandatory.items() if p == "prod-min-instances" and "users-api" in r]
    assert services and all("is 1; prod needs at least 2" in m for m in services)
    if stack_config(stack).get("apigw:target") == "kubernetes":
        # One instance gets no PodDisruptionBudget: every workload is reported.
        budgets = {r for p, r in mandatory if p == "prod-disruption-budget"}
        assert budgets == {f"apigw-{app}-deployment" for app in ("gateway", "users-api", "locations-api",
                                                                  "payments-api")}


def test_one_zone_aws_prod_is_refused_before_anything_runs():
    if "aws-prod" not in stack_names():
        pytest.skip("no aws-prod stack yet")
    config = copy.deepcopy(stack_config("aws-prod"))
    config["apigw:aws"]["task_zones"] = "one"
    report = check_stack("aws-prod-one-zone", config)
    assert report.failed and report.resources == 0
    assert any("aws.task_zones" in line for line in report.problems)


def test_pack_process_is_stopped():
    pack = PolicyPackProcess({"apigw:phase": "prod"}, "apigw", "t").connect()
    process = pack.process
    assert process.poll() is None and len(pack.info.policies) == len(RULES)
    pack.close()
    assert process.poll() is not None


def _cli(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.check", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=180, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_cli_on_a_single_host_copy_of_the_prod_stack(tmp_path):
    raw = yaml.safe_load((STACKS_DIR / "Pulumi.kubernetes-prod.yaml").read_text())
    for block in [raw["config"]["apigw:gateway"], *raw["config"]["apigw:services"].values()]:
        block["instances"]["min"] = 1
    copy_file = tmp_path / "Pulumi.kubernetes-prod-copy.yaml"
    copy_file.write_text(yaml.safe_dump(raw))
    result = _cli("--stack-file", str(copy_file))
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "apigw-users-api-hpa (kubernetes:autoscaling/v2:HorizontalPodAutoscaler)\n" \
           "  mandatory  prod-min-instances: spec.minReplicas is 1; prod needs at least 2\n" in out
    assert "mandatory  prod-load-balanced-gateway: routes to apigw-gateway-deployment" in out
    assert "kubernetes-prod-copy: FAIL: 13 mandatory, 5 advisory violation(s); 41 resources (offline under mocks), " \
           f"{len(RULES)} policies of apigw-policies 0.1.0" in out
    assert "Traceback" not in result.stderr


def test_cli_reports_an_invalid_stack_file_as_failed(tmp_path):
    raw = yaml.safe_load((STACKS_DIR / "Pulumi.kubernetes-prod.yaml").read_text())
    raw["config"]["apigw:gateway"]["instances"] = {"min": 0, "max": 2}
    bad = tmp_path / "Pulumi.broken.yaml"
    bad.write_text(yaml.safe_dump(raw))
    result = _cli("--stack-file", str(bad))
    assert result.returncode == 1
    assert "problem(s) in" in result.stdout and "apigw:gateway.instances.min: found 0" in result.stdout
    assert "broken: FAILED (could not be checked)" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["no-such-stack"], "error: unknown stack no-such-stack; stacks: "),
    (["--stack-config", "kubernetes-prod"], "error: --stack-config goes with --resources-json"),
    (["--resources-json", "missing.json"], "error: cannot read missing.json"),
    (["--stack-file", "nowhere/Pulumi.x.yaml"], "error: no stack file"),
    (["--stack-file", "stacks"], "error: cannot read stack file stacks: Is a directory"),
    (["--resources-json", "tests/fixtures/kubernetes-prod-single-gateway.export.json", "--stack-config", "stacks"],
     "error: cannot read stack file stacks: Is a directory"),
    (["kubernetes-prod", "--policy-pack-config", "/dev/null"], "error: policy pack config /dev/null"),
])
def test_bad_arguments_exit_2_without_a_traceback(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err


@pytest.mark.parametrize("config, message", [
    ({"prod-min-instances": 3}, "policy pack config prod-min-instances: found 3; expected an enforcement level"),
    ({"prod-min-instances": {"minInstances": "three"}},
     'policy pack config prod-min-instances.minInstances: found "three"; expected an integer'),
    ({"prod-min-instances": {"minInstances": 0}}, "prod-min-instances.minInstances: found 0; expected at least 1"),
    ({"prod-min-instances": {"minInstance": 3}},
     "prod-min-instances.minInstance: unknown setting; prod-min-instances takes enforcementLevel, "
     "minGatewayInstances, minInstances"),
    ({"all": {"enforcementLevel": "advisory", "minInstances": 3}}, "all.minInstances: unknown setting"),
])
def test_a_pack_config_the_cli_would_refuse_exits_2(tmp_path, capsys, config, message):
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(config))
    assert main(["kubernetes-prod", "--policy-pack-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unknown_policy_in_pack_config_is_refused(tmp_path, capsys):
    config = tmp_path / "pack.json"
    config.write_text('{"prod-min-instance": "advisory"}')
    assert main(["kubernetes-prod", "--policy-pack-config", str(config)]) == 2
    assert "names unknown policies prod-min-instance" in capsys.readouterr().err


def test_a_pack_that_cannot_start_is_reported_with_its_error(tmp_path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("raise SystemExit('broken pack: no rules')\n")
    from tools.check import PackError
    with pytest.raises(PackError, match=r"did not start \(exit 1\)[\s\S]*broken pack: no rules"):
        with PolicyPackProcess({"apigw:phase": "prod"}, "apigw", "t", pack_dir=tmp_path) as pack:
            pack.connect()


def test_local_haproxy_counts_as_the_load_balancer_in_front_of_the_gateways():
    config = stack_config("local-dev")
    assert not [v for v in check_stack("local-dev", config).violations
                if v.policy == "prod-load-balanced-gateway"]
    one_gateway = copy.deepcopy(config)
    one_gateway["apigw:gateway"]["instances"] = {"min": 1}
    found = [v.message for v in check_stack("local-dev", one_gateway).violations
             if v.policy == "prod-load-balanced-gateway"]
    assert len(found) == 1 and "which runs 1 instance(s) at its minimum (1 gateway processes)" in found[0]


# --- `make check STACK=<copy>` end to end ------------------------------------------------------

def _repo_copy(dest: pathlib.Path) -> pathlib.Path:
    """The files `make check` uses, copied so a test stack file never lands in the real stacks/."""
    ignore = shutil.ignore_patterns("venv", "__pycache__", "*.pyc", ".state", "build")
    for name in ("Makefile", "Pulumi.yaml", "requirements.txt"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("components", "infra", "policies", "tools", "stacks"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    return dest


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_check_on_a_single_host_copy_in_stacks_fails_naming_rule_resource_and_value(tmp_path):
    """The issue's acceptance check: copy a prod stack file into stacks/, set every `instances: {min: ...}`
    to 1 and run `make check STACK=<copy>`: the Makefile, tools.check and the pack as shipped."""
    repo = _repo_copy(tmp_path)
    text = (repo / "stacks/Pulumi.kubernetes-prod.yaml").read_text()
    copy_text, count = re.subn(r"(instances: \{min: )\d+", r"\g<1>1", text)
    assert count == 4
    (repo / "stacks/Pulumi.kubernetes-prodcopy.yaml").write_text(copy_text)
    venv = REPO / ".venv"
    result = subprocess.run(
        ["make", "--no-print-directory", "check", "STACK=kubernetes-prodcopy", f"VENV={venv}",
         "-o", f"{venv}/.installed"],
        cwd=repo, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0, result.stdout + result.stderr
    out = result.stdout
    assert "== kubernetes-prodcopy (phase prod, target kubernetes)" in out
    assert ("apigw-gateway-hpa (kubernetes:autoscaling/v2:HorizontalPodAutoscaler)\n"
            "  mandatory  prod-min-instances: spec.minReplicas is 1; prod needs at least 3 for the gateway fleet"
            ) in out
    assert ("apigw-users-api-deployment (kubernetes:apps/v1:Deployment)\n"
            "  mandatory  prod-disruption-budget: no PodDisruptionBudget selects its pods (app=users-api)") in out
    assert "kubernetes-prodcopy: FAIL: 13 mandatory" in out and "Traceback" not in result.stderr
    assert not (REPO / "stacks/Pulumi.kubernetes-prodcopy.yaml").exists()


# --- the pack process never outlives the check -------------------------------------------------

def _children_running(pid: int, needle: str) -> list[int]:
    """Live (not zombie) processes whose parent is `pid` and whose command line contains `needle`."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z" and needle in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (pathlib.Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_a_failed_handshake_stops_the_pack_without_a_with_block(tmp_path):
    """connect() outside a `with`: a pack that prints a port nobody listens on, then sleeps."""
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("import sys, time\nsys.stdout.write('1\\n')\nsys.stdout.flush()\n"
                                          "time.sleep(600)\n")
    from tools.check import PackError
    pack = PolicyPackProcess({"apigw:phase": "prod"}, "apigw", "t", pack_dir=tmp_path)
    with pytest.raises(PackError, match="failed to answer GetAnalyzerInfo"):
        pack.connect()
    assert pack.process.poll() is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_the_pack_dies_with_a_killed_check():
    """SIGKILL (a CI timeout) cannot be handled; the kernel's parent-death signal stops the pack."""
    script = (f"import sys, time\nsys.path.insert(0, {str(REPO)!r})\nfrom tools.policy_pack import PolicyPackProcess\n"
              "pack = PolicyPackProcess({'apigw:phase': 'prod'}, 'apigw', 't').connect()\n"
              "print(pack.process.pid, flush=True)\ntime.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pack_pid = int(parent.stdout.readline())
        assert _alive(pack_pid)
        parent.kill()
        parent.wait()
        assert _wait(lambda: not _alive(pack_pid)), f"pack {pack_pid} outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_the_check_and_its_pack():
    cli = subprocess.Popen([sys.executable, "-m", "tools.check", "kubernetes-prod"], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert _wait(lambda: _children_running(cli.pid, "pulumi.policy"), 60), "the pack never started"
        [pack_pid] = _children_running(cli.pid, "pulumi.policy")
        cli.send_signal(signal.SIGTERM)
        cli.communicate(timeout=30)
        assert cli.returncode == 128 + signal.SIGTERM
        assert _wait(lambda: not _alive(pack_pid)), f"pack {pack_pid} outlived the check"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()


def test_the_report_does_not_depend_on_registration_order():
    """The program registers concurrently; the printed report must not change with that order."""
    import io

    from tools.check import print_report

    report = check_stack("kubernetes-prod-single-host", single_host(stack_config("kubernetes-prod")))
    texts = []
    for order in (report.order, list(reversed(report.order))):
        report.order = order
        out = io.StringIO()
        print_report(report, out)
        texts.append(out.getvalue())
    assert texts[0] == texts[1]
    names = [line.split(" (")[0] for line in texts[0].splitlines()[1:] if line and not line.startswith((" ", "kube"))]
    assert names == sorted(names) and names[0] == "apigw-gateway-deployment"


@pytest.mark.parametrize("stack", PROD_STACKS)
def test_a_prod_copy_with_monitoring_off_fails_the_check(stack):
    config = copy.deepcopy(stack_config(stack))
    config["apigw:monitoring"] = {**(config.get("apigw:monitoring") or {}), "enabled": False}
    report = check_stack(f"{stack}-no-monitoring", config)
    assert report.failed
    assert "apigw:monitoring.enabled: found False; allowed: true in prod" in " | ".join(report.problems)
