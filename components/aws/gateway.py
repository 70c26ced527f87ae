"""The gateway fleet on ECS: the shared nginx config, addressed to Service Connect names.

How the config reaches nginx without a custom image: it travels base64-encoded in an
environment variable of the task definition, and the container's command decodes it to the
in-memory /tmp and starts nginx on it. Chosen over
- the image's own templates (/etc/nginx/templates + envsubst): they write into /etc/nginx,
  which the read-only root filesystem forbids, and envsubst would also eat nginx's `$variables`;
- an S3 object or EFS file: a bucket or file system, IAM and a download step for a few KB;
- an init sidecar writing to a shared volume: a second container for the same copy.
Any change to the config changes the task definition, so ECS rolls the fleet (nginx reads its
config only at start), like the checksum annotation does on Kubernetes.
"""
from __future__ import annotations

import base64

from components.aws.options import GATEWAY_PROGRAM, AwsOptions
from components.gateway.nginx import render_gateway_config
from components.spec import StackSpec

SCRATCH = "/tmp"
CONFIG_ENV = "NGINX_CONF_B64"
CONFIG_PATH = f"{SCRATCH}/nginx.conf"
# Bypasses the image's entrypoint scripts (they try to edit files under /etc/nginx).
ENTRY_POINT = ["/bin/sh", "-c"]
BOOT_COMMAND = (f'printf %s "${CONFIG_ENV}" | base64 -d > {CONFIG_PATH} '
                f"&& exec nginx -c {CONFIG_PATH} -g 'daemon off;'")
MAX_CONFIG_B64 = 32 * 1024
"""Leaves room under ECS's 64 KiB task-definition limit."""

# nginx-unprivileged runs as 101; the demo backends declare no user, so they get the
# conventional "nonroot" id (the same ids as the Kubernetes target).
DEFAULT_USERS = {"gateway": "101:101", "service": "65532:65532"}


def upstream_servers(spec: StackSpec) -> dict[str, list[str]]:
    """Each service by its Service Connect client alias: the name resolves inside every task of
    the namespace to the local Service Connect proxy, which balances over the service's tasks."""
    return {s.name: [f"{s.name}:{s.port}"] for s in spec.services}


def gateway_config(spec: StackSpec) -> str:
    return render_gateway_config(spec, upstream_servers(spec), pid_path=f"{SCRATCH}/nginx.pid", temp_dir=SCRATCH)


def encoded_config(spec: StackSpec) -> str:
    encoded = base64.b64encode(gateway_config(spec).encode()).decode()
    if len(encoded) > MAX_CONFIG_B64:
        raise ValueError(f"the gateway's nginx.conf is {len(encoded)} bytes in base64; at most {MAX_CONFIG_B64} "
                         "fit in the task definition (fewer services or shorter paths)")
    return encoded


def default_health_check(port: int, path: str) -> str:
    return f"wget -q -O /dev/null http://127.0.0.1:{port}{path} || exit 1"


def health_check_command(options: AwsOptions, program: str, port: int, path: str) -> str | None:
    """The stack's command for this program, none (None) or the default wget check."""
    command = options.container_health_checks.get(program)
    if command == "none":
        return None
    return command or default_health_check(port, path)


def container_user(options: AwsOptions, program: str) -> str | None:
    user = options.container_users.get(program)
    if user == "image":
        return None
    return user or DEFAULT_USERS["gateway" if program == GATEWAY_PROGRAM else "service"]
