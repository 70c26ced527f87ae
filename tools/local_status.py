"""What a local stack runs right now, and its logs.

    python -m tools.local_status [--stack local-dev] [--state-dir DIR] [--json]   (make local-status)
    python -m tools.local_status [--stack local-dev] --logs [--lines 20]          (make local-logs)

The status lists every process the stack keeps running (what the supervisor would restart): its
port(s), pid, state (running, unhealthy, stopped, dead), health check result, restarts by the
supervisor, and log files. `--logs` follows every one of those logs (`tail -F`, so it keeps
following a log across a rotation). The state dir comes from the stack's `local.state_dir`
(default `.state/<stack>`); nothing is started or changed.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import sys

from components.local.locks import state_dir_owner
from components.local.options import options_of
from components.local.status import topology_status
from components.spec import SpecError, parse_spec
from tools.offline import StackFileError, project_keys, project_name, stack_config


def state_dir_of(stack: str) -> pathlib.Path:
    """The stack's state dir (raises StackFileError, SpecError, or ValueError for another target)."""
    raw = project_keys(stack_config(stack))
    if raw.get("target") != "local":
        raise ValueError(f"target is {raw.get('target')!r}; only a stack whose target is local runs processes "
                         f"on this machine (e.g. local-dev)")
    return options_of(parse_spec(raw, project_name())).resolve_state_dir(stack)


def table(rows: list[dict], state_dir: pathlib.Path) -> str:
    owner = state_dir_owner(state_dir)
    head = f"state dir {state_dir}" + (f" (owner: stack {owner['stack']})" if owner else "")
    header = ("process", "ports", "pid", "state", "health", "restarts", "log")
    lines = [[r["key"], ",".join(map(str, r["ports"])) or "-", str(r["pid"] or "-"), r["state"], r["health"],
              str(r["restarts"]), r["logs"][0]] for r in rows]
    widths = [max(len(x) for x in column) for column in zip(header, *lines, strict=True)]
    out = [head, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    indent = sum(widths[:-1]) + 2 * (len(widths) - 1)
    for r, line in zip(rows, lines, strict=True):
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        out += [" " * indent + path for path in r["logs"][1:]]  # logs the process writes itself
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local_status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="local-dev")
    parser.add_argument("--state-dir", help="instead of the stack's local.state_dir")
    parser.add_argument("--json", action="store_true", help="the rows as JSON")
    parser.add_argument("--logs", action="store_true", help="follow every process's logs (tail -F)")
    parser.add_argument("--lines", type=int, default=20, help="with --logs: lines of each log to show first")
    args = parser.parse_args(argv)
    if not 0 <= args.lines <= 10_000:
        parser.error("--lines must be 0..10000")
    try:
        state_dir = pathlib.Path(args.state_dir).resolve() if args.state_dir else state_dir_of(args.stack)
    except (StackFileError, ValueError) as err:
        parser.error(f"--stack {args.stack}: {err}")
    except SpecError as err:
        print(f"local_status: stack {args.stack}: {len(err.problems)} problem(s) in its config:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    rows = topology_status(state_dir)
    if not rows:
        print(f"local_status: nothing runs for stack {args.stack} in {state_dir} "
              f"(start it with: make up STACK={args.stack})", file=sys.stderr)
        return 1
    if args.logs:
        tail = shutil.which("tail")
        if tail is None:
            print("local_status: `tail` not found on PATH (Debian: coreutils)", file=sys.stderr)
            return 1
        logs = [path for r in rows for path in r["logs"]]
        sys.stdout.flush()
        os.execv(tail, [tail, "-n", str(args.lines), "-F", *logs])
    print(json.dumps(rows, indent=2) if args.json else table(rows, state_dir))
    return 0 if all(r["state"] == "running" for r in rows) else 3


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
