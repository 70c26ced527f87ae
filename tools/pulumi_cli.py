"""Run the Pulumi CLI with the project's backend and passphrase rules: `python -m tools.pulumi_cli <args>`.

`make preview|up|destroy|drift` call pulumi through this, so that:
- **backend**: PULUMI_BACKEND_URL wins when set; otherwise a `pulumi login` (Pulumi Cloud or a
  self-managed backend, recorded in ~/.pulumi/credentials.json) is kept; only when there is neither does
  state go to the file backend `.pulumi-state/` in the repository (said on stderr, so nobody wonders
  where their state went);
- **passphrase**: a stack whose secrets are encrypted with a passphrase (the default outside Pulumi
  Cloud) needs PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE. Unset, at a terminal, pulumi
  asks for it (said first); elsewhere (CI, a pipe) this refuses, saying how to set it. An empty
  passphrase is never assumed: only when set explicitly (PULUMI_CONFIG_PASSPHRASE='').
- **the CLI itself**: when none is on PATH, the version that matches the pinned SDK is installed into
  `.pulumi-cli/` (git-ignored) with the SDK's own installer, `pulumi.automation.PulumiCommand.install`,
  and used from there; without internet access it says so and how to install it by hand.
Exit codes: pulumi's own (this process becomes pulumi); 2 when the passphrase is missing; 127 when no
CLI is installed and none can be. Through make, any failure exits 2 and make's last line names the code (`Error 1`).
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys

from tools.offline import REPO, STACKS_DIR

STATE_DIR = REPO / ".pulumi-state"
CLI_DIR = REPO / ".pulumi-cli"
"""Where a missing CLI is installed (git-ignored): the version matching the pinned pulumi SDK."""
MANUAL = "https://www.pulumi.com/docs/iac/download-install/ (curl -fsSL https://get.pulumi.com | sh)"
CLOUD_PREFIXES = ("https://", "http://")
"""Backend URLs of Pulumi Cloud (app.pulumi.com or self-hosted): their stacks' secrets use the service's keys."""


def current_login(home: pathlib.Path | None = None) -> str | None:
    """The backend `pulumi login` recorded, if any."""
    home = home or pathlib.Path(os.environ.get("PULUMI_HOME") or pathlib.Path.home() / ".pulumi")
    try:
        return json.loads((home / "credentials.json").read_text()).get("current") or None
    except (OSError, ValueError, AttributeError):
        return None


def backend(env: dict[str, str], home: pathlib.Path | None = None) -> tuple[str, bool, str]:
    """(the backend pulumi will use, whether PULUMI_BACKEND_URL must be set to it, why)."""
    if env.get("PULUMI_BACKEND_URL"):
        return env["PULUMI_BACKEND_URL"], False, f"backend {env['PULUMI_BACKEND_URL']} (PULUMI_BACKEND_URL)"
    login = current_login(home)
    if login:
        return login, False, f"backend {login} (pulumi login)"
    url = f"file://{STATE_DIR}"
    return url, True, f"backend {url} (no PULUMI_BACKEND_URL and no pulumi login)"


def stack_arg(args: list[str]) -> str | None:
    """The stack a command names: --stack/-s, or `stack select <name>`."""
    if args[:2] == ["stack", "select"]:
        return next((a for a in args[2:] if not a.startswith("-")), None)
    for i, arg in enumerate(args):
        if arg in ("--stack", "-s") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--stack="):
            return arg.split("=", 1)[1]
    return None


def uses_passphrase(stack: str | None, backend_url: str) -> bool:
    """Whether the stack's secrets provider is a passphrase: set in its stack file, or the default of a
    backend that is not Pulumi Cloud."""
    path = STACKS_DIR / f"Pulumi.{stack}.yaml" if stack else None
    text = path.read_text() if path and path.is_file() else ""
    for line in text.splitlines():
        if line.startswith("secretsprovider:"):
            return line.split(":", 1)[1].strip().strip("'\"") == "passphrase"
    return not backend_url.startswith(CLOUD_PREFIXES)


def passphrase_problem(env: dict[str, str], stack: str | None, backend_url: str,
                       interactive: bool = False) -> str | None:
    if "PULUMI_CONFIG_PASSPHRASE" in env or env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        return None
    if not uses_passphrase(stack, backend_url):
        return None
    if interactive:  # pulumi asks for it at the terminal
        print(f"pulumi: stack {stack or '(selected)'} encrypts its secrets with a passphrase: pulumi will ask for it "
              "(export PULUMI_CONFIG_PASSPHRASE to skip the question)", file=sys.stderr)
        return None
    return (f"stack {stack or '(selected)'} encrypts its secrets with a passphrase, and none is set: export "
            "PULUMI_CONFIG_PASSPHRASE='<passphrase>' (or PULUMI_CONFIG_PASSPHRASE_FILE=<file>); for a throwaway "
            "local stack an empty one is allowed when set explicitly: PULUMI_CONFIG_PASSPHRASE=''")


def find_cli() -> str | None:
    """The CLI on PATH, else the one installed into the repository earlier."""
    local = CLI_DIR / "bin" / "pulumi"
    return shutil.which("pulumi") or (str(local) if local.is_file() else None)


def install_cli() -> str | None:
    """The CLI version that matches the pinned SDK, installed with the SDK's own installer into CLI_DIR."""
    from pulumi.automation import PulumiCommand
    print(f"pulumi: no Pulumi CLI on PATH; installing the version of the pinned SDK into {CLI_DIR.name}/ "
          "(pulumi.automation.PulumiCommand.install)", file=sys.stderr)
    try:
        return PulumiCommand.install(root=str(CLI_DIR)).command
    except Exception as err:  # noqa: BLE001 - any failure (no network, a proxy, a full disk) gets the same advice
        print(f"pulumi: the CLI could not be installed ({type(err).__name__}: {err}); without internet access, "
              f"install it by hand: {MANUAL}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None, exec_cli=os.execve) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    cli = find_cli() or install_cli()
    if cli is None:
        return 127
    env = dict(os.environ)
    env["PATH"] = f"{pathlib.Path(cli).parent}{os.pathsep}{env.get('PATH', '')}"  # its language host and plugins
    url, set_url, why = backend(env)
    if set_url:
        env["PULUMI_BACKEND_URL"] = url
        STATE_DIR.mkdir(exist_ok=True)
    print(f"pulumi: {why}", file=sys.stderr)
    problem = passphrase_problem(env, stack_arg(args), url, interactive=sys.stdin.isatty())
    if problem:
        print(f"pulumi: {problem}", file=sys.stderr)
        return 2
    exec_cli(cli, [cli, *args], env)
    return 0  # not reached: exec replaces this process


if __name__ == "__main__":
    sys.exit(main())
