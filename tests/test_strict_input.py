"""Stack files: nothing silently changed, ignored or accepted that the platform cannot honour."""
from __future__ import annotations

import copy
import pathlib
import subprocess
import sys

import pytest

from components import stackfile
from components.aws.options import AUTONAME_LIMITS, AUTONAME_SUFFIX, autonamed_resources
from components.spec import SpecError, parse_spec
from tools.offline import project_keys, run_program, stack_config

REPO = pathlib.Path(__file__).resolve().parents[1]


def problems(raw) -> list[str]:
    try:
        parse_spec(raw)
    except SpecError as err:
        return [str(p) for p in err.problems]
    return []


def raw_of(stack: str) -> dict:
    return project_keys(stack_config(stack))


def plan_cli(tmp_path: pathlib.Path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "Pulumi.try.yaml"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "tools.plan", "try", "--stack-file", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


KUBERNETES_DEV = (REPO / "stacks" / "Pulumi.kubernetes-dev.yaml").read_text()


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    text = KUBERNETES_DEV.replace("  apigw:phase: dev\n", "  apigw:phase: prod\n  apigw:phase: dev\n", 1)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines, 1) if line == "  apigw:phase: prod")
    result = plan_cli(tmp_path, text)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (f"  apigw:phase: found 'lines {first} and {first + 1}'; allowed: each key once per mapping "
            "(the Pulumi CLI would silently keep the last value)") in result.stderr.splitlines()


def test_values_yaml_converts_are_refused_with_how_to_quote_them(tmp_path):
    text = KUBERNETES_DEV.replace('        WHOAMI_PORT_NUMBER: "8080"', "        WHOAMI_PORT_NUMBER: 8080\n"
                                  "        UMASK: 0022\n        VERBOSE: yes\n        SINCE: 2024-01-01", 1)
    assert text != KUBERNETES_DEV
    result = plan_cli(tmp_path, text)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    found = [line.strip() for line in result.stderr.splitlines() if "environment" in line]
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "UMASK" in row)
    assert found == [
        f"apigw:services.users-api.environment.WHOAMI_PORT_NUMBER: found 8080; allowed: a string: YAML reads 8080 "
        f'(line {line - 1}) as the number 8080; quote it: "8080"',
        f"apigw:services.users-api.environment.UMASK: found 18; allowed: a string: YAML reads 0022 (line {line}) "
        'as the number 18; quote it: "0022"',
        f"apigw:services.users-api.environment.VERBOSE: found True; allowed: a string: YAML reads yes "
        f'(line {line + 1}) as the boolean True; quote it: "yes"',
        f"apigw:services.users-api.environment.SINCE: found datetime.date(2024, 1, 1); allowed: a string: YAML "
        f'reads 2024-01-01 (line {line + 2}) as a date: datetime.date(2024, 1, 1); quote it: "2024-01-01"']


def test_secrets_are_checked_by_shape_and_never_reported_as_scalars():
    parsed = stackfile.load("config:\n  apigw:token:\n    secure: AAABAQ==\n  apigw:bad:\n    secure: x\n    y: 1\n",
                            "apigw")
    assert parsed.scalars == {"bad.y": stackfile.Scalar("1", 6)}
    assert [str(p) for p in parsed.problems] == [
        "bad: found 'line 5'; allowed: a secret as `secure: <ciphertext>` alone in its mapping "
        "(pulumi config set --secret)"]


@pytest.mark.parametrize("change, expected", [
    (lambda raw: raw.update(labels={"cost center": "a"}),
     "labels.cost center: found 'cost center'; allowed: a Kubernetes label key"),
    (lambda raw: raw.update(labels={"team": "platform engineering"}),
     "labels.team: found 'platform engineering'; allowed: a Kubernetes label value"),
    (lambda raw: raw.update(labels={"app": "shop"}),
     "labels.app: found 'shop'; allowed: a key the platform does not set itself"),
    (lambda raw: raw["services"].update(gateway=dict(raw["services"]["users-api"], path_prefix="/gw")),
     "services.gateway: found 'gateway'; allowed: a name other than 'gateway': the gateway fleet's own name"),
    (lambda raw: raw["services"].update({"users-api-endpoints": dict(raw["services"]["users-api"], path_prefix="/e")}),
     "services.users-api-endpoints: found 'users-api-endpoints'; allowed: a name other than the headless Service of "
     "users-api"),
    (lambda raw: raw["services"].update({"s" * 54: dict(raw["services"]["users-api"], path_prefix="/e")}),
     f"services.{'s' * 54}: found '{'s' * 54}'; allowed: at most 53 characters: its headless Service"),
    (lambda raw: raw["services"].update(services=dict(raw["services"]["users-api"], path_prefix="/s")),
     "services.services: found 'services'; allowed: a name the workloads do not use themselves: the "
     "NetworkPolicy allow-gateway-to-services"),
])
def test_names_and_labels_kubernetes_refuses(change, expected):
    raw = raw_of("kubernetes-dev")
    change(raw)
    found = problems(raw)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_aws_tags_follow_aws_rules():
    raw = raw_of("aws-dev")
    raw["labels"] = {"aws:owner": "me", "team": "a|b"}
    assert problems(raw) == [
        "labels.aws:owner: found 'aws:owner'; allowed: an AWS tag key: 1-128 letters, digits, spaces and "
        "_ . : / = + - @, not starting with aws:",
        "labels.team: found 'a|b'; allowed: an AWS tag value: at most 256 letters, digits, spaces and "
        "_ . : / = + - @"]


def test_prod_without_monitoring_is_refused_saying_what_it_loses():
    raw = raw_of("kubernetes-prod")
    raw["monitoring"] = {"enabled": False}
    assert problems(raw) == ["monitoring.enabled: found False; allowed: true in prod: without it prod has no "
                             "dashboards and no alerts (unavailable instances, error rate, latency)"]


@pytest.mark.parametrize("raw_target, expected", [
    (None, "target: found None; allowed: one of aws, azure, docker, gcp, kubernetes, local (required)"),
    ("openstack", "target: found 'openstack'; allowed: one of aws, azure, docker, gcp, kubernetes, local"),
])
def test_a_missing_or_unknown_target_is_the_one_problem_reported(raw_target, expected):
    raw = raw_of("kubernetes-dev")
    raw.pop("target")
    raw.pop("kubernetes")
    if raw_target:
        raw["target"] = raw_target
        raw[raw_target] = {"project": "my-project"}  # a block named after the unknown target: not a second problem
    raw["load_balancer"] = {"algorithm": "least_outstanding_requests"}
    assert problems(raw) == [expected]


def test_generated_aws_names_are_the_ones_the_builder_makes_and_fit():
    plan = run_program("aws-prod")
    built = sorted((r.type, r.name) for r in plan.resources if r.type in AUTONAME_LIMITS)
    programs = ["gateway", "locations-api", "payments-api", "users-api"]
    assert built == sorted(autonamed_resources("apigw", programs, creates_log_bucket=True, creates_flow_logs=True))
    assert all(len(name) + AUTONAME_SUFFIX <= AUTONAME_LIMITS[token] for token, name in built)


def test_a_service_name_too_long_for_its_iam_role_is_refused():
    raw = raw_of("aws-dev")
    raw["aws"] = {k: v for k, v in raw["aws"].items() if k not in ("container_health_checks", "container_users")}
    longest = "s" * (64 - AUTONAME_SUFFIX - len("apigw--task"))
    raw["services"] = {longest: dict(raw["services"]["users-api"], path_prefix="/a")}
    assert problems(raw) == []
    raw["services"] = {longest + "x": dict(raw["services"][longest], path_prefix="/a")}
    assert problems(raw) == [
        f"services.{longest}x: found '{longest}x'; allowed: a shorter name: Role 'apigw-{longest}x-task' plus "
        f"Pulumi's 8-character suffix exceeds AWS's 64"]


def test_a_mesh_on_the_aws_target_is_refused_not_dropped():
    raw = raw_of("aws-dev")
    raw["mesh"] = "istio"
    assert problems(raw) == ["mesh: found 'istio'; allowed: nothing on the aws target, which does not honour it: "
                             "ECS Service Connect connects the services; Istio and Linkerd run on the "
                             "Kubernetes-based targets"]


def test_the_manifest_writer_refuses_two_objects_with_one_name(tmp_path):
    from tools.plan import write_manifests
    plan = run_program("kubernetes-dev")
    deployment = next(r for r in plan.resources if r.type == "kubernetes:apps/v1:Deployment")
    twin = copy.deepcopy(deployment)
    twin.name = "apigw-twin-deployment"
    plan.resources.append(twin)
    with pytest.raises(ValueError, match="apigw-twin-deployment and apigw-.*-deployment are both Deployment "):
        write_manifests(plan, tmp_path)


def test_a_well_formed_secret_plans_as_an_opaque_value(tmp_path):
    text = KUBERNETES_DEV.replace('        WHOAMI_PORT_NUMBER: "8080"',
                                  '        WHOAMI_PORT_NUMBER: "8080"\n        DB_PASSWORD:\n'
                                  '          secure: AAABAGVuY3J5cHRlZA==', 1)
    assert text != KUBERNETES_DEV
    path = tmp_path / "Pulumi.try.yaml"
    path.write_text(text)
    from tools.offline import SECRET_PLACEHOLDER, read_stack
    config, parsed = read_stack("try", path)
    assert parsed.problems == []
    assert config["apigw:services"]["users-api"]["environment"]["DB_PASSWORD"] == SECRET_PLACEHOLDER
    result = plan_cli(tmp_path, text)
    assert result.returncode == 0, result.stderr
    assert "AAABAGVuY3J5cHRlZA==" not in result.stdout + result.stderr


def test_under_pulumi_up_the_program_rereads_its_own_stack_file(tmp_path, monkeypatch):
    """The CLI would hand the program only `phase: dev` (the last duplicate): the program itself
    re-reads stacks/Pulumi.<stack>.yaml and refuses it, registering nothing."""
    from pulumi import RunError

    import infra.program
    text = KUBERNETES_DEV.replace("  apigw:phase: dev\n", "  apigw:phase: prod\n  apigw:phase: dev\n", 1)
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.kubernetes-dev.yaml").write_text(text)
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    monkeypatch.setattr(infra.program, "PROJECT_DIR", tmp_path)
    with pytest.raises(RunError, match="1 problem"):
        run_program("kubernetes-dev")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_yaml_infinity_and_nan_are_refused_as_integers_not_a_traceback(value):
    raw = raw_of("kubernetes-dev")
    raw["load_balancer"]["health_check"]["interval_s"] = value
    assert problems(raw) == [f"load_balancer.health_check.interval_s: found {value!r}; "
                             "allowed: an integer from 1 to 300"]
