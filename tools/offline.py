"""Run the real Pulumi program for a stack under Pulumi's mocks and capture what it registers.

No Pulumi CLI, no cloud account: the engine is replaced by `pulumi.runtime.set_mocks`, and a
monitor subclass records each registration (type, name, URN, parent, dependencies, inputs) so
the plan printer, the manifest writer, the offline policy check and the tests all read the same
capture. Inputs arrive in wire form (camelCase for Kubernetes, numbers as floats).
"""
from __future__ import annotations

import asyncio
import json
import pathlib
import pickle
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml
from pulumi.output import Unknown
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.settings import ROOT
from pulumi.runtime.stack import wait_for_rpcs

from components import stackfile
from components.stackfile import StackFile, StackFileError  # noqa: F401 - StackFileError is part of this API

REPO = pathlib.Path(__file__).resolve().parents[1]
# pulumi.dynamic.serialize_provider wraps pickle._Pickler._batch_setitems in a new sorting wrapper
# on every call and never unwraps it (pulumi 3.272): after about a thousand dynamic resources in one
# process the wrappers exceed the recursion limit. A real run registers a handful; the tests plan
# hundreds of stacks in one process, so each capture starts from the original method.
_BATCH_SETITEMS = pickle._Pickler._batch_setitems
STACKS_DIR = REPO / "stacks"
PROGRAM = REPO / "infra" / "__main__.py"


def project_file() -> dict:
    return yaml.safe_load((REPO / "Pulumi.yaml").read_text())


def project_name() -> str:
    return project_file()["name"]


def stack_names() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in STACKS_DIR.glob("Pulumi.*.yaml"))


def read_stack(stack: str, stack_file: pathlib.Path | None = None) -> tuple[dict[str, Any], StackFile]:
    """The config the CLI would pass (Pulumi.yaml defaults overlaid by the stack file), and what the
    strict reader found in the file (duplicate keys, values YAML did not read as strings)."""
    path = stack_file or STACKS_DIR / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise StackFileError(f"no stack file {path.relative_to(REPO) if path.is_relative_to(REPO) else path}; "
                             f"stacks: {', '.join(stack_names())}")
    project = project_name()
    parsed = stackfile.load_file(path, project)
    config: dict[str, Any] = {}
    for key, declared in (project_file().get("config") or {}).items():
        if isinstance(declared, dict) and "default" in declared:
            # Unqualified keys in Pulumi.yaml belong to the project's namespace.
            config[key if ":" in key else f"{project}:{key}"] = declared["default"]
    config.update(_opaque_secrets(parsed.config))
    return config, parsed


SECRET_SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
"""Pulumi's marker of a secret value ({SECRET_SIG_KEY: SECRET_SIG, "value": ...}), as the engine and the
mocks pass it: captured inputs keep it, as the policy pack receives it."""
SECRET_PLACEHOLDER = stackfile.OPAQUE_SECRET
"""What an offline run sees instead of a `secure:` value: it cannot decrypt one (the CLI hands the
program the plain value), and never shows one."""


def _opaque_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {k: _opaque_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_opaque_secrets(v) for v in value]
    return value


def stack_config(stack: str, stack_file: pathlib.Path | None = None) -> dict[str, Any]:
    return read_stack(stack, stack_file)[0]


def project_keys(config: dict[str, Any], project: str | None = None) -> dict[str, Any]:
    """The project's own keys of a stack config, without the `<project>:` prefix (what
    components.spec.parse_spec takes); other namespaces (aws:region, ...) are left out."""
    prefix = f"{project or project_name()}:"
    return {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}


def engine_config(config: dict[str, Any]) -> dict[str, str]:
    """Encode values the way the engine hands them to a program (objects as JSON strings)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, (dict, list)):
            out[key] = json.dumps(value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


@dataclass
class CapturedResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    inputs: dict[str, Any]
    protect: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    aliases: list[dict] = field(default_factory=list)
    """Each alias as the engine receives it: {"urn": ...} or a spec {"name", "type", "parentUrn",
    "noParent", "stack", "project"} with only the fields the program set."""


@dataclass
class Plan:
    project: str
    stack: str
    config: dict[str, Any]
    resources: list[CapturedResource] = field(default_factory=list)
    stack_urn: str = ""

    def by_type(self, type_token: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str) -> CapturedResource:
        matches = [r for r in self.resources if r.type == type_token and r.name == name]
        if len(matches) != 1:
            names = sorted(r.name for r in self.by_type(type_token))
            raise KeyError(f"{type_token} {name!r}: {len(matches)} matches; names: {names}")
        return matches[0]


# Fake outputs for computed properties (e.g. a load balancer's DNS name) and answers to provider
# functions (e.g. the availability-zones lookup), keyed by type / function token. Each target's
# contract names its module (tools/mocks/<target>.py) with dicts MOCK_OUTPUTS and MOCK_CALLS.
MOCK_OUTPUTS: dict[str, Callable[[pulumi_mocks.MockResourceArgs], dict]] = {}
MOCK_CALLS: dict[str, Callable[[pulumi_mocks.MockCallArgs], dict]] = {}


def _load_target_mocks() -> None:
    import importlib

    from components import targets
    for declared in targets.all_targets():
        if declared.offline_mocks:
            module = importlib.import_module(declared.offline_mocks)
            MOCK_OUTPUTS.update(module.MOCK_OUTPUTS)
            MOCK_CALLS.update(module.MOCK_CALLS)


_load_target_mocks()


class _Mocks(pulumi_mocks.Mocks):
    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        outputs = dict(args.inputs)
        extra = dict(MOCK_OUTPUTS[args.typ](args)) if args.typ in MOCK_OUTPUTS else {}
        # A mock may give the resource's id (Azure's ids are ARM paths that other inputs embed).
        resource_id = extra.pop("id", f"{args.name}-id")
        outputs.update(extra)
        return resource_id, outputs

    def call(self, args: pulumi_mocks.MockCallArgs):
        answer = MOCK_CALLS.get(args.token)
        return (answer(args) if answer else {}), []  # [] = no check failures


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def engine_urn(stack: str, project: str, parent_urn: str, type_token: str, name: str) -> str:
    """The URN the Pulumi engine gives a resource: its type qualified by the parent's whole type
    chain, the root stack left out (the mock monitor keeps only the parent's last type, which
    would hide a change of a grandparent's type from the URN snapshot)."""
    qualified = type_token
    if parent_urn:
        parent_type = parent_urn.split("::")[2]
        if parent_type != ROOT_STACK_TYPE:
            qualified = f"{parent_type}${type_token}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def _alias(alias) -> dict:
    if alias.urn:
        return {"urn": alias.urn}
    spec = alias.spec
    fields = {"name": spec.name, "type": spec.type, "stack": spec.stack, "project": spec.project,
              "parentUrn": spec.parentUrn}
    out: dict = {k: v for k, v in fields.items() if v}
    if spec.noParent:
        out["noParent"] = True
    return out


class _CaptureMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks, plan: Plan):
        super().__init__(mocks)
        self.plan = plan

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return engine_urn(pulumi.get_stack(), pulumi.get_project(), parent, type_, name)

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self.plan.stack_urn = response.urn
            return response
        pulumi_mocks._ensure_event_loop()
        self.plan.resources.append(CapturedResource(
            urn=response.urn, type=request.type, name=request.name, custom=bool(request.custom),
            parent=request.parent, dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            provider=request.provider, inputs=_plain(rpc.deserialize_properties(request.object)),
            protect=bool(request.protect), ignore_changes=list(request.ignoreChanges),
            aliases=[_alias(a) for a in request.aliases],
        ))
        return response


def _plain(value: Any) -> Any:
    """Plain JSON-like data; a value unknown until the update becomes the engine's own marker."""
    if isinstance(value, Unknown):
        return rpc.UNKNOWN
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def run_program(stack: str, config: dict[str, Any] | None = None, project: str | None = None) -> Plan:
    """Run infra/__main__.py for `stack` under mocks; returns everything it registered.

    `project` stands in for Pulumi.yaml's name (config keys must then use it as their prefix).
    Raises SpecError (from the program) when the stack's config is invalid.
    """
    project = project or project_name()
    if config is None:
        config = stack_config(stack)
    return capture(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), project, stack, config)


def run_example(directory: pathlib.Path, stack: str = "dev") -> Plan:
    """Run a program of its own (e.g. examples/<name>/__main__.py, with its own Pulumi.yaml) under mocks."""
    project_file_path = directory / "Pulumi.yaml"
    if not project_file_path.is_file() or not (directory / "__main__.py").is_file():
        raise StackFileError(f"{directory}: expected a Pulumi.yaml and a __main__.py (a Python program)")
    project = (yaml.safe_load(project_file_path.read_text()) or {}).get("name") or directory.name
    return capture(lambda: runpy.run_path(str(directory / "__main__.py"), run_name="__main__"), project, stack)


def capture(program: Callable[[], Any], project: str = "apigw", stack: str = "test",
            config: dict[str, Any] | None = None) -> Plan:
    """Run `program` (any code that registers resources, e.g. one component) under mocks and
    return everything it registered."""
    plan = Plan(project=project, stack=stack, config=config or {})
    pickle._Pickler._batch_setitems = _BATCH_SETITEMS
    set_all_config(engine_config(config or {}), [])
    ROOT.set(None)  # a fresh root stack per run, so several plans can run in one process
    mocks = _Mocks()
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=True,
                             monitor=_CaptureMonitor(mocks, plan))
    loop = asyncio.get_event_loop()
    program()
    loop.run_until_complete(wait_for_rpcs())
    return plan
