"""Secret service settings (issue 18): kept secret end to end, stored in the target's store and read by
reference; the policy pack refuses credentials and secrets in plain environment variables.

A secret's value offline is "[secret]" (what the offline tools hand the program for a `secure:` value);
every test below checks that this value appears in captured inputs only inside Pulumi's secret marker."""
from __future__ import annotations

import json

import pytest

from components.spec import SecretSetting, parse_spec
from components.stackfile import load
from components.validation import SpecError
from tests.conftest import variant_config
from tools import check
from tools.offline import SECRET_PLACEHOLDER, SECRET_SIG, SECRET_SIG_KEY, project_keys, run_program
from tools.plan import write_manifests
from tools.policy_pack import Resource

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")
STRIPE_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/stripe:api_key::"
REFS = {"kubernetes-prod": "payments-stripe/api-key", "aws-prod": STRIPE_ARN}


def with_secrets(stack: str, ref: str | None = None):
    def change(config):
        env = config["apigw:services"]["payments-api"].setdefault("environment", {})
        env["DB_PASSWORD"] = SECRET_PLACEHOLDER
        env["STRIPE_KEY"] = {"secret_ref": ref or REFS[stack]}
    return variant_config(stack, change)


def plain_occurrences(value, needle: str, path: str = "") -> list[str]:
    """Paths where `needle` appears outside a secret marker."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
            return []
        return [p for k, v in value.items() for p in plain_occurrences(v, needle, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in plain_occurrences(v, needle, f"{path}[{i}]")]
    return [path] if isinstance(value, str) and needle in value else []


def secret_value(value):
    assert isinstance(value, dict) and value[SECRET_SIG_KEY] == SECRET_SIG, value
    return value["value"]


# --- the spec ------------------------------------------------------------------------------

def test_a_secure_value_and_a_reference_become_secret_settings_and_leave_the_plain_environment():
    text = (
        "config:\n  apigw:target: kubernetes\n  apigw:phase: dev\n"
        "  apigw:services:\n    users-api:\n      image: a/b:1\n"
        "      environment:\n        LOG_LEVEL: info\n"
        "        DB_PASSWORD:\n          secure: AAABAGVuY3J5cHRlZA==\n"
        "        STRIPE_KEY:\n          secret_ref: payments-stripe/api-key\n")
    parsed = load(text, "apigw")
    assert parsed.secrets == {"services.users-api.environment.DB_PASSWORD"}
    # Under the CLI the program gets the decrypted value; the stack file says it was `secure:`.
    raw = {"target": "kubernetes", "phase": "dev", "services": {"users-api": {"image": "a/b:1", "environment": {
        "LOG_LEVEL": "info", "DB_PASSWORD": "hunter2", "STRIPE_KEY": {"secret_ref": "payments-stripe/api-key"}}}}}
    service = parse_spec(raw, "apigw", parsed).services[0]
    assert service.environment == {"LOG_LEVEL": "info"}
    assert service.secrets == {"DB_PASSWORD": SecretSetting(value="hunter2"),
                               "STRIPE_KEY": SecretSetting(ref="payments-stripe/api-key")}
    assert "hunter2" not in repr(service)


@pytest.mark.parametrize("value, found", [
    ({"secret_ref": ""}, "{'secret_ref': ''}"),
    ({"secret_ref": "a/b", "other": 1}, "{'secret_ref': 'a/b', 'other': 1}"),
])
def test_a_malformed_secret_entry_is_refused_naming_its_key(value, found):
    raw = {"target": "kubernetes", "phase": "dev",
           "services": {"users-api": {"image": "a/b:1", "environment": {"TOKEN": value}}}}
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert [str(p) for p in err.value.problems] == [
        f"services.users-api.environment.TOKEN: found {found}; allowed: a string, a secret (pulumi config set "
        "--secret --path '<project>:services.users-api.environment.TOKEN' ...) or {secret_ref: <a secret in the "
        "target's store>}"]


def test_an_environment_name_a_process_cannot_have_is_refused():
    raw = {"target": "kubernetes", "phase": "dev",
           "services": {"users-api": {"image": "a/b:1", "environment": {"1X": "a"}}}}
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert str(err.value) == ("services.users-api.environment.1X: found '1X'; allowed: an environment variable "
                              "name: letters, digits and '_', not starting with a digit")


# --- kubernetes -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kubernetes_plan():
    return run_program("kubernetes-prod", with_secrets("kubernetes-prod"))


def test_kubernetes_keeps_the_value_in_an_immutable_secret_of_the_service(kubernetes_plan):
    secret = kubernetes_plan.one("kubernetes:core/v1:Secret", "apigw-payments-api-secrets").inputs
    assert (secret["type"], secret["immutable"]) == ("Opaque", True)
    assert "name" not in secret["metadata"]  # autonamed: a changed value is a new Secret, and the pods roll
    assert secret["metadata"]["labels"]["app"] == "payments-api"
    assert secret_value(secret["stringData"]) == {"DB_PASSWORD": SECRET_PLACEHOLDER}


def test_kubernetes_containers_read_secrets_by_reference_only(kubernetes_plan):
    deployment = kubernetes_plan.one("kubernetes:apps/v1:Deployment", "apigw-payments-api-deployment")
    env = deployment.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "WHOAMI_PORT_NUMBER", "value": "8080"},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "apigw-payments-api-secrets-405652a2",
                                                               "key": "DB_PASSWORD"}}},
        {"name": "STRIPE_KEY", "valueFrom": {"secretKeyRef": {"name": "payments-stripe", "key": "api-key"}}}]
    # Only payments-api has secrets: the other services get none.
    assert [s.name for s in kubernetes_plan.by_type("kubernetes:core/v1:Secret")
            if s.name.endswith("-secrets")] == ["apigw-payments-api-secrets"]


@pytest.mark.parametrize("stack", ["kubernetes-prod", "aws-prod"])
def test_the_value_never_appears_outside_the_secret_marker(stack, kubernetes_plan, aws_plan):
    plan = kubernetes_plan if stack == "kubernetes-prod" else aws_plan
    leaks = [(r.name, p) for r in plan.resources for p in plain_occurrences(r.inputs, SECRET_PLACEHOLDER)]
    assert leaks == []
    assert any(not plain_occurrences(r.inputs, SECRET_PLACEHOLDER) and SECRET_PLACEHOLDER in json.dumps(r.inputs)
               for r in plan.resources)  # it is there, marked


def test_manifests_on_disk_hold_no_secret_value(kubernetes_plan, tmp_path):
    written = write_manifests(kubernetes_plan, tmp_path)
    secret_file = next(p for p in written if p.name.startswith("secret-apigw-apigw-payments-api-secrets"))
    assert "stringData:\n  DB_PASSWORD: '[secret]'" in secret_file.read_text()
    assert not any(SECRET_SIG in p.read_text() for p in written)


def test_a_kubernetes_reference_must_name_a_secret_and_a_key():
    with pytest.raises(SpecError) as err:
        parse_spec(project_keys(with_secrets("kubernetes-prod", ref="just-a-name")))
    assert str(err.value) == ("services.payments-api.environment.STRIPE_KEY.secret_ref: found 'just-a-name'; "
                              "allowed: <Secret name>/<key>: a key of a Secret that exists in the workloads' "
                              "namespace (kubernetes.namespace)")


# --- aws ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def aws_plan():
    return run_program("aws-prod", with_secrets("aws-prod"))


def test_aws_keeps_the_values_in_the_services_own_secrets_manager_secret(aws_plan):
    secret = aws_plan.one("aws:secretsmanager/secret:Secret", "apigw-payments-api-secrets").inputs
    assert (secret["name"], secret["recoveryWindowInDays"]) == ("apigw-aws-prod-payments-api", 7.0)
    version = aws_plan.one("aws:secretsmanager/secretVersion:SecretVersion", "apigw-payments-api-secrets").inputs
    assert json.loads(secret_value(version["secretString"])) == {"DB_PASSWORD": SECRET_PLACEHOLDER}


def test_aws_task_definition_passes_secrets_by_reference(aws_plan):
    task = aws_plan.one("aws:ecs/taskDefinition:TaskDefinition", "apigw-payments-api-task").inputs
    container = json.loads(task["containerDefinitions"])[0]
    own = "arn:aws:secretsmanager:us-east-1:123456789012:secret:apigw-aws-prod-payments-api-c1c771"
    assert container["secrets"] == [{"name": "DB_PASSWORD", "valueFrom": f"{own}:DB_PASSWORD::"},
                                    {"name": "STRIPE_KEY", "valueFrom": STRIPE_ARN}]
    assert container["environment"] == [{"name": "WHOAMI_PORT_NUMBER", "value": "8080"}]
    assert task["executionRoleArn"] == "arn:aws:iam::123456789012:role/apigw-payments-api-execution"


def test_aws_each_service_reads_only_its_own_secrets(aws_plan):
    read = aws_plan.one("aws:iam/rolePolicy:RolePolicy", "apigw-payments-api-secrets-read")
    policy = json.loads(read.inputs["policy"])
    assert policy["Statement"] == [{
        "Sid": "OwnSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
        "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:apigw-aws-prod-payments-api-c1c771",
                     "arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/stripe-??????"]}]
    # The other services keep the cluster's shared execution role, which reads no secret.
    users = aws_plan.one("aws:ecs/taskDefinition:TaskDefinition", "apigw-users-api-task").inputs
    assert users["executionRoleArn"] == "arn:aws:iam::123456789012:role/apigw-cluster-execution"
    # The service's own role can still pull through the image cache.
    imports = aws_plan.one("aws:iam/rolePolicy:RolePolicy", "apigw-payments-api-execution-0").inputs
    assert imports["role"] == "apigw-payments-api-execution"
    assert json.loads(imports["policy"])["Statement"][0]["Action"] == [
        "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]


def test_aws_parameter_store_references_get_their_own_statement():
    parameter = "arn:aws:ssm:us-east-1:123456789012:parameter/payments/stripe"
    plan = run_program("aws-prod", with_secrets("aws-prod", ref=parameter))
    policy = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", "apigw-payments-api-secrets-read").inputs["policy"])
    assert policy["Statement"][1] == {"Sid": "OwnParameters", "Effect": "Allow", "Action": ["ssm:GetParameters"],
                                      "Resource": [parameter]}


@pytest.mark.parametrize("ref, allowed", [
    ("payments-stripe/api-key", "a Secrets Manager secret ARN"),
    ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:x", "a secret in the stack's region us-east-1"),
])
def test_an_aws_reference_must_be_an_arn_in_the_stacks_region(ref, allowed):
    with pytest.raises(SpecError) as err:
        parse_spec(project_keys(with_secrets("aws-prod", ref=ref)))
    assert str(err.value).startswith(f"services.payments-api.environment.STRIPE_KEY.secret_ref: found {ref!r}; "
                                     f"allowed: {allowed}")


# --- the policy rule ------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["kubernetes-prod", "aws-prod"])
def test_the_secret_settings_pass_the_pack(stack):
    report = check.check_stack(stack, with_secrets(stack))
    assert (report.problems, [v.message for v in report.violations if v.policy == "security-secret-env"]) == ([], [])


@pytest.mark.parametrize("stack, where", [
    ("kubernetes-prod", "apigw-payments-api-deployment (kubernetes:apps/v1:Deployment): spec.template.spec."
                        "containers[payments-api].env[DB_PASSWORD]"),
    ("aws-prod", "apigw-payments-api-task (aws:ecs/taskDefinition:TaskDefinition): containerDefinitions"
                 "[payments-api].environment[DB_PASSWORD]"),
])
def test_a_password_as_a_plain_value_fails_the_pack_in_prod(stack, where):
    config = variant_config(stack, lambda c: c["apigw:services"]["payments-api"]["environment"].update(
        DB_PASSWORD="hunter2"))
    report = check.check_stack(stack, config)
    found = [v for v in report.violations if v.policy == "security-secret-env"]
    assert [(v.level, v.message) for v in found] == [("mandatory", f"{where} looks like a credential (DB_PASSWORD) "
        "in a plain environment variable; move it to the service's secret settings (pulumi config set --secret, "
        "or {secret_ref: ...}), or list the name in this rule's allowed_names if it is not one "
        "(security-secret-env)")]


def test_a_value_pulumi_marks_secret_in_a_plain_variable_fails_the_pack():
    """What the program never does (tests above), the pack still catches: the mark survives to the rule."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": {
        "spec": {"containers": [{"name": "x", "image": "a/b:1", "env": [
            {"name": "SETTING", "value": {SECRET_SIG_KEY: SECRET_SIG, "value": "hunter2"}}]}]}}}}
    resource = Resource(urn="urn:pulumi:s::apigw::kubernetes:apps/v1:Deployment::x",
                        type="kubernetes:apps/v1:Deployment", name="x", properties=deployment)
    report = check.check_resources([resource], {"apigw:phase": "prod", "apigw:target": "kubernetes"}, "apigw", "s",
                                   "a test")
    assert [v.message for v in report.violations if v.policy == "security-secret-env"] == [
        "x (kubernetes:apps/v1:Deployment): spec.template.spec.containers[x].env[SETTING] is a secret in a plain "
        "environment variable (clear text in the object and its API); move it to the service's secret settings "
        "(pulumi config set --secret, or {secret_ref: ...}) (security-secret-env)"]
