"""URN snapshots: `python -m tools.urns [--write] [STACK ...]`.

A resource's URN is its identity in the Pulumi state. A change that gives a deployed resource a
new URN (a renamed type token, a new parent, a new name) makes `pulumi up` delete it and create
another, unless the program declares the old URN as an `Alias`. So every shipped stack's URN set
is recorded in tests/fixtures/urns/<stack>.txt, and tests/test_urn_snapshot.py checks that each
recorded URN is still registered or reached through an alias. Run with --write only when a
change of identity is intended, and review the diff of the snapshot like any other.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys

from tools.offline import Plan, engine_urn, run_program, stack_names

SNAPSHOT_DIR = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "urns"


def snapshot_path(stack: str) -> pathlib.Path:
    return SNAPSHOT_DIR / f"{stack}.txt"


def read_snapshot(stack: str) -> list[str]:
    return [line for line in snapshot_path(stack).read_text().splitlines() if line and not line.startswith("#")]


def write_snapshot(plan: Plan) -> pathlib.Path:
    """Record the plan's URNs, keeping every recorded URN an alias still reaches: those are the
    identities of resources deployed before a rename, which must stay reachable."""
    path = snapshot_path(plan.stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    recorded = read_snapshot(plan.stack) if path.exists() else []
    aliased = set().union(*alias_urns(plan).values()) if plan.resources else set()
    kept = {urn for urn in recorded if urn in aliased}
    lines = ["# URNs of every resource the stack registers (python -m tools.urns --write); see tools/urns.py",
             *sorted({r.urn for r in plan.resources} | kept)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _parts(urn: str) -> tuple[str, str, str, str]:
    """(stack, project, qualified type, name) of a URN."""
    head, project, qualified, name = urn.split("::", 3)
    return head.removeprefix("urn:pulumi:"), project, qualified, name


def alias_urns(plan: Plan) -> dict[str, set[str]]:
    """Every URN each resource answers to besides its own: its aliases, and the aliases it
    inherits from its parents' aliases, computed the way the engine does."""
    by_urn = {r.urn: r for r in plan.resources}
    memo: dict[str, set[str]] = {}

    def of(urn: str) -> set[str]:
        if urn in memo:
            return memo[urn]
        memo[urn] = set()
        resource = by_urn.get(urn)
        if resource is None:
            return memo[urn]
        stack, project, qualified, name = _parts(urn)
        own_type = qualified.rsplit("$", 1)[-1]
        found: set[str] = set()
        for alias in resource.aliases:
            if "urn" in alias:
                found.add(alias["urn"])
                continue
            parent = "" if alias.get("noParent") else alias.get("parentUrn", resource.parent)
            found.add(engine_urn(alias.get("stack", stack), alias.get("project", project), parent,
                                 alias.get("type", own_type), alias.get("name", name)))
        # A child of an aliased parent answers to its own name under each of the parent's old URNs.
        for parent_alias in of(resource.parent) if resource.parent else ():
            found.add(engine_urn(stack, project, parent_alias, own_type, name))
        memo[urn] = found
        return found

    return {urn: of(urn) for urn in by_urn}


def lost_urns(plan: Plan, recorded: list[str]) -> list[str]:
    """Recorded URNs the plan no longer registers and no alias reaches: resources `pulumi up`
    would delete and create anew."""
    reached = {r.urn for r in plan.resources}
    for urns in alias_urns(plan).values():
        reached |= urns
    return sorted(set(recorded) - reached)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.urns", description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", help="default: every shipped stack")
    parser.add_argument("--write", action="store_true", help="record the current URNs as the snapshot")
    args = parser.parse_args(argv)
    failed = 0
    for stack in args.stacks or stack_names():
        plan = run_program(stack)
        if args.write:
            path = write_snapshot(plan)
            print(f"{stack}: wrote {len(read_snapshot(stack))} URNs to {path.name}")
            continue
        lost = lost_urns(plan, read_snapshot(stack))
        failed += bool(lost)
        print(f"{stack}: {len(lost)} recorded URN(s) lost" + "".join(f"\n  {u}" for u in lost))
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
