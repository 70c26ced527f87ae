"""The examples: the Python one planned offline (as `make plan PROGRAM=...` does), the YAML one
checked against the package schema and constructed as the component provider would, and the
components' wheel installed into a fresh virtualenv, from which the Python example imports them."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import sysconfig

import pytest
import yaml
from pulumi.provider.experimental.component import ComponentProvider

from components.multilang import COMPONENTS, PACKAGE, VERSION
from tools.offline import capture, run_example

REPO = pathlib.Path(__file__).resolve().parents[1]
PYTHON_EXAMPLE = REPO / "examples" / "kubernetes-gateway-python"
YAML_EXAMPLE = REPO / "examples" / "kubernetes-gateway-yaml"


def test_the_python_example_plans_with_the_components_alone():
    plan = run_example(PYTHON_EXAMPLE)
    assert plan.project == "gateway-example"
    assert sorted(r.name for r in plan.resources if not r.custom) == ["gateway", "orders", "stock"]
    conf = plan.one("kubernetes:core/v1:ConfigMap", "gateway-config").inputs["data"]["nginx.conf"]
    for service in ("orders", "stock"):
        assert f"server {service}-endpoints.shop.svc.cluster.local:8080 resolve max_fails=3 fail_timeout=5s;" in conf
        assert f"location /{service}/ {{" in conf
        hpa = plan.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", f"{service}-hpa").inputs["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2.0, 4.0)
    gateway = plan.one("kubernetes:apps/v1:Deployment", "gateway-deployment").inputs
    assert gateway["metadata"]["labels"]["team"] == "shop"
    assert plan.one("kubernetes:core/v1:Service", "gateway-service").inputs["spec"]["type"] == "LoadBalancer"


def _check(value, prop: dict, types: dict, path: str) -> list[str]:
    """What in `value` the schema property `prop` does not accept."""
    if "$ref" in prop:
        spec = types[prop["$ref"].removeprefix("#/types/")]
        problems = [f"{path}.{k}: required" for k in spec.get("required", []) if k not in value]
        for key, item in value.items():
            if key not in spec["properties"]:
                problems.append(f"{path}.{key}: not in the schema")
            else:
                problems += _check(item, spec["properties"][key], types, f"{path}.{key}")
        return problems
    kind = prop.get("type")
    if kind == "array":
        return [p for i, v in enumerate(value) for p in _check(v, prop["items"], types, f"{path}[{i}]")]
    expected = {"string": str, "integer": int, "boolean": bool, "number": (int, float), "object": dict}[kind]
    return [] if isinstance(value, expected) else [f"{path}: {value!r} is not {kind}"]


def test_the_yaml_example_matches_the_schema_and_constructs():
    schema = json.loads(ComponentProvider(COMPONENTS, PACKAGE, None, VERSION).schema)
    program = yaml.safe_load((YAML_EXAMPLE / "Pulumi.yaml").read_text())
    assert program["packages"] == {"apigw": "../../provider"}
    assert (YAML_EXAMPLE / program["packages"]["apigw"] / "PulumiPlugin.yaml").is_file()
    (resource,) = program["resources"].values()
    component = schema["resources"][resource["type"]]
    properties = resource["properties"]
    problems = [f"{k}: required" for k in component["requiredInputs"] if k not in properties]
    for key, value in properties.items():
        problems += (_check(value, component["inputProperties"][key], schema["types"], key)
                     if key in component["inputProperties"] else [f"{key}: not in the schema"])
    assert problems == []
    outputs = {value.strip("${}").split(".")[1] for value in program["outputs"].values()}
    assert outputs <= set(component["properties"])

    provider = ComponentProvider(COMPONENTS, PACKAGE, None, VERSION)
    plan = capture(lambda: provider.construct("shop", resource["type"], properties))
    assert sorted(r.name for r in plan.by_type("kubernetes:apps/v1:Deployment")) == [
        "shop-gateway-deployment", "shop-orders-deployment", "shop-stock-deployment"]


@pytest.mark.skipif(not (REPO / ".venv").exists() and "VIRTUAL_ENV" not in os.environ,
                    reason="needs the project's virtualenv for the SDKs")
def test_a_wheel_installs_into_a_fresh_virtualenv_and_the_example_imports_from_it(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(REPO)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("apigw_platform-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # The SDKs come from the project's virtualenv (no network); the components only from the wheel.
    pathlib.Path(site, "sdks.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    # Plan the example in that virtualenv, with the repo's tools on the path but not its components.
    script = ("import sys, pathlib, apigw_platform; sys.path.append(sys.argv[1]);"
              "from apigw_platform import targets; print(','.join(targets.names()));"
              "from tools.offline import run_example;"
              "plan = run_example(pathlib.Path(sys.argv[2]));"
              "print(apigw_platform.__file__); print(len(plan.resources)); import os; os._exit(0)")
    result = subprocess.run([str(python), "-c", script, str(REPO), str(PYTHON_EXAMPLE)], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300, env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr
    registered, location, count = result.stdout.split()
    # The wheel leaves out the local target (it runs processes from a checkout): the registry says so. The
    # docker target is in it: it imports nothing of the local target (the HAProxy config is components/haproxy.py).
    assert registered == "aws,azure,docker,gcp,kubernetes"
    assert location.startswith(site) and count == "19"


def test_every_args_field_is_documented_and_the_reference_is_current():
    from tools.argsdoc import ARGS_MODULES, DOC, _classes, current_section, reference
    undocumented = [f"{module}: {cls}.{field}" for module in ARGS_MODULES if (REPO / module).exists()
                    for cls, _, fields in _classes(REPO / module) for field, _, _, doc in fields if not doc]
    assert undocumented == []
    assert current_section(DOC.read_text()) == reference(), "run: python -m tools.argsdoc --write"
