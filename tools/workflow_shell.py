"""ShellCheck on the shell inside the workflows' and composite actions' `run:` blocks (`make lint`).

actionlint does this when it finds shellcheck, but actionlint cannot be installed from a package
registry here (see requirements-dev.txt), so this reads the YAML itself: every step whose shell is
bash or sh (the default on Linux runners) is checked as its own script, and each finding is
reported at its line in the YAML file. A finding is justified in the script itself, with a
`# shellcheck disable=SCnnnn` comment and the reason next to it.

    python -m tools.workflow_shell [FILE...]   (default: .github/workflows/*.yml, .github/actions/*/action.yml)

Exit status: 0 when nothing is found, 1 otherwise, 2 when shellcheck is missing.
"""
from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
# `${{ ... }}` is expanded by the runner before the shell sees the script; stand in a plain word.
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
GCC_LINE = re.compile(r"^-:(\d+):(\d+): (\w+): (.*)$")


@dataclass(frozen=True)
class Script:
    path: pathlib.Path
    line: int  # 1-based line of the script's first line in the YAML file
    shell: str  # "bash" or "sh"
    text: str


def default_files(repo: pathlib.Path = REPO) -> list[pathlib.Path]:
    return sorted([*repo.glob(".github/workflows/*.yml"), *repo.glob(".github/workflows/*.yaml"),
                   *repo.glob(".github/actions/*/action.yml"), *repo.glob(".github/actions/*/action.yaml")])


def _get(mapping: yaml.MappingNode | None, key: str) -> yaml.Node | None:
    if not isinstance(mapping, yaml.MappingNode):
        return None
    return next((value for name, value in mapping.value if name.value == key), None)


def _shell_of(step: yaml.MappingNode, default: str | None) -> str | None:
    """bash, sh, or None for a shell this does not check (python, pwsh, ...)."""
    node = _get(step, "shell")
    shell = node.value if isinstance(node, yaml.ScalarNode) else default
    if shell is None:
        return "bash"  # the Linux runners' default
    word = shell.split()[0]
    return word if word in ("bash", "sh") else None


def _default_shell(node: yaml.Node | None) -> str | None:
    shell = _get(_get(_get(node, "defaults"), "run"), "shell")
    return shell.value if isinstance(shell, yaml.ScalarNode) else None


def _scripts_of_steps(path: pathlib.Path, steps: yaml.Node | None, default: str | None) -> list[Script]:
    found = []
    for step in steps.value if isinstance(steps, yaml.SequenceNode) else []:
        run = _get(step, "run")
        shell = _shell_of(step, default)
        if not isinstance(run, yaml.ScalarNode) or shell is None:
            continue
        # A block scalar (`run: |`) starts on the line after its indicator; a plain one on its own line.
        first = run.start_mark.line + (2 if run.style in ("|", ">") else 1)
        found.append(Script(path, first, shell, run.value))
    return found


def scripts(path: pathlib.Path) -> list[Script]:
    root = yaml.compose(path.read_text())
    runs = _get(root, "runs")
    if runs is not None:  # a composite action
        return _scripts_of_steps(path, _get(runs, "steps"), None)
    found = []
    workflow_default = _default_shell(root)
    jobs = _get(root, "jobs")
    for _, job in jobs.value if isinstance(jobs, yaml.MappingNode) else []:
        found += _scripts_of_steps(path, _get(job, "steps"), _default_shell(job) or workflow_default)
    return found


def check(script: Script, shellcheck: str) -> list[str]:
    text = EXPRESSION.sub("GITHUB_EXPRESSION", script.text)
    result = subprocess.run([shellcheck, "--format=gcc", f"--shell={script.shell}", "-"], input=text,
                            capture_output=True, text=True)
    problems = []
    for line in result.stdout.splitlines():
        match = GCC_LINE.match(line)
        if match:
            row, column, level, message = match.groups()
            where = script.path.relative_to(REPO) if script.path.is_relative_to(REPO) else script.path
            problems.append(f"{where}:{script.line + int(row) - 1}:{column}: {level}: {message}")
    if result.returncode not in (0, 1) or (result.returncode == 1 and not problems):
        problems.append(f"{script.path}:{script.line}: shellcheck failed: {result.stderr.strip()}")
    return problems


def main(argv: list[str]) -> int:
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(pathlib.Path(sys.executable).parent))
    if shellcheck is None:
        print("shellcheck is not installed (make lint installs it from requirements-dev.txt)", file=sys.stderr)
        return 2
    files = [pathlib.Path(a).resolve() for a in argv] or default_files()
    found = [script for path in files for script in scripts(path)]
    problems = [problem for script in found for problem in check(script, shellcheck)]
    for problem in problems:
        print(problem)
    print(f"workflow shell: {len(found)} run: block(s) in {len(files)} file(s), {len(problems)} finding(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
