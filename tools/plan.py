"""Offline plan: `python -m tools.plan STACK [--manifests DIR]`.

Runs the real program for STACK under Pulumi's mocks (no CLI, no cloud account), prints every
resource by type and name as a tree under its component, then a count per type. With
--manifests, writes the Kubernetes resources as YAML files ready for `kubectl diff -f DIR`.

This is a preview of what the program would ask the engine for, not a deployment: nothing is
created and no provider is contacted.
"""
from __future__ import annotations

import argparse
import collections
import os
import pathlib
import sys

import yaml
from pulumi import RunError

from components.spec import SpecError, parse_spec
from tools.offline import (
    SECRET_PLACEHOLDER,
    SECRET_SIG,
    SECRET_SIG_KEY,
    CapturedResource,
    Plan,
    StackFile,
    StackFileError,
    project_keys,
    read_stack,
    run_example,
    run_program,
    stack_names,
)


def spec_problems(stack: str, config: dict, project: str, stack_file: StackFile | None = None) -> list[str]:
    """Validate before running anything, so a bad stack registers nothing: the stack file's own
    problems (duplicate keys), then the spec's, told how to quote what YAML did not read as text."""
    try:
        parse_spec(project_keys(config, project), project, stack_file)
    except SpecError as err:
        return [f"{project}:{problem}" for problem in err.problems]
    return []


def print_tree(plan: Plan, out=sys.stdout) -> None:
    children: dict[str, list[CapturedResource]] = collections.defaultdict(list)
    for resource in plan.resources:
        children[resource.parent].append(resource)

    by_urn = {r.urn: r for r in plan.resources}

    def walk(parent_urn: str, depth: int) -> None:
        for resource in sorted(children.get(parent_urn, []), key=lambda r: (r.custom, r.type, r.name)):
            out.write(f"{'    ' * depth}{'+ ' if resource.custom else '= '}{resource.type}  {resource.name}\n")
            for line in DETAILS.get(resource.type, lambda r, _: [])(resource, by_urn):
                out.write(f"{'    ' * (depth + 1)}  {line}\n")
            walk(resource.urn, depth + 1)

    out.write(f"stack {plan.project}/{plan.stack} (offline plan under mocks: nothing is created)\n")
    walk(plan.stack_urn, 1)
    counts = collections.Counter(r.type for r in plan.resources if r.custom)
    out.write("\nresources per type:\n")
    for type_token, count in sorted(counts.items()):
        out.write(f"  {count:4d}  {type_token}\n")
    components = sum(1 for r in plan.resources if not r.custom)
    out.write(f"  {sum(counts.values()):4d}  resources in all, in {components} components\n")


def _number(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def docker_container_lines(resource: CapturedResource, by_urn: dict[str, CapturedResource]) -> list[str]:
    """What a Docker container runs with: image, user, limits, health check, hardening, network and ports."""
    i = resource.inputs
    pulled = [by_urn[u].inputs.get("name") for u in resource.property_dependencies.get("image", []) if u in by_urn]
    check = i.get("healthcheck") or {}
    tests = check.get("tests") or []
    health = "none" if tests in ([], ["NONE"]) else (
        f"{' '.join(tests[1:]) if tests[0] == 'CMD-SHELL' else tests} every {check.get('interval')}, timeout "
        f"{check.get('timeout')}, unhealthy after {_number(check.get('retries'))} failures, start period "
        f"{check.get('startPeriod')}")
    network = [f"{n.get('name')}" + (f" as {', '.join(n['aliases'])}" if n.get("aliases") else "")
               + (f" at {n['ipv4Address']}" if n.get("ipv4Address") else "") for n in i.get("networksAdvanced") or []]
    ports = [f"{p.get('ip')}:{_number(p.get('external'))}->{_number(p.get('internal'))}/{p.get('protocol')}"
             for p in i.get("ports") or []]
    drops = ",".join((i.get("capabilities") or {}).get("drops") or []) or "none"
    image = pulled[0] if pulled else i.get("image")
    return [
        f"name {i.get('name')}, image {image}, user {i.get('user') or '(the image USER)'}",
        f"limits: cpus {i.get('cpus')}, memory {_number(i.get('memory'))} MiB (swap {_number(i.get('memorySwap'))} "
        f"MiB in all), tmpfs {', '.join(f'{k} ({v})' for k, v in (i.get('tmpfs') or {}).items())}",
        f"health: {health}",
        f"restart {i.get('restart')}, root filesystem {'read-only' if i.get('readOnly') else 'WRITABLE'}, "
        f"capabilities dropped {drops}, {', '.join(i.get('securityOpts') or []) or 'no security options'}",
        f"network {', '.join(network)}; published: {', '.join(ports) or 'nothing'}",
    ]


DETAILS = {"docker:index/container:Container": docker_container_lines}
"""Type token -> the lines printed under such a resource in the plan (what a reviewer checks there)."""


def manifest(resource: CapturedResource) -> dict | None:
    """A Kubernetes resource's inputs are already its manifest (apiVersion, kind, camelCase)."""
    if not resource.type.startswith("kubernetes:") or "apiVersion" not in resource.inputs:
        return None
    body = _manifest_value(resource.inputs)
    if isinstance(body.get("metadata"), dict) and not body["metadata"].get("name"):
        # Pulumi names it at `up` (an immutable Secret: a new name per content); the manifest shows a stand-in.
        from tools.mocks.kubernetes import autoname
        body["metadata"] = {"name": autoname(resource.name), **body["metadata"]}
    return body


def _hidden(value):
    """A secret's shape with every value replaced: a manifest on disk never holds one."""
    if isinstance(value, dict):
        return {k: _hidden(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hidden(v) for v in value]
    return SECRET_PLACEHOLDER


def _manifest_value(value):
    """An input as a manifest holds it: the mock engine's floats (3.0) as the integers Kubernetes wants, and a
    secret's values hidden."""
    if isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG:
        return _hidden(value.get("value"))
    if isinstance(value, dict):
        return {k: _manifest_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_manifest_value(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def write_manifests(plan: Plan, directory: pathlib.Path) -> list[pathlib.Path]:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.yaml"):
        stale.unlink()
    bodies: dict[str, tuple[CapturedResource, dict]] = {}
    for resource in plan.resources:
        body = manifest(resource)
        if body is None:
            continue
        meta = body.get("metadata", {})
        name = "-".join(filter(None, [body["kind"].lower(), meta.get("namespace"), meta.get("name")]))
        if name in bodies:  # two objects of one kind and name: the cluster would keep only one
            raise ValueError(f"{resource.name} and {bodies[name][0].name} are both {body['kind']} "
                             f"{meta.get('namespace')}/{meta.get('name')}")
        bodies[name] = (resource, body)
    written = []
    for name, (_, body) in bodies.items():
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump(body, sort_keys=False))
        written.append(path)
    return sorted(written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make plan", description=__doc__.splitlines()[0])
    parser.add_argument("stack", nargs="?", default=os.environ.get("STACK"),
                        help=f"one of: {', '.join(stack_names())}")
    parser.add_argument("--manifests", metavar="DIR", default=os.environ.get("MANIFESTS") or None,
                        help="also write the Kubernetes resources as YAML manifests into DIR")
    parser.add_argument("--stack-file", metavar="PATH", type=pathlib.Path,
                        help="read the stack's config from PATH instead of stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--program", metavar="DIR", type=pathlib.Path, default=os.environ.get("PROGRAM") or None,
                        help="plan a program of its own instead (a folder with Pulumi.yaml and __main__.py, "
                             "e.g. examples/kubernetes-gateway-python)")
    args = parser.parse_args(argv)
    if args.program:
        return _plan_program(args.program, args.manifests)
    if not args.stack:
        parser.error(f"name a stack (STACK=...): {', '.join(stack_names())}")
    try:
        config, parsed = read_stack(args.stack, args.stack_file)
    except StackFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from tools.offline import project_name
    problems = spec_problems(args.stack, config, project_name(), parsed)
    if problems:
        source = args.stack_file or f"stacks/Pulumi.{args.stack}.yaml"
        print(f"stack {args.stack}: {len(problems)} problem(s) in {source}; "
              "nothing was planned:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    try:
        plan = run_program(args.stack, config)
    except RunError as err:
        print(f"stack {args.stack}: {err}", file=sys.stderr)
        return 1
    print_tree(plan)
    warnings = placeholder_warnings(config)
    if warnings:
        print("\n" + "\n".join(warnings))
    return _write(plan, args.manifests)


def _plan_program(directory: pathlib.Path, manifests: str | None) -> int:
    try:
        plan = run_example(directory)
    except StackFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        print(f"error: {directory}: {err} (install the components first: pip install .)", file=sys.stderr)
        return 2
    print_tree(plan)
    return _write(plan, manifests)


PLACEHOLDERS = {"123456789012": "AWS's documentation account", "00000000-0000-0000-0000-000000000000": "a zero id",
                "example.com": "the documentation domain", "my-platform-": "the sample GCP project"}
"""What the shipped stack files' example values contain: `pulumi up` would fail on them, late."""


def placeholder_warnings(config: dict) -> list[str]:
    """`warning: <key> looks like a placeholder (...)` for every config value with a documented example in it."""
    found = []

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for i, child in enumerate(value):
                walk(child, f"{path}[{i}]")
        elif isinstance(value, str):
            for marker, what in PLACEHOLDERS.items():
                if marker in value:
                    found.append(f"warning: {path} looks like a placeholder ({what}: {value}); REPLACE it before "
                                 "`make up`")
                    break
    walk(config, "")
    return found


def _check_custom_resources(plan: Plan) -> int:
    """Custom resources against the vendored CRD schemas (tools/crds.py); 1 when one is invalid."""
    from tools import crds
    report = crds.check(plan.resources)
    if report.checked or report.skipped:
        print("\n" + "\n".join(report.lines()))
    return 1 if report.errors else 0


def _write(plan: Plan, manifests: str | None) -> int:
    if _check_custom_resources(plan):
        return 1
    if not manifests:
        return 0
    try:
        written = write_manifests(plan, pathlib.Path(manifests))
    except ValueError as err:
        print(f"error: no manifests written: {err}", file=sys.stderr)
        return 1
    print(f"\nwrote {len(written)} Kubernetes manifests to {manifests} (try: kubectl diff -f {manifests})")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # The mock runtime leaves an event loop whose finalizer complains at interpreter exit.
    os._exit(code)
