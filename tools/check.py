"""Offline policy check: `python -m tools.check [STACK ...]` (every stack when none is named).

For each stack: validate its spec, run the real program under Pulumi's mocks (tools/offline.py),
start the policy pack in policies/ exactly as the Pulumi CLI does (`python -u -m pulumi.policy
<engine-address> <pack-dir>` with PULUMI_CONFIG, PULUMI_PROJECT, PULUMI_STACK and PULUMI_DRY_RUN
set), send every captured resource through the Analyzer service (`Analyze` for each,
`AnalyzeStack` once, with parents and dependencies) and print the violations grouped by
resource. Exit 1 when any stack has a mandatory violation (or cannot be checked), 0 otherwise,
2 on bad arguments.

`--resources-json FILE` checks the resources of a real run instead (`pulumi preview --json` or
`pulumi stack export`); `--stack-config` names the stack file that gives its phase.

Nothing is created and no provider is contacted: this checks what the program asks for.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import select
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tools.offline import (REPO, STACKS_DIR, CapturedResource, StackFileError, engine_config, project_name,
                           stack_config, stack_names)

PACK_DIR = REPO / "policies"
ENGINE_ADDRESS = "127.0.0.1:1"
"""The CLI passes its engine's address; a Python pack never dials it (pulumi.policy only parses
the argument, and pulumi.log falls back to stderr), so a placeholder is enough offline."""
START_TIMEOUT_S = 60
RPC_TIMEOUT_S = 60

UNKNOWN = rpc.UNKNOWN
"""The engine's sentinel for a value that is unknown until the update (tools/offline.py emits it too)."""
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

LEVEL_NAMES = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory",
               analyzer_pb2.REMEDIATE: "remediate", analyzer_pb2.DISABLED: "disabled"}
LEVEL_VALUES = {name: value for value, name in LEVEL_NAMES.items()}


class CheckError(Exception):
    """A problem with the arguments or inputs: reported without a traceback, exit 2."""


class PackError(Exception):
    """The policy pack failed to start or to answer."""


# --- what the analyzer sees -----------------------------------------------------------------

@dataclass
class Resource:
    urn: str
    type: str
    name: str
    properties: dict[str, Any]
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""
    protect: bool = False
    custom: bool = True

    @classmethod
    def from_captured(cls, r: CapturedResource) -> "Resource":
        return cls(urn=r.urn, type=r.type, name=r.name, properties=r.inputs, parent=r.parent,
                   dependencies=list(r.dependencies), property_dependencies=dict(r.property_dependencies),
                   provider=r.provider, protect=r.protect, custom=r.custom)


@dataclass
class Violation:
    policy: str
    level: str
    message: str
    urn: str
    resource: str = ""
    type: str = ""

    @property
    def mandatory(self) -> bool:
        return self.level == "mandatory"

    def short_message(self) -> str:
        """The message without the `name (type): ` prefix and ` (rule)` suffix the group shows."""
        text = self.message
        prefix = f"{self.resource} ({self.type}): "
        if self.resource and text.startswith(prefix):
            text = text[len(prefix):]
        suffix = f" ({self.policy})"
        return text[:-len(suffix)] if text.endswith(suffix) else text


def _wire(value: Any) -> Any:
    """Plain captured data -> what the engine would send: unknowns as the engine's sentinel."""
    if isinstance(value, dict):
        return {str(k): _wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wire(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def _struct(value: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(_wire(value))
    return struct


# --- the pack process -----------------------------------------------------------------------

class PolicyPackProcess:
    """One running policy pack for one stack, started the way the Pulumi CLI starts it.

    Use as a context manager; the process is stopped on exit, whatever happens.
    """

    def __init__(self, config: dict[str, Any], project: str, stack: str, pack_dir: pathlib.Path = PACK_DIR,
                 pack_config: dict[str, Any] | None = None, python: str = sys.executable):
        self.config, self.project, self.stack = config, project, stack
        self.pack_dir, self.pack_config, self.python = pathlib.Path(pack_dir), pack_config, python
        self.process: subprocess.Popen | None = None
        self.channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.info: analyzer_pb2.AnalyzerInfo | None = None
        self.levels: dict[str, str] = {}
        self._stderr = tempfile.TemporaryFile()

    # The CLI's environment for a policy pack (constructEnv in pulumi's analyzer_plugin.go).
    def environment(self) -> dict[str, str]:
        return {**os.environ, "PULUMI_CONFIG": json.dumps(engine_config(self.config)),
                "PULUMI_PROJECT": self.project, "PULUMI_STACK": self.stack, "PULUMI_DRY_RUN": "true",
                "PULUMI_ORGANIZATION": "organization", "PYTHONDONTWRITEBYTECODE": "1"}

    def spawn(self) -> "PolicyPackProcess":
        if self.process is None:
            self.process = subprocess.Popen(
                [self.python, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, str(self.pack_dir)],
                cwd=self.pack_dir, env=self.environment(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=self._stderr)
        return self

    def __enter__(self) -> "PolicyPackProcess":
        return self.spawn()

    def __exit__(self, *exc) -> None:
        self.close()

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()

    def _read_port(self) -> int:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            if time.monotonic() > deadline:
                raise PackError(f"the policy pack printed no port within {START_TIMEOUT_S} s")
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 64)
                if not chunk:
                    break
                line += chunk
            elif self.process.poll() is not None:
                break
        text = line.decode(errors="replace").strip()
        if not text.isdigit():
            try:
                code = self.process.wait(timeout=5)  # it closed stdout: it is exiting
            except subprocess.TimeoutExpired:
                code = None
            raise PackError(f"the policy pack in {self.pack_dir} did not start"
                            + (f" (exit {code})" if code is not None else "")
                            + (f": {text}" if text else "") + (f"\n{self._stderr_text()}" if self._stderr_text() else ""))
        # Keep draining stdout so a chatty rule can never block the pack on a full pipe.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        return int(text)

    def connect(self) -> "PolicyPackProcess":
        """Wait for the port, then the CLI's handshake: GetAnalyzerInfo, Configure, ConfigureStack."""
        if self.stub is not None:
            return self
        self.spawn()
        port = self._read_port()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self.info = self._call(self.stub.GetAnalyzerInfo, empty_pb2.Empty())
        request, self.levels = reconcile(self.info, self.pack_config)
        self._call(self.stub.Configure, request)
        self._call(self.stub.ConfigureStack, analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=self.stack, project=self.project, organization="organization", dry_run=True,
            config=engine_config(self.config)))
        return self

    def _call(self, method, request):
        try:
            return method(request, timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as err:
            detail = err.details() if hasattr(err, "details") else str(err)
            name = type(request).__name__.removesuffix("Request")
            raise PackError(f"the policy pack failed to answer {name}: {detail}"
                            + (f"\n{self._stderr_text()}" if self._stderr_text() else "")) from None

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

    # --- the Analyzer service -----------------------------------------------------------

    def _options(self, r: Resource) -> analyzer_pb2.AnalyzerResourceOptions:
        return analyzer_pb2.AnalyzerResourceOptions(protect=r.protect, parent=r.parent or "")

    @staticmethod
    def _provider(r: Resource, by_urn: dict[str, Resource]) -> analyzer_pb2.AnalyzerProviderResource | None:
        # A provider reference is `<provider urn>::<provider id>`.
        provider = by_urn.get(r.provider.rsplit("::", 1)[0]) if r.provider else None
        if provider is None:
            return None
        return analyzer_pb2.AnalyzerProviderResource(type=provider.type, properties=_struct(provider.properties),
                                                     urn=provider.urn, name=provider.name)

    def analyze(self, r: Resource, by_urn: dict[str, Resource] | None = None) -> list[Violation]:
        self.connect()
        provider = self._provider(r, by_urn or {})
        request = analyzer_pb2.AnalyzeRequest(type=r.type, properties=_struct(r.properties), urn=r.urn, name=r.name,
                                              options=self._options(r), provider=provider)
        response = self._call(self.stub.Analyze, request)
        return [self._violation(d, r) for d in response.diagnostics]

    def analyze_stack(self, resources: list[Resource]) -> list[Violation]:
        self.connect()
        by_urn = {r.urn: r for r in resources}
        request = analyzer_pb2.AnalyzeStackRequest(resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type, properties=_struct(r.properties), urn=r.urn, name=r.name, options=self._options(r),
                provider=self._provider(r, by_urn), parent=r.parent or "", dependencies=list(r.dependencies),
                propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(v))
                                      for k, v in r.property_dependencies.items() if v})
            for r in resources])
        response = self._call(self.stub.AnalyzeStack, request)
        return [self._violation(d, by_urn.get(d.urn)) for d in response.diagnostics]

    @staticmethod
    def _violation(d: analyzer_pb2.AnalyzeDiagnostic, resource: Resource | None) -> Violation:
        text = d.message
        if d.description and text.startswith(d.description + "\n"):
            text = text[len(d.description) + 1:]  # the pack prefixes the policy's description
        return Violation(policy=d.policyName, level=LEVEL_NAMES.get(d.enforcementLevel, "advisory"), message=text,
                         urn=resource.urn if resource else d.urn, resource=resource.name if resource else "",
                         type=resource.type if resource else "")


def reconcile(info: analyzer_pb2.AnalyzerInfo, pack_config: dict[str, Any] | None
              ) -> tuple[analyzer_pb2.ConfigureAnalyzerRequest, dict[str, str]]:
    """What the CLI does before Configure: each policy's default level and schema defaults, then the
    pack's initial config, then a --policy-pack-config file ("all" first, then per policy)."""
    levels: dict[str, str] = {}
    props: dict[str, dict] = {}
    for policy in info.policies:
        levels[policy.name] = LEVEL_NAMES[policy.enforcementLevel]
        schema = json_format.MessageToDict(policy.configSchema.properties)
        props[policy.name] = {k: v["default"] for k, v in schema.items() if isinstance(v, dict) and "default" in v}
    for name, config in info.initialConfig.items():
        if name in levels:
            levels[name] = LEVEL_NAMES[config.enforcementLevel]
            props[name].update(json_format.MessageToDict(config.properties))
    config = dict(pack_config or {})
    strays = sorted(set(config) - set(levels) - {"all"})
    if strays:
        raise CheckError(f"policy pack config names unknown policies {', '.join(strays)}; "
                         f"policies: all, {', '.join(sorted(levels))}")

    def apply(name: str, value: Any) -> None:
        level = value if isinstance(value, str) else (value or {}).get("enforcementLevel")
        if level is not None:
            if level not in LEVEL_VALUES:
                raise CheckError(f"policy pack config {name}: enforcement level {level!r}; "
                                 f"allowed: {', '.join(LEVEL_VALUES)}")
            for target in (levels if name == "all" else [name]):
                levels[target] = level
        if isinstance(value, dict) and name != "all":
            props[name].update({k: v for k, v in value.items() if k != "enforcementLevel"})

    if "all" in config:
        apply("all", config.pop("all"))
    for name, value in config.items():
        apply(name, value)
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, level in levels.items():
        entry = request.policyConfig[name]
        entry.enforcementLevel = LEVEL_VALUES[level]
        if props[name]:
            entry.properties.update(props[name])
    return request, levels


# --- one stack ------------------------------------------------------------------------------

@dataclass
class Report:
    stack: str
    phase: str = ""
    target: str = ""
    source: str = ""
    resources: int = 0
    policies: int = 0
    pack: str = ""
    violations: list[Violation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Why the stack could not be checked (invalid spec, program error, pack failure)."""
    order: list[Resource] = field(default_factory=list)

    @property
    def mandatory(self) -> int:
        return sum(v.mandatory for v in self.violations)

    @property
    def advisory(self) -> int:
        return len(self.violations) - self.mandatory

    @property
    def failed(self) -> bool:
        return bool(self.problems) or self.mandatory > 0


def analyze(pack: PolicyPackProcess, resources: list[Resource], report: Report) -> Report:
    """Every resource through Analyze (what the engine does at registration), then AnalyzeStack once."""
    by_urn = {r.urn: r for r in resources}
    for resource in resources:
        if resource.type != "pulumi:pulumi:Stack":
            report.violations += pack.analyze(resource, by_urn)
    report.violations += pack.analyze_stack(resources)
    report.resources = sum(1 for r in resources if r.custom and r.type != "pulumi:pulumi:Stack")
    report.policies = len(pack.info.policies) if pack.info else 0
    report.pack = f"{pack.info.name} {pack_version()}" if pack.info else ""
    report.order = resources
    return report


def pack_version() -> str:
    try:
        return str(yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text()).get("version", ""))
    except (OSError, yaml.YAMLError, AttributeError):
        return ""


def setting(config: dict[str, Any], project: str, key: str) -> str:
    return str(config.get(f"{project}:{key}") or "")


def check_stack(stack: str, config: dict[str, Any], pack_config: dict | None = None,
                stack_file: str | None = None) -> Report:
    """Spec, program under mocks, then the pack: the same path `make check STACK=...` takes."""
    from pulumi import RunError

    from tools.offline import run_program
    from tools.plan import spec_problems

    project = project_name()
    report = Report(stack, setting(config, project, "phase"), setting(config, project, "target"),
                    source="offline under mocks")
    problems = spec_problems(stack, config, project)
    if problems:
        where = stack_file or f"stacks/Pulumi.{stack}.yaml"
        report.problems = [f"{len(problems)} problem(s) in {where}; nothing was checked:", *problems]
        return report
    # The pack boots while the program runs.
    with PolicyPackProcess(config, project, stack, pack_config=pack_config) as pack:
        try:
            plan = run_program(stack, config)
        except RunError as err:
            report.problems = [f"the program failed under mocks: {err}"]
            return report
        except Exception as err:  # noqa: BLE001 - a bug in the program: show it, check the other stacks
            traceback.print_exc()
            report.problems = [f"the program raised {type(err).__name__} under mocks: {err} (traceback above)"]
            return report
        try:
            return analyze(pack, [Resource.from_captured(r) for r in plan.resources], report)
        except PackError as err:
            report.problems = [str(err)]
            return report


def check_resources(resources: list[Resource], config: dict[str, Any], project: str, stack: str,
                    source: str, pack_config: dict | None = None) -> Report:
    report = Report(stack, setting(config, project, "phase"), setting(config, project, "target"), source=source)
    with PolicyPackProcess(config, project, stack, pack_config=pack_config) as pack:
        try:
            return analyze(pack, resources, report)
        except PackError as err:
            report.problems = [str(err)]
            return report


# --- a real run's resources as JSON ---------------------------------------------------------

def _unwrap_secrets(value: Any) -> Any:
    """Exported state keeps secrets as {sig: secret, ciphertext|plaintext}: readable plaintext is
    used, ciphertext becomes an unknown value (the rule reports it can't tell)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            if "plaintext" in value:
                try:
                    return _unwrap_secrets(json.loads(value["plaintext"]))
                except (TypeError, ValueError):
                    return value["plaintext"]
            if "value" in value:
                return _unwrap_secrets(value["value"])
            return UNKNOWN
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


def _urn_parts(urn: str) -> tuple[str, str, str]:
    """(stack, project, name) of `urn:pulumi:<stack>::<project>::<type>::<name>`."""
    parts = urn.split("::")
    stack = parts[0].split(":")[-1] if parts else ""
    return stack, parts[1] if len(parts) > 1 else "", parts[-1] if parts else ""


def load_resources_json(path: pathlib.Path) -> tuple[list[Resource], dict[str, Any], str]:
    """Resources (and any config) from `pulumi preview --json`, `pulumi stack export` or a list."""
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise CheckError(f"cannot read {path}: {err.strerror}") from None
    except ValueError as err:
        raise CheckError(f"{path}: not valid JSON: {err}") from None
    config: dict[str, Any] = {}
    if isinstance(data, dict) and isinstance(data.get("steps"), list):  # pulumi preview --json
        states = [s.get("newState") for s in data["steps"] if isinstance(s, dict) and s.get("newState")]
        config = dict(data.get("config") or {})
        kind = "pulumi preview --json"
    elif isinstance(data, dict) and isinstance(data.get("deployment"), dict):  # pulumi stack export
        states = data["deployment"].get("resources") or []
        kind = "pulumi stack export"
    elif isinstance(data, dict) and isinstance(data.get("resources"), list):
        states, kind = data["resources"], "resource list"
    elif isinstance(data, list):
        states, kind = data, "resource list"
    else:
        raise CheckError(f"{path}: expected the output of `pulumi preview --json` (steps) or "
                         "`pulumi stack export` (deployment.resources)")
    resources = []
    for state in states:
        if not isinstance(state, dict) or not state.get("urn") or not state.get("type"):
            raise CheckError(f"{path}: every resource needs a urn and a type; found {json.dumps(state)[:120]}")
        inputs = _unwrap_secrets(state.get("inputs") or {})
        outputs = _unwrap_secrets(state.get("outputs") or {})
        resources.append(Resource(
            urn=state["urn"], type=state["type"], name=_urn_parts(state["urn"])[2],
            # The engine analyzes inputs; outputs fill what only the provider knows (arn, id).
            properties={**outputs, **inputs}, parent=state.get("parent") or "",
            dependencies=list(state.get("dependencies") or []),
            property_dependencies={k: list(v or []) for k, v in (state.get("propertyDependencies") or {}).items()},
            provider=state.get("provider") or "", protect=bool(state.get("protect")),
            custom=bool(state.get("custom", True))))
    return resources, config, kind


# --- printing -------------------------------------------------------------------------------

def print_report(report: Report, out=None) -> None:
    out = out or sys.stdout
    where = ", ".join(x for x in (f"phase {report.phase or '?'}", report.target and f"target {report.target}") if x)
    out.write(f"== {report.stack} ({where})\n")
    for line in report.problems:
        out.write(f"  {line}\n")
    if report.problems:
        out.write(f"{report.stack}: FAILED (could not be checked)\n\n")
        return
    groups: dict[str, list[Violation]] = {}
    for violation in report.violations:
        groups.setdefault(violation.urn if violation.resource else "", []).append(violation)
    names = {r.urn: r for r in report.order}
    for urn in [r.urn for r in report.order if r.urn in groups] + ([""] if "" in groups else []):
        resource = names.get(urn)
        out.write(f"{resource.name} ({resource.type})\n" if resource else "the stack as a whole\n")
        for v in sorted(groups[urn], key=lambda v: (not v.mandatory, v.policy)):
            out.write(f"  {v.level:<9}  {v.policy}: {v.short_message()}\n")
    verdict = "FAIL" if report.failed else "pass"
    out.write(f"{report.stack}: {verdict}: {report.mandatory} mandatory, {report.advisory} advisory violation(s); "
              f"{report.resources} resources ({report.source}), {report.policies} policies of {report.pack}\n\n")


# --- the command line -----------------------------------------------------------------------

def _stack_from_file(path: pathlib.Path) -> str:
    name = path.name
    if name.startswith("Pulumi.") and name.endswith((".yaml", ".yml")):
        return name[len("Pulumi."):].rsplit(".", 1)[0]
    return path.stem


def _read_pack_config(path: str | None) -> dict | None:
    if not path:
        return None
    try:
        data = json.loads(pathlib.Path(path).read_text()) if not path.endswith((".yaml", ".yml")) \
            else yaml.safe_load(pathlib.Path(path).read_text())
    except OSError as err:
        raise CheckError(f"cannot read policy pack config {path}: {err.strerror}") from None
    except (ValueError, yaml.YAMLError) as err:
        raise CheckError(f"policy pack config {path}: not valid JSON/YAML: {err}") from None
    if not isinstance(data, dict):
        raise CheckError(f"policy pack config {path}: expected an object keyed by policy name (or all)")
    return data


def _config_for_json(args, json_config: dict) -> tuple[dict, str | None]:
    """The config that gives a JSON run its phase: --stack-config (a file or a stack name) or the
    preview's own config."""
    if args.stack_config:
        candidate = pathlib.Path(args.stack_config)
        if not candidate.exists() and args.stack_config in stack_names():
            candidate = STACKS_DIR / f"Pulumi.{args.stack_config}.yaml"
        try:
            return stack_config(_stack_from_file(candidate), candidate), _stack_from_file(candidate)
        except StackFileError as err:
            raise CheckError(str(err)) from None
    if json_config:
        decoded = {}
        for key, value in json_config.items():
            if isinstance(value, str) and value.startswith(("{", "[")):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            decoded[key] = value
        return decoded, None
    raise CheckError("the resources' phase is unknown: pass --stack-config stacks/Pulumi.<stack>.yaml "
                     "(or a stack name)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.check", description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", metavar="STACK", help=f"default: all of {', '.join(stack_names())}")
    parser.add_argument("--stack-file", action="append", default=[], metavar="PATH",
                        help="check a stack file outside stacks/ (its name: Pulumi.<stack>.yaml)")
    parser.add_argument("--resources-json", metavar="FILE",
                        help="check the resources of a real run: `pulumi preview --json` or `pulumi stack export`")
    parser.add_argument("--stack-config", metavar="FILE|STACK",
                        help="with --resources-json: the stack file whose config (phase) applies")
    parser.add_argument("--policy-pack-config", metavar="FILE",
                        help="levels and settings per policy, as for `pulumi preview --policy-pack-config`")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except CheckError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args) -> int:
    pack_config = _read_pack_config(args.policy_pack_config)
    if args.resources_json:
        if args.stacks or args.stack_file:
            raise CheckError("name stacks or --resources-json, not both")
        resources, json_config, kind = load_resources_json(pathlib.Path(args.resources_json))
        config, config_stack = _config_for_json(args, json_config)
        urn_stack, urn_project = (_urn_parts(resources[0].urn)[:2] if resources else ("", ""))
        stack = config_stack or urn_stack or "stack"
        report = check_resources(resources, config, urn_project or project_name(), stack,
                                 f"from {kind} {args.resources_json}", pack_config)
        print_report(report)
        return 1 if report.failed else 0
    if args.stack_config:
        raise CheckError("--stack-config goes with --resources-json")

    known = stack_names()
    unknown_stacks = [s for s in args.stacks if s not in known]
    if unknown_stacks:
        raise CheckError(f"unknown stack {', '.join(unknown_stacks)}; stacks: {', '.join(known)}")
    todo: list[tuple[str, dict, str | None]] = []
    for path in map(pathlib.Path, args.stack_file):
        try:
            todo.append((_stack_from_file(path), stack_config(_stack_from_file(path), path), str(path)))
        except StackFileError as err:
            raise CheckError(str(err)) from None
    names = args.stacks or ([] if args.stack_file else known)
    for stack in names:
        try:
            todo.append((stack, stack_config(stack), None))
        except StackFileError as err:
            raise CheckError(str(err)) from None

    reports = []
    for stack, config, stack_file in todo:
        report = check_stack(stack, config, pack_config, stack_file)
        print_report(report)
        sys.stdout.flush()
        reports.append(report)
    failed = [r.stack for r in reports if r.failed]
    if len(reports) > 1:
        print(f"checked {len(reports)} stacks: {len(reports) - len(failed)} passed"
              + (f", {len(failed)} failed ({', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The mock runtime leaves an event loop whose finalizer complains at interpreter exit.
    os._exit(code)
