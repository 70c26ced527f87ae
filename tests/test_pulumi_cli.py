"""tools/pulumi_cli.py, which `make preview|up|destroy|drift` run pulumi through: a logged-in backend is
kept, the file backend is used only when there is none, and a passphrase stack without a passphrase is
refused with a message. A fake `pulumi` on PATH records what it was run with."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import types

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
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
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


def test_a_missing_cli_is_installed_with_the_sdks_installer_and_used(tmp_path, monkeypatch, capsys):
    from pulumi.automation import PulumiCommand

    def install(cls, root=None, version=None, skip_version_check=False):
        """What the SDK's installer leaves behind: <root>/bin/pulumi (here the fake)."""
        (pathlib.Path(root) / "bin").mkdir(parents=True)
        (pathlib.Path(root) / "bin" / "pulumi").write_text(FAKE)
        return types.SimpleNamespace(command=str(pathlib.Path(root) / "bin" / "pulumi"))

    ran = []
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "pw")
    monkeypatch.setattr(pulumi_cli, "CLI_DIR", tmp_path / ".pulumi-cli")
    monkeypatch.setattr(PulumiCommand, "install", classmethod(install))
    pulumi_cli.main(["up", "--stack", "local-dev"], exec_cli=lambda path, argv, env: ran.append((path, argv, env)))
    cli = str(tmp_path / ".pulumi-cli" / "bin" / "pulumi")
    assert ran[0][:2] == (cli, [cli, "up", "--stack", "local-dev"])
    assert ran[0][2]["PATH"].startswith(f"{tmp_path / '.pulumi-cli' / 'bin'}:")
    assert "installing the version of the pinned SDK into .pulumi-cli/" in capsys.readouterr().err
    # The next run finds it there and installs nothing.
    monkeypatch.setattr(PulumiCommand, "install", classmethod(lambda cls, **kw: pytest.fail("installed twice")))
    pulumi_cli.main(["up", "--stack", "local-dev"], exec_cli=lambda path, argv, env: ran.append(path))
    assert ran[1] == cli


def test_without_internet_the_message_says_how_to_install_by_hand(tmp_path, monkeypatch, capsys):
    from pulumi.automation import PulumiCommand

    def offline(cls, **kw):
        raise OSError("Temporary failure in name resolution")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pulumi_cli, "CLI_DIR", tmp_path / ".pulumi-cli")
    monkeypatch.setattr(PulumiCommand, "install", classmethod(offline))
    assert pulumi_cli.main(["up"], exec_cli=lambda *a: pytest.fail("nothing to run")) == 127
    assert capsys.readouterr().err.splitlines()[-1] == (
        "pulumi: the CLI could not be installed (OSError: Temporary failure in name resolution); without internet "
        "access, install it by hand: https://www.pulumi.com/docs/iac/download-install/ "
        "(curl -fsSL https://get.pulumi.com | sh)")


def test_the_stack_is_found_in_every_spelling():
    assert [pulumi_cli.stack_arg(a) for a in (["up", "--stack", "x"], ["up", "-s", "x"], ["up", "--stack=x"],
                                              ["stack", "select", "--create", "x"], ["whoami"])] == \
        ["x", "x", "x", "x", None]


def test_at_a_terminal_pulumi_asks_for_the_passphrase_and_that_is_said(capsys):
    assert pulumi_cli.passphrase_problem({}, "local-dev", "file:///x", interactive=True) is None
    assert capsys.readouterr().err == (
        "pulumi: stack local-dev encrypts its secrets with a passphrase: pulumi will ask for it (export "
        "PULUMI_CONFIG_PASSPHRASE to skip the question)\n")
