"""Secret service settings on the local target (issue 18): a file per service in the state dir (mode
0600, its directory 0700), read into the backends' environment at every start; a reference is refused.

The value never appears in clear in a captured resource input (only inside Pulumi's secret marker), nor in
any file of the state dir other than the secrets file (plans, the supervisor's plans, logs). A changed value
restarts that service's instances; an unchanged one does not; a delete removes the file.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import stat

import pytest

from components.local import processes, provider, secretfiles, supervisor
from components.local.topology import plan_topology
from components.spec import SecretSetting, parse_spec
from components.validation import SpecError
from tests.conftest import variant_config
from tests.test_secrets import plain_occurrences, secret_value
from tools.bench_local import local_spec
from tools.offline import SECRET_PLACEHOLDER, project_keys, run_program

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")

VALUE = "s3cr3t-db-pass-7f1c9"
NEW_VALUE = "s3cr3t-db-pass-rotated-42aa"


def _env(config, key: str, value) -> None:
    config["apigw:services"]["payments-api"].setdefault("environment", {})[key] = value


# --- offline: the program's inputs --------------------------------------------------------------

def test_a_secret_value_is_a_secret_input_of_its_instances_and_nowhere_else_in_clear():
    plan = run_program("local-dev", variant_config("local-dev", lambda c: _env(c, "DB_PASSWORD", SECRET_PLACEHOLDER)))
    leaks = [f"{r.name}{path}" for r in plan.resources for path in plain_occurrences(r.inputs, SECRET_PLACEHOLDER)]
    assert leaks == []
    payments = [r for r in plan.resources if r.inputs.get("service") == "payments-api"]
    assert len(payments) == 2
    for r in payments:
        assert secret_value(r.inputs["secrets"]) == {"DB_PASSWORD": SECRET_PLACEHOLDER}
        assert r.inputs["secrets_path"].endswith("/secrets/payments-api.json")
        assert "DB_PASSWORD" not in r.inputs["env"]
    others = [r for r in plan.resources if r.inputs.get("service") == "users-api"]
    assert others and all("secrets" not in r.inputs and r.inputs.get("secrets_path") is None for r in others)


def test_a_secret_reference_is_refused_naming_its_key():
    config = variant_config("local-dev", lambda c: _env(c, "STRIPE_KEY", {"secret_ref": "payments/stripe"}))
    with pytest.raises(SpecError) as err:
        parse_spec(project_keys(config))
    assert str(err.value) == (
        "services.payments-api.environment.STRIPE_KEY.secret_ref: found 'payments/stripe'; allowed: a secret value "
        "(pulumi config set --secret --path ...): the local target has no secret store to refer to; it keeps values "
        "in a file of its state dir (mode 0600)")


# --- real processes, driven through the provider ------------------------------------------------

@pytest.fixture
def payments(tmp_path, monkeypatch):
    """payments-api's instances, with one secret value, and the state dir."""
    monkeypatch.setattr(processes, "RUN", processes.Run())
    state = tmp_path / "state"
    spec = local_spec("local-dev", state, services={"payments-api": {"path_prefix": "/payments",
                                                                     "instances": {"min": 2}}})
    service = dataclasses.replace(spec.services[0], secrets={"DB_PASSWORD": SecretSetting(value=VALUE)})
    spec = dataclasses.replace(spec, services=(service,))
    topology = plan_topology(spec, state)
    plans = topology.backends("payments-api")
    assert topology.secret_values("payments-api") == {"DB_PASSWORD": VALUE}
    yield topology, plans
    processes.stop_all(plans)


def _props(plan, value: str) -> dict:
    return {**plan.to_inputs(), provider.SECRETS_KEY: {"DB_PASSWORD": value}}


def _environ(pid: int) -> dict[str, str]:
    raw = pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _files_with(state_dir: str, needle: str) -> list[str]:
    return sorted(str(p.relative_to(state_dir)) for p in pathlib.Path(state_dir).rglob("*")
                  if p.is_file() and needle.encode() in p.read_bytes())


def test_the_value_is_in_a_0600_file_and_the_backends_environment_only(payments):
    topology, plans = payments
    outs = [provider.create("process", _props(plan, VALUE)).outs for plan in plans]
    path = pathlib.Path(topology.state_dir, "secrets", "payments-api.json")
    assert all(plan.secrets_path == str(path) for plan in plans)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"DB_PASSWORD": VALUE}
    for out in outs:
        assert _environ(int(out["pid"]))["DB_PASSWORD"] == VALUE
    # Plans (the supervisor's too), pid files and logs name the file, never the value.
    assert _files_with(topology.state_dir, VALUE) == ["secrets/payments-api.json"]
    assert "DB_PASSWORD" not in json.dumps([plan.to_inputs() for plan in plans])

    # A supervisor restart (the process died) reads the file again.
    plan = plans[0]
    processes.kill(plan)
    restarted = processes.start(supervisor.desired_plans(topology.state_dir)[plan.key], retry_later=True)
    assert _environ(restarted.pid)["DB_PASSWORD"] == VALUE


def test_a_changed_value_restarts_the_services_instances_an_unchanged_one_does_not(payments):
    topology, plans = payments
    outs = [provider.create("process", _props(plan, VALUE)).outs for plan in plans]
    for plan, out in zip(plans, outs, strict=True):
        assert provider.diff("process", plan.key, out, _props(plan, VALUE)).changes is False
        assert provider.diff("process", plan.key, out, _props(plan, NEW_VALUE)).changes is True
    # The same value through an update (another input changed nothing the process uses): kept running.
    same = provider.update("process", plans[0].key, outs[0], _props(plans[0], VALUE)).outs
    assert same["pid"] == outs[0]["pid"]

    new = [provider.update("process", plan.key, out, _props(plan, NEW_VALUE)).outs
           for plan, out in zip(plans, outs, strict=True)]
    for old, out in zip(outs, new, strict=True):
        assert out["pid"] != old["pid"] and processes.is_alive(provider._record(out))
        assert _environ(int(out["pid"]))["DB_PASSWORD"] == NEW_VALUE
    assert json.loads(pathlib.Path(plans[0].secrets_path).read_text()) == {"DB_PASSWORD": NEW_VALUE}
    assert _files_with(topology.state_dir, NEW_VALUE) == ["secrets/payments-api.json"]
    assert _files_with(topology.state_dir, VALUE) == []

    # Delete: the file goes with the last instance; destroy's last step removes the directory.
    provider.delete("process", plans[0].key, new[0])
    assert pathlib.Path(plans[0].secrets_path).exists()  # the second instance still reads it
    provider.delete("process", plans[1].key, new[1])
    assert not pathlib.Path(plans[0].secrets_path).exists()
    provider.delete("ports", "ports", {"state_dir": topology.state_dir, "stack": "", "project": ""})
    assert not secretfiles.secrets_dir(topology.state_dir).exists()


def test_a_missing_secrets_file_is_a_clear_start_failure_without_the_path_contents(payments):
    _, plans = payments
    with pytest.raises(processes.ProcessError) as err:
        processes.start(plans[0])
    assert "cannot read its secret settings from" in str(err.value) and plans[0].secrets_path in str(err.value)


def test_the_file_is_written_0600_atomically_even_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        path = secretfiles.secrets_path(tmp_path, "svc")
        secretfiles.write(path, {"K": "v"})
        secretfiles.write(path, {"K": "w"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "secrets").st_mode) == 0o700
    assert secretfiles.read(path) == {"K": "w"}
    assert [p.name for p in (tmp_path / "secrets").iterdir()] == ["svc.json"]
