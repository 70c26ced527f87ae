"""Entry point shared by `pulumi up` and the offline plan: spec first, then the target's builder."""
from __future__ import annotations

import json
import pathlib
from typing import Any

import pulumi
import yaml
from pulumi.runtime.config import CONFIG, get_config_env

from components import stackfile, targets
from components.spec import SpecError, StackSpec, parse_spec
from components.validation import Problem

PROJECT_DIR = pathlib.Path(__file__).resolve().parents[1]


def read_project_config(project: str) -> dict[str, Any]:
    """Every `<project>:<key>` the engine passed, objects decoded, without the prefix."""
    merged = {**get_config_env(), **CONFIG.get()}
    prefix = f"{project}:"
    raw: dict[str, Any] = {}
    for key, value in merged.items():
        if not key.startswith(prefix):
            continue
        if isinstance(value, str) and value.startswith(("{", "[")):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # a plain string after all; the spec reports it if it is not one
        raw[key[len(prefix):]] = value
    return raw


def own_stack_file(project: str, stack: str) -> stackfile.StackFile | None:
    """The CLI hands the program only the merged config (the last of two duplicate keys, YAML's
    conversions done), so the program re-reads its own stack file, found from `stackConfigDir`."""
    project_file = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text()) or {}
    path = PROJECT_DIR / project_file.get("stackConfigDir", ".") / f"Pulumi.{stack}.yaml"
    return stackfile.load_file(path, project) if path.is_file() else None


def load_spec(project: str) -> StackSpec:
    try:
        parsed = own_stack_file(project, pulumi.get_stack())
    except stackfile.StackFileError as err:
        raise SpecError([Problem("<stack file>", None, str(err))]) from None
    return parse_spec(read_project_config(project), project, parsed)


def main() -> None:
    project = pulumi.get_project()
    try:
        spec = load_spec(project)
    except SpecError as err:
        for problem in err.problems:
            pulumi.log.error(f"{project}:{problem}")
        # RunError ends the program with the messages above and no traceback.
        raise pulumi.RunError(f"{len(err.problems)} problem(s) in the config of stack "
                              f"{pulumi.get_stack()}; nothing was created") from None
    # Imported only now, so a kubernetes stack never loads the AWS SDK (about 0.6 s each).
    builder = targets.target(spec.target).builder_module()
    outputs = builder.build(spec)
    for name, value in (outputs or {}).items():
        pulumi.export(name, value)
