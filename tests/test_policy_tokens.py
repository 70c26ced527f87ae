"""The pack's rules against the installed provider SDKs: every type token a rule matches, and
every top-level property it reads, still exists, so a renamed type cannot switch a rule off."""
from __future__ import annotations

import functools
import importlib.util
import pathlib
import re

import pytest
import yaml

from components import phases
from policies.rules import RULES, common

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = {"aws": "pulumi_aws", "azure-native": "pulumi_azure_native", "gcp": "pulumi_gcp",
            "kubernetes": "pulumi_kubernetes"}


def _all_tokens() -> list[tuple[str, str, tuple[str, ...]]]:
    return sorted({(rule.NAME, token, props) for rule in RULES for token, props in rule.TOKENS.items()})


@functools.cache
def _resource_file(token: str) -> pathlib.Path | None:
    """The SDK file that declares `token` (searched under the token's module directory only)."""
    provider, module, _ = token.split(":")
    spec = importlib.util.find_spec(PACKAGES[provider])
    root = pathlib.Path(next(iter(spec.submodule_search_locations)))
    quoted = (f"'{token}'", f'"{token}"')
    for path in sorted((root / re.split(r"[/.]", module)[0]).rglob("*.py")):
        text = path.read_text()
        if any(q in text for q in quoted):
            return path
    return None


@pytest.mark.parametrize("rule, token, props", _all_tokens(), ids=lambda v: v if isinstance(v, str) else None)
def test_token_and_properties_exist_in_the_installed_sdk(rule, token, props):
    path = _resource_file(token)
    assert path is not None, f"{rule}: {token} is not declared by the installed {PACKAGES[token.split(':')[0]]}"
    text = path.read_text()
    for prop in props:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", prop).lower()
        declared = f'@pulumi.getter(name="{prop}")' in text or re.search(rf"\n    def {prop}\(self\)", text) \
            or re.search(rf"\n    def {snake}\(self\)", text) and prop == snake
        assert declared, f"{rule}: {token} has no property {prop!r} in {path.name}"


def test_every_rule_is_one_module_named_after_it():
    names = [rule.NAME for rule in RULES]
    assert len(names) == len(set(names)) == 14
    for rule in RULES:
        assert rule.__name__.rsplit(".", 1)[-1] == rule.NAME.replace("-", "_")
        assert rule.POLICY.name == rule.NAME and rule.POLICY.remediation_steps and rule.POLICY.description


def test_pack_floors_agree_with_the_prod_preset():
    assert common.PROD_MIN_INSTANCES == phases.PROD_MIN_SERVICE_INSTANCES
    assert common.PROD_MIN_GATEWAY_INSTANCES == phases.PROD_MIN_GATEWAY_INSTANCES
    assert common.PROD_MIN_ZONES == phases.PROD_MIN_ZONES
    assert phases.PRESETS["prod"].gateway_min >= common.PROD_MIN_GATEWAY_INSTANCES


def test_pack_pins_the_project_sdk_versions():
    pinned = {line.split("==")[0]: line.split("==")[1] for line in (REPO / "requirements.txt").read_text().split()
              if "==" in line}
    pack = [line for line in (REPO / "policies/requirements.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert pack == [f"pulumi=={pinned['pulumi']}", f"pulumi-policy=={pinned['pulumi-policy']}"]
    project = yaml.safe_load((REPO / "policies/PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python" and project["version"]


def test_local_process_token_and_roles_match_the_local_target(plan_of):
    from policies.rules.prod_load_balanced_gateway import LOCAL_PROCESS

    roles = sorted(r.inputs.get("role") for r in plan_of("local-dev").by_type(LOCAL_PROCESS))
    assert roles.count("load_balancer") == 1 and roles.count("gateway") == 2
