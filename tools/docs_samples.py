"""Sample outputs in the docs, made by running the commands: `python -m tools.docs_samples [--write] [--live]`.

A sample block is the fenced block right after a marker line `<!-- sample NAME -->` in README.md or
docs/*.md. Offline samples (a refused plan, a refused check) are deterministic: tests/test_docs.py
fails when one differs from what the command prints now, and `--write` refreshes them. Live samples
(the local benchmark) run real processes and vary from run to run: `--write --live` refreshes them
from a fresh run (about a minute). Without `--write`, the stale samples are listed (exit 1 if any).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import pathlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable

import yaml

from tools.offline import REPO, STACKS_DIR

MARKER = re.compile(r"^<!-- sample ([a-z0-9-]+) -->\n```[a-z]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
CHECK_LINES = 9
"""The refused check's sample keeps its first lines and its verdict (the middle is elided)."""


def _stack_file(directory: pathlib.Path, name: str, config: dict) -> pathlib.Path:
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


def _run(main: Callable[[list[str]], int], argv: list[str]) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        main(argv)
    return out.getvalue() + err.getvalue()


def plan_broken() -> str:
    """`make plan` on a stack with two mistakes: what a refusal looks like."""
    from tools import plan
    config = yaml.safe_load((STACKS_DIR / "Pulumi.kubernetes-dev.yaml").read_text())["config"]
    config["apigw:phase"] = "qa"
    config["apigw:services"]["users-api"]["instances"] = {"min": 3, "max": 1}
    with tempfile.TemporaryDirectory() as scratch:
        path = _stack_file(pathlib.Path(scratch), "broken", config)
        text = _run(plan.main, ["broken", "--stack-file", str(path)]).replace(str(path), "stacks/Pulumi.broken.yaml")
    return "$ make plan STACK=broken\n" + text


def check_single_host_prod() -> str:
    """`make check` on a copy of kubernetes-prod with every minimum at 1: the pack's refusal."""
    from tools import check
    config = copy.deepcopy(yaml.safe_load((STACKS_DIR / "Pulumi.kubernetes-prod.yaml").read_text())["config"])
    config["apigw:gateway"]["instances"]["min"] = 1
    for service in config["apigw:services"].values():
        service["instances"]["min"] = 1
    with tempfile.TemporaryDirectory() as scratch:
        path = _stack_file(pathlib.Path(scratch), "kubernetes-prod-copy", config)
        lines = _run(check.main, ["--stack-file", str(path)]).replace(str(path), "stacks/Pulumi.kubernetes-prod-copy"
                                                                               ".yaml").rstrip("\n").splitlines()
    verdict = next(i for i, line in enumerate(lines) if line.startswith("kubernetes-prod-copy: "))
    return "\n".join([*lines[:CHECK_LINES], "...", lines[verdict]]) + "\n"


def bench_local() -> str:
    result = subprocess.run([sys.executable, "-m", "tools.bench_local"], cwd=REPO, capture_output=True, text=True,
                            timeout=900)
    if result.returncode:
        raise RuntimeError(f"make bench-local failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


OFFLINE = {"plan-broken": plan_broken, "check-single-host-prod": check_single_host_prod}
LIVE = {"bench-local": bench_local}


def documents() -> list[pathlib.Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def samples_in(text: str) -> dict[str, str]:
    return {name: body for name, body in MARKER.findall(text)}


def refresh(live: bool, write: bool) -> list[str]:
    """Names of the samples that differ from a fresh run (rewritten when `write`)."""
    makers = {**OFFLINE, **(LIVE if live else {})}
    made: dict[str, str] = {}
    stale = []
    for doc in documents():
        text = doc.read_text()

        def replace(match: re.Match, doc: pathlib.Path = doc) -> str:
            name, body = match.group(1), match.group(2)
            if name not in makers:
                return match.group(0)
            if name not in made:
                made[name] = makers[name]()
            fresh = made[name]
            if fresh != body:
                stale.append(f"{doc.relative_to(REPO)}: {name}")
            return match.group(0).replace(body, fresh, 1)

        new = MARKER.sub(replace, text)
        if write and new != text:
            doc.write_text(new)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.docs_samples", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the stale samples in place")
    parser.add_argument("--live", action="store_true", help="also run the live samples (the local benchmark)")
    args = parser.parse_args(argv)
    stale = refresh(args.live, args.write)
    for line in stale:
        print(f"{'refreshed' if args.write else 'stale'}: {line}")
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
