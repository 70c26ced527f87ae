"""Offline policy check: `python -m tools.check [STACK ...]` (every stack when none is named).

For each stack: validate its spec, run the real program under Pulumi's mocks (tools/offline.py),
send every captured resource through the policy pack in policies/, started and spoken to exactly
as the Pulumi CLI does (tools/policy_pack.py: `Analyze` for each, `AnalyzeStack` once, with
parents and dependencies), and print the violations grouped by resource. Exit 1 when any stack
has a mandatory violation (or cannot be checked), 0 otherwise, 2 on bad arguments.

`--resources-json FILE` checks the resources of a real run instead (`pulumi preview --json` or
`pulumi stack export`); `--stack-config` names the stack file that gives its phase.

Nothing is created and no provider is contacted: this checks what the program asks for.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

import yaml
from pulumi.runtime import rpc

from tools.offline import (
    SECRET_SIG,
    SECRET_SIG_KEY,
    STACKS_DIR,
    StackFile,
    StackFileError,
    project_name,
    read_stack,
    stack_names,
)

# The pack process and its protocol; re-exported here, where the tests and callers import them.
from tools.policy_pack import PACK_DIR, CheckError, PackError, PolicyPackProcess, Resource, Violation

UNKNOWN = rpc.UNKNOWN
"""The engine's sentinel for a value that is unknown until the update (tools/offline.py emits it too)."""


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
                stack_file: str | None = None, parsed: StackFile | None = None) -> Report:
    """Spec, program under mocks, then the pack: the same path `make check STACK=...` takes."""
    from pulumi import RunError

    from tools.offline import run_program
    from tools.plan import spec_problems

    project = project_name()
    report = Report(stack, setting(config, project, "phase"), setting(config, project, "target"),
                    source="offline under mocks")
    problems = spec_problems(stack, config, project, parsed)
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
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
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
        _check_state_shape(path, state)
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


def _check_state_shape(path: pathlib.Path, state: dict) -> None:
    """The fields the check reads have the engine's shapes, so a hand-edited file is refused with
    its resource named instead of failing half-way with a traceback."""
    expected = {"inputs": dict, "outputs": dict, "dependencies": list, "propertyDependencies": dict,
                "parent": str, "provider": str}
    for key, kind in expected.items():
        value = state.get(key)
        if value is not None and not isinstance(value, kind):
            raise CheckError(f"{path}: {state['urn']}: {key} is {type(value).__name__}; "
                             f"expected {'an object' if kind is dict else 'a list' if kind is list else 'a string'}")
    for key, urns in (state.get("propertyDependencies") or {}).items():
        if urns is not None and not isinstance(urns, list):
            raise CheckError(f"{path}: {state['urn']}: propertyDependencies.{key} is {type(urns).__name__}; "
                             "expected a list of URNs")


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
    # By name, not registration order: the program registers concurrently, so that order changes
    # from run to run and two checks of the same plan would print differently.
    resources = sorted((r for r in report.order if r.urn in groups), key=lambda r: (r.name, r.type, r.urn))
    for urn in [r.urn for r in resources] + ([""] if "" in groups else []):
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


def _read_stack(stack: str, path: pathlib.Path | None = None) -> tuple[dict, StackFile]:
    """A stack file's config and what the strict reader found in it; any problem reading it is a
    bad argument (exit 2), never a traceback."""
    try:
        return read_stack(stack, path)
    except StackFileError as err:
        raise CheckError(str(err)) from None
    except OSError as err:
        raise CheckError(f"cannot read stack file {path or stack}: {err.strerror}") from None


def _config_for_json(args, json_config: dict) -> tuple[dict, str | None]:
    """The config that gives a JSON run its phase: --stack-config (a file or a stack name) or the
    preview's own config."""
    if args.stack_config:
        candidate = pathlib.Path(args.stack_config)
        if not candidate.exists() and args.stack_config in stack_names():
            candidate = STACKS_DIR / f"Pulumi.{args.stack_config}.yaml"
        return _read_stack(_stack_from_file(candidate), candidate)[0], _stack_from_file(candidate)
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
    previous = _stop_on_sigterm()
    try:
        return _run(args)
    except CheckError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm():
    """SIGTERM (a cancelled CI job, `timeout`) unwinds like Ctrl-C, so every `with PolicyPackProcess`
    stops its pack. Returns the handler it replaced (None off the main thread, where it can't)."""
    def stop(signum, _frame):
        raise SystemExit(128 + signum)
    try:
        return signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        return None


def _run(args) -> int:
    pack_config = _read_pack_config(args.policy_pack_config)
    if args.resources_json:
        if args.stacks or args.stack_file:
            raise CheckError("name stacks or --resources-json, not both")
        resources, json_config, kind = load_resources_json(pathlib.Path(args.resources_json))
        config, config_stack = _config_for_json(args, json_config)
        urn_stack, urn_project = (_urn_parts(resources[0].urn)[:2] if resources else ("", ""))
        stack = config_stack or urn_stack or "stack"
        project = urn_project or project_name()
        if not setting(config, project, "phase"):
            # Without it every rule would default to advisory: a prod plan would pass unseen.
            raise CheckError(f"no {project}:phase in the config of {args.stack_config or args.resources_json} "
                             f"(the resources belong to project {project}); pass --stack-config with the stack "
                             "file whose phase applies")
        report = check_resources(resources, config, project, stack,
                                 f"from {kind} {args.resources_json}", pack_config)
        print_report(report)
        return 1 if report.failed else 0
    if args.stack_config:
        raise CheckError("--stack-config goes with --resources-json")

    known = stack_names()
    unknown_stacks = [s for s in args.stacks if s not in known]
    if unknown_stacks:
        raise CheckError(f"unknown stack {', '.join(unknown_stacks)}; stacks: {', '.join(known)}")
    todo: list[tuple[str, tuple[dict, StackFile], str | None]] = []
    for path in map(pathlib.Path, args.stack_file):
        todo.append((_stack_from_file(path), _read_stack(_stack_from_file(path), path), str(path)))
    names = args.stacks or ([] if args.stack_file else known)
    for stack in names:
        todo.append((stack, _read_stack(stack), None))

    reports = []
    for stack, (config, parsed), stack_file in todo:
        report = check_stack(stack, config, pack_config, stack_file, parsed)
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
