"""The pull-request workflow: the offline job runs `make test` and `make check`; the preview job runs
`pulumi preview --policy-pack policies` through pulumi/actions for the stacks whose files changed
and whose target has credentials, and comments the result, a failed preview included."""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
WORKFLOW = yaml.safe_load((REPO / ".github/workflows/pull-request.yml").read_text())
# PyYAML reads the bare key `on` as True.
TRIGGERS = WORKFLOW.get("on", WORKFLOW.get(True))


def steps(job: str) -> list[dict]:
    return WORKFLOW["jobs"][job]["steps"]


def test_runs_on_every_pull_request():
    assert "pull_request" in TRIGGERS and not (TRIGGERS["pull_request"] or {}).get("paths")


def test_offline_job_runs_make_test_then_make_check():
    runs = [s.get("run", "") for s in steps("offline")]
    test = next(i for i, r in enumerate(runs) if r.strip() == "make test")
    check = next(i for i, r in enumerate(runs) if r.strip().startswith("make check"))
    assert test < check
    # `make check | tee` must keep make's exit code: an explicit bash shell runs with pipefail.
    assert steps("offline")[check].get("shell") == "bash"


def test_preview_job_runs_the_pack_through_pulumi_actions_and_comments_even_a_failure():
    preview_steps = steps("preview")
    [action] = [s for s in preview_steps if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert action["with"]["command"] == "preview" and action["with"]["policyPacks"] == "policies"
    assert action["with"]["comment-on-pr"] is True and action.get("continue-on-error") is True
    failed = [s for s in preview_steps if s.get("if") == f"steps.{action['id']}.outcome == 'failure'"]
    assert any("--policy-pack policies" in s.get("run", "") for s in failed)
    assert any(str(s.get("uses", "")).startswith("actions/github-script@") for s in failed)
    assert "exit 1" in failed[-1]["run"], "a failed preview must still fail the job"
    assert WORKFLOW["jobs"]["preview"]["permissions"]["pull-requests"] == "write"


def _git(repo: pathlib.Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def sandbox(tmp_path):
    """A throwaway git repository with the stack files, to run the workflow's stack selection on."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    shutil.copytree(REPO / "stacks", tmp_path / "stacks")
    (tmp_path / "components/kubernetes").mkdir(parents=True)
    (tmp_path / "components/kubernetes/workload.py").write_text("# v1\n")
    (tmp_path / "README.md").write_text("v1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "base")
    return tmp_path


def _select(repo: pathlib.Path, **credentials: bool) -> list[dict]:
    [step] = [s for s in steps("changes") if s.get("id") == "stacks"]
    output = repo / "github_output"
    env = {**os.environ, "BASE": _git(repo, "rev-parse", "HEAD~1"), "HEAD": _git(repo, "rev-parse", "HEAD"),
           "GITHUB_OUTPUT": str(output)}
    for name in ("BACKEND", "AWS", "AZURE", "GCP", "KUBERNETES"):
        env[f"HAS_{name}"] = "true" if credentials.get(name.lower()) else "false"
    output.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-c", step["run"]], cwd=repo, env=env, check=True, capture_output=True)
    [line] = [row for row in output.read_text().splitlines() if row.startswith("stacks=")]
    return json.loads(line[len("stacks="):])


def _change(repo: pathlib.Path, path: str) -> None:
    file = repo / path
    file.write_text(file.read_text() + "# changed\n")
    _git(repo, "commit", "-q", "-am", f"change {path}")


def test_a_changed_stack_file_previews_that_stack_only(sandbox):
    _change(sandbox, "stacks/Pulumi.aws-prod.yaml")
    assert _select(sandbox, backend=True, aws=True, kubernetes=True) == [{"stack": "aws-prod", "target": "aws"}]


def test_a_changed_target_previews_its_stacks_that_have_credentials(sandbox):
    _change(sandbox, "components/kubernetes/workload.py")
    assert _select(sandbox, backend=True, aws=True, kubernetes=True) == [
        {"stack": f"kubernetes-{phase}", "target": "kubernetes"} for phase in ("dev", "prod", "staging")]
    assert _select(sandbox, backend=True, aws=True) == []  # no kubeconfig: nothing to preview
    assert _select(sandbox, kubernetes=True) == []  # no backend: nothing to preview


def test_an_unrelated_change_previews_nothing(sandbox):
    _change(sandbox, "README.md")
    assert _select(sandbox, backend=True, aws=True, kubernetes=True) == []
