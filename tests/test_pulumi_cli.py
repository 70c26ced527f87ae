"""tools/pulumi_cli.py, which `make preview|up|destroy|drift` run pulumi through: a logged-in backend is
kept, the file backend is used only when there is none, and a passphrase stack without a passphrase is
refused with a message. A fake `pulumi` on PATH records what it was run with."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tools import pulumi_cli
from tools.offline import REPO

FAKE = """#!/bin/sh
printf '%s\\n' "backend=${PULUMI_BACKEND_URL-unset}" "passphrase=${PULUMI_CONFIG_PASSPHRASE-unset}" "args=$*"
exit 3
"""


@pytest.fixture
def home(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(FAKE)
    (bin_dir / "pulumi").chmod(0o755)
    pulumi_home = tmp_path / "pulumi-home"
    pulumi_home.mkdir()
    return tmp_path, {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PULUMI_HOME": str(pulumi_home),
                      "HOME": str(tmp_path)}


def run(env, *args):
    result = subprocess.run([sys.executable, "-m", "tools.pulumi_cli", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout, result.stderr


def test_without_a_login_state_goes_to_the_file_backend_and_says_so(home):
    _, env = home
    code, out, err = run({**env, "PULUMI_CONFIG_PASSPHRASE": "pw"}, "preview", "--stack", "local-dev")
    assert code == 3  # pulumi's own exit code
    assert f"backend=file://{REPO / '.pulumi-state'}" in out and "args=preview --stack local-dev" in out
    assert err == f"pulumi: backend file://{REPO / '.pulumi-state'} (no PULUMI_BACKEND_URL and no pulumi login)\n"


def test_a_pulumi_login_is_kept(home):
    tmp, env = home
    (tmp / "pulumi-home" / "credentials.json").write_text(json.dumps({"current": "https://api.pulumi.com"}))
    code, out, err = run(env, "up", "--stack", "aws-prod")
    assert (code, out.splitlines()[0]) == (3, "backend=unset")  # the CLI uses its login
    assert "passphrase=unset" in out  # Pulumi Cloud keeps the secrets' keys: no passphrase needed
    assert err == "pulumi: backend https://api.pulumi.com (pulumi login)\n"


def test_an_explicit_backend_url_wins(home):
    _, env = home
    code, out, err = run({**env, "PULUMI_BACKEND_URL": "s3://state-bucket", "PULUMI_CONFIG_PASSPHRASE": "pw"},
                         "destroy", "--stack", "aws-dev")
    assert code == 3 and "backend=s3://state-bucket" in out
    assert err == "pulumi: backend s3://state-bucket (PULUMI_BACKEND_URL)\n"


def test_a_passphrase_stack_without_a_passphrase_is_refused_before_pulumi_runs(home):
    _, env = home
    code, out, err = run(env, "stack", "select", "--create", "local-dev")
    assert (code, out) == (2, "")
    assert err.splitlines()[1] == (
        "pulumi: stack local-dev encrypts its secrets with a passphrase, and none is set: export "
        "PULUMI_CONFIG_PASSPHRASE='<passphrase>' (or PULUMI_CONFIG_PASSPHRASE_FILE=<file>); for a throwaway local "
        "stack an empty one is allowed when set explicitly: PULUMI_CONFIG_PASSPHRASE=''")
    # Set explicitly, even empty, it passes on.
    code, out, _ = run({**env, "PULUMI_CONFIG_PASSPHRASE": ""}, "preview", "--stack", "local-dev")
    assert code == 3 and "passphrase=\n" in out


def test_no_cli_is_a_message_and_127(tmp_path):
    code, out, err = run({"PATH": str(tmp_path), "HOME": str(tmp_path)}, "up")
    assert (code, err) == (127, "The Pulumi CLI is not installed: https://www.pulumi.com/docs/iac/download-install/\n")


def test_the_stack_is_found_in_every_spelling():
    assert [pulumi_cli.stack_arg(a) for a in (["up", "--stack", "x"], ["up", "-s", "x"], ["up", "--stack=x"],
                                              ["stack", "select", "--create", "x"], ["whoami"])] == \
        ["x", "x", "x", "x", None]
