"""Rendered manifests validate against the Kubernetes schemas; `make plan` output and errors."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

from tools.offline import REPO
from tools.plan import manifest, write_manifests

KUBERNETES_STACKS = ("kubernetes-dev", "kubernetes-staging", "kubernetes-prod")
# Custom resources whose schemas come with their operators, not with Kubernetes.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "PrometheusRule"), ("networking.istio.io/v1", "DestinationRule"),
                ("networking.istio.io/v1", "VirtualService"), ("security.istio.io/v1", "PeerAuthentication"),
                ("gateway.networking.k8s.io/v1", "HTTPRoute"), ("monitoring.coreos.com/v1", "PodMonitor")}
"""Checked against their CRDs by tools/crds.py (tests/test_mesh.py), or skipped there with the reason."""


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_every_manifest_validates_strictly(plan_of, stack, tmp_path):
    written = write_manifests(plan_of(stack), tmp_path)
    assert len(written) >= 14
    checked = 0
    for path in written:
        body = yaml.safe_load(path.read_text())
        if (body["apiVersion"], body["kind"]) in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(body, kubernetes_validate.latest_version(), strict=True)
        checked += 1
    assert checked >= 14


def test_manifest_numbers_are_integers(plan_of):
    plan = plan_of("kubernetes-prod")
    body = manifest(plan.one("kubernetes:apps/v1:Deployment", "apigw-gateway-deployment"))
    assert body["spec"]["replicas"] == 3 and isinstance(body["spec"]["replicas"], int)
    assert body["apiVersion"] == "apps/v1" and body["kind"] == "Deployment"


def test_strict_validation_can_fail():
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": 1, "selector": {}, "template": {}, "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, kubernetes_validate.latest_version(), strict=True)


def run_plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.plan", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_plan_prints_tree_and_counts():
    result = run_plan("kubernetes-prod")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "stack apigw/kubernetes-prod (offline plan under mocks: nothing is created)" in out
    assert "    = apigw:kubernetes:Workloads  apigw\n" in out
    assert "        = apigw:kubernetes:GatewayFleet  apigw-gateway\n" in out
    assert "            + kubernetes:apps/v1:Deployment  apigw-gateway-deployment\n" in out
    assert "     4  kubernetes:apps/v1:Deployment\n" in out
    assert "     9  kubernetes:networking.k8s.io/v1:NetworkPolicy\n" in out


def test_plan_writes_manifests(tmp_path):
    result = run_plan("kubernetes-dev", "--manifests", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "deployment-apigw-dev-users-api.yaml").exists()
    assert f"Kubernetes manifests to {tmp_path}" in result.stdout


def bad_stack_file(tmp_path: pathlib.Path, **changes) -> pathlib.Path:
    config = yaml.safe_load((REPO / "stacks" / "Pulumi.kubernetes-dev.yaml").read_text())
    config["config"].update(changes)
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_plan_on_bad_stack_prints_one_line_per_problem(tmp_path):
    services = yaml.safe_load((REPO / "stacks" / "Pulumi.kubernetes-dev.yaml").read_text())["config"][
        "apigw:services"]
    services["users-api"]["instances"] = {"min": 3, "max": 1}
    path = bad_stack_file(tmp_path, **{"apigw:phase": "qa", "apigw:services": services})
    result = run_plan("bad", "--stack-file", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"stack bad: 2 problem(s) in {path}; nothing was planned:"
    assert lines[1:] == ["  apigw:phase: found 'qa'; allowed: one of dev, staging, prod",
                         "  apigw:services.users-api.instances: found {'min': 3, 'max': 1}; allowed: min <= max"]
    assert result.stdout == ""


def test_plan_on_unknown_stack_names_the_stacks():
    result = run_plan("nope")
    assert result.returncode == 2
    assert "no stack file stacks/Pulumi.nope.yaml; stacks: " in result.stderr
    assert "kubernetes-prod" in result.stderr and "Traceback" not in result.stderr


def test_plan_on_a_target_outside_the_registry_names_the_registered_ones(tmp_path):
    config = yaml.safe_load((REPO / "stacks" / "Pulumi.kubernetes-dev.yaml").read_text())
    config["config"]["apigw:target"] = "openstack"
    del config["config"]["apigw:kubernetes"]
    path = tmp_path / "Pulumi.openstack-dev.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_plan("openstack-dev", "--stack-file", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    found = "  apigw:target: found 'openstack'; allowed: one of aws, azure, docker, gcp, kubernetes, local"
    assert f"{found} (required)" not in result.stderr
    assert found in result.stderr.splitlines()


@pytest.mark.parametrize("stack, custom, policies, services", [
    # staging: the PrometheusRule and the gateway exporter's PodMonitor; 3 ClusterIP, 3 headless and the
    # gateway's Services; 8 policies (the 7 of the topology, and Prometheus scraping the metrics ports).
    ("kubernetes-staging", 2, 8, 7),
    # prod runs Istio: 3 DestinationRules, 3 VirtualServices, 2 PeerAuthentications and the sidecars' PodMonitor
    # besides; no headless Services (the mesh balances); one more policy (the sidecars to istiod).
    ("kubernetes-prod", 11, 9, 4)])
def test_kubernetes_validate_cli_strict_on_the_staging_and_prod_manifests(plan_of, tmp_path, stack, custom, policies,
                                                                           services):
    """The same check a reviewer runs by hand: `kubernetes-validate --strict DIR/*.yaml`."""
    written = write_manifests(plan_of(stack), tmp_path)
    builtin = [str(p) for p in written
               if tuple(yaml.safe_load(p.read_text())[k] for k in ("apiVersion", "kind")) not in CUSTOM_KINDS]
    cli = pathlib.Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run([str(cli), "--strict", "--quiet", *builtin], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(builtin) == len(written) - custom
    kinds = [yaml.safe_load(pathlib.Path(p).read_text())["kind"] for p in builtin]
    assert kinds.count("NetworkPolicy") == policies and kinds.count("Service") == services


@pytest.mark.parametrize("text", ["- not\n- a mapping\n", "config: [1, 2]\n", "config: {a: [\n"])
def test_plan_on_a_malformed_stack_file_exits_cleanly(tmp_path, text):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(text)
    result = run_plan("bad", "--stack-file", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: Pulumi.bad.yaml: ")


def test_the_plan_warns_about_the_shipped_placeholders_naming_each_key():
    result = run_plan("aws-prod")
    assert result.returncode == 0, result.stderr
    assert ("warning: apigw:load_balancer.tls_certificate looks like a placeholder (AWS's documentation account: "
            "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000); REPLACE it before "
            "`make up`") in result.stdout
    assert "warning: apigw:monitoring.alarm_topic looks like a placeholder" in result.stdout
    assert "placeholder" not in run_plan("kubernetes-dev").stdout
