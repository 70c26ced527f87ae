"""The target contract and registry, fixed type tokens, and the parts that must agree."""
from __future__ import annotations

import json
import re

import pytest

from components import targets
from components.spec import parse_spec
from components.validation import SpecError
from tools.offline import project_keys, run_program, stack_config, stack_names

SHIPPED_TARGETS = sorted({stack.split("-")[0] for stack in stack_names()})


def test_every_registered_target_declares_itself_and_every_shipped_stack_uses_one():
    assert targets.names() == ("aws", "azure", "docker", "gcp", "kubernetes", "local")
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


@pytest.mark.parametrize("stack", ["aws-dev", "docker-staging", "kubernetes-prod", "local-dev"])
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


def _paths(raw, name):
    return [path for path, _, _ in targets.unhonoured_keys(raw, targets.target(name))]


@pytest.mark.parametrize("stack", stack_names())
def test_no_shipped_stack_sets_a_key_its_target_ignores(stack):
    assert _paths(project_keys(stack_config(stack)), stack.split("-")[0]) == []


def test_unhonoured_keys_name_what_a_target_would_ignore():
    raw = project_keys(stack_config("local-dev"))
    raw["services"]["users-api"]["command"] = "python3 -m http.server {port}"
    assert "services.users-api.command" not in _paths(raw, "local")
    assert "services.users-api.command" in _paths(raw, "kubernetes")
    assert _paths(raw, "aws") == ["services.users-api.command"]
    raw["services"]["users-api"]["image"] = "traefik/whoami:v1.10.3"
    assert _paths(raw, "local") == ["services.users-api.image"]
    # Free-form maps are values, not key paths.
    raw["labels"] = {"team": "payments"}
    assert "labels" in _paths(raw, "local")
    assert "labels" not in _paths(raw, "aws")


@pytest.mark.parametrize("stack, change, expected", [
    ("aws-dev", lambda raw: raw["services"]["users-api"].update(command="serve {port}"),
     "services.users-api.command: found 'serve {port}'; allowed: nothing on the aws target, which does not honour "
     "it: ECS runs the image's own command; `command` is for the local target"),
    ("kubernetes-dev", lambda raw: raw["load_balancer"].setdefault("health_check", {}).update(matcher="200-299"),
     "load_balancer.health_check.matcher: found '200-299'; allowed: nothing on the kubernetes target, which does "
     "not honour it: kubelet probes count any status from 200 to 399 as healthy"),
    ("docker-staging", lambda raw: raw["gateway"]["instances"].update(max=6),
     "gateway.instances.max: found 6; allowed: nothing on the docker target, which does not honour it: nothing "
     "autoscales on one Docker host: instances.min containers run"),
    ("local-dev", lambda raw: raw.update(labels={"team": "a"}),
     "labels: found {'team': 'a'}; allowed: nothing on the local target, which does not honour it: processes "
     "carry no labels"),
    ("kubernetes-dev", lambda raw: raw.update(region="eu-west-1"),
     "region: found 'eu-west-1'; allowed: nothing on the kubernetes target, which does not honour it: a cluster "
     "has no region here: the kubeconfig context says where it runs"),
])
def test_the_spec_refuses_a_key_its_target_ignores_saying_what_it_does_instead(stack, change, expected):
    raw = project_keys(stack_config(stack))
    change(raw)
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert [str(p) for p in err.value.problems] == [expected]


@pytest.mark.parametrize("document", ["docs/configuration.md", "docs/targets.md"])
def test_the_table_of_honoured_keys_in_the_docs_is_the_registrys(document):
    import pathlib
    text = (pathlib.Path(__file__).resolve().parents[1] / document).read_text()
    from tools.argsdoc import HONOURED_BEGIN, HONOURED_END, section
    assert section(text, HONOURED_BEGIN, HONOURED_END) == targets.honoured_table(), \
        "run: python -m tools.argsdoc --write"


@pytest.mark.parametrize("stack", stack_names())
def test_no_input_is_an_output_turned_into_text(plan_of, stack):
    """An f-string around an Output sends Pulumi's warning text instead of the value."""
    leaked = [r.name for r in plan_of(stack).resources if "Calling __str__ on an Output" in json.dumps(r.inputs)]
    assert leaked == []
