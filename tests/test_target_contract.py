"""The target contract and registry, fixed type tokens, and the parts that must agree."""
from __future__ import annotations

import re

import pytest

from components import targets
from components.spec import parse_spec
from tests.conftest import variant_config
from tools.offline import project_keys, run_program, stack_config, stack_names

SHIPPED_TARGETS = sorted({stack.split("-")[0] for stack in stack_names()})


def test_every_registered_target_declares_itself_and_every_shipped_stack_uses_one():
    assert targets.names() == ("aws", "kubernetes", "local")
    for name in targets.names():
        declared = targets.target(name)
        assert declared.name == name
        assert "none" in declared.algorithms and all(declared.algorithms.values())
        assert set(declared.honoured_keys) <= set(targets.NEUTRAL_KEYS), name
        assert set(declared.notes) == set(targets.NEUTRAL_KEYS) - set(declared.honoured_keys), name
    assert SHIPPED_TARGETS == list(targets.names())


def test_no_module_outside_the_registry_lists_the_targets():
    """A target is one folder plus one registry line: nothing else spells out the list."""
    import pathlib
    repo = pathlib.Path(__file__).resolve().parents[1]
    pattern = re.compile(r"""["'](aws|kubernetes|local)["'],\s*["'](aws|kubernetes|local)["']""")
    offenders = [str(path.relative_to(repo)) for folder in ("components", "infra", "tools")
                 for path in (repo / folder).rglob("*.py")
                 if path.name != "targets.py" and pattern.search(path.read_text())]
    assert offenders == []


def test_pulumi_yaml_declares_exactly_the_registered_option_blocks():
    from tools.offline import project_file
    declared = project_file()["config"]
    blocks = {key for key, value in declared.items() if value.get("default") == {}}
    neutral_objects = {"gateway", "services", "load_balancer", "monitoring", "labels"}
    assert blocks - neutral_objects == set(targets.option_blocks())


@pytest.mark.parametrize("stack", ["aws-dev", "kubernetes-prod", "local-dev"])
def test_renaming_the_project_changes_no_component_type_token(plan_of, stack):
    renamed = {("acme:" + key.split(":", 1)[1]) if key.startswith("apigw:") else key: value
               for key, value in stack_config(stack).items()}
    plan = run_program(stack, renamed, project="acme")
    original = plan_of(stack)
    # Resource names follow the project (apigw-... becomes acme-...); type tokens do not.
    assert sorted(r.type for r in plan.resources) == sorted(r.type for r in original.resources)
    assert sorted(r.name.replace("acme", "apigw", 1) for r in plan.resources) == \
        sorted(r.name for r in original.resources)
    components = {r.type for r in plan.resources if not r.custom}
    assert components and all(t.startswith(f"apigw:{stack.split('-')[0]}:") for t in components)


def test_unhonoured_keys_name_what_a_target_would_ignore():
    raw = project_keys(stack_config("local-dev"))
    # What the strict-input issue will refuse; today the shipped local stack still sets these.
    assert targets.unhonoured_keys(raw, targets.target("local")) == [
        "gateway.image", "gateway.instances.max",
        *(f"services.{s}.{key}" for s in ("users-api", "locations-api", "payments-api")
          for key in ("image", "instances.max"))]
    assert targets.unhonoured_keys(project_keys(stack_config("kubernetes-prod")), targets.target("kubernetes")) == \
        ["load_balancer.health_check.matcher"]
    raw["services"]["users-api"]["command"] = "python3 -m http.server {port}"
    assert "services.users-api.command" not in targets.unhonoured_keys(raw, targets.target("local"))
    assert "services.users-api.command" in targets.unhonoured_keys(raw, targets.target("kubernetes"))
    assert targets.unhonoured_keys(raw, targets.target("aws")) == ["services.users-api.command"]
    # Free-form maps are values, not key paths.
    raw["labels"] = {"team": "payments"}
    assert "labels" in targets.unhonoured_keys(raw, targets.target("local"))
    assert "labels" not in targets.unhonoured_keys(raw, targets.target("aws"))


def test_the_docs_table_of_honoured_keys_matches_the_registry():
    import pathlib
    doc = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "targets.md").read_text()
    names = targets.names()
    assert "| key | " + " | ".join(names) + " |" in doc
    for key in targets.NEUTRAL_KEYS:
        row = f"| `{key}` | " + " | ".join("yes" if targets.target(n).honours(key) else "no" for n in names) + " |"
        assert row in doc.splitlines(), row
