"""The gateway fleet on ECS: the shared nginx config, addressed to Service Connect names.

How the config reaches nginx without a custom image: it travels gzip-compressed and base64-encoded
in an environment variable of the task definition, and the container's command decodes it to the
in-memory /tmp and starts nginx on it (the image needs /bin/sh, base64 and gunzip: busybox, as in
the alpine images, has all three). Compressed, a stack of 200 services needs about 7 KiB of the
32 KiB allowed; the spec refuses a stack whose config would not fit (`config_size_problem`).
Chosen over
- the image's own templates (/etc/nginx/templates + envsubst): they write into /etc/nginx,
  which the read-only root filesystem forbids, and envsubst would also eat nginx's `$variables`;
- an S3 object or EFS file: a bucket or file system, IAM and a download step for a few KB;
- an init sidecar writing to a shared volume: a second container for the same copy.
Any change to the config changes the task definition, so ECS rolls the fleet (nginx reads its
config only at start), like the checksum annotation does on Kubernetes.
"""
from __future__ import annotations

import base64
import gzip

from ..gateway.nginx import render_gateway_config, routing_of
from ..spec import StackSpec
from .options import GATEWAY_PROGRAM, AwsOptions
from .production_options import trusted_proxies

SCRATCH = "/tmp"
CONFIG_ENV = "NGINX_CONF_GZ_B64"
CONFIG_PATH = f"{SCRATCH}/nginx.conf"
# Bypasses the image's entrypoint scripts (they try to edit files under /etc/nginx).
ENTRY_POINT = ["/bin/sh", "-c"]
BOOT_COMMAND = (f'printf %s "${CONFIG_ENV}" | base64 -d | gunzip > {CONFIG_PATH} '
                f"&& exec nginx -c {CONFIG_PATH} -g 'daemon off;'")
MAX_CONFIG_B64 = 32 * 1024
"""Bytes of the encoded config allowed in the task definition: leaves room under ECS's 64 KiB
limit on a whole task definition for the rest of the container definition."""

# nginx-unprivileged runs as 101; the demo backends declare no user, so they get the
# conventional "nonroot" id (the same ids as the Kubernetes target).
DEFAULT_USERS = {"gateway": "101:101", "service": "65532:65532"}


def upstream_servers(spec: StackSpec) -> dict[str, list[str]]:
    """Each service by its Service Connect client alias: the name resolves inside every task of
    the namespace to the local Service Connect proxy, which balances over the service's tasks."""
    return {s.name: [f"{s.name}:{s.port}"] for s in spec.services}


def gateway_config(spec: StackSpec) -> str:
    # The ALB names the client in X-Forwarded-For: believed from the ALB's subnets only (the VPC the stack
    # creates, or an existing VPC's public subnets), so nginx logs and limits the real client address.
    routing = routing_of(spec, trusted_proxies=trusted_proxies(spec.options))
    return render_gateway_config(routing, upstream_servers(spec),
                                 pid_path=f"{SCRATCH}/nginx.pid", temp_dir=SCRATCH)


def encode_config(text: str) -> str:
    """gzip (mtime 0, so the same config always gives the same bytes and an unchanged config
    never rolls the fleet), then base64."""
    return base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=0)).decode()


def _encoded(spec: StackSpec) -> tuple[str, str | None]:
    """The encoded gateway config, and why it does not fit the task definition (or None)."""
    encoded = encode_config(gateway_config(spec))
    if len(encoded) <= MAX_CONFIG_B64:
        return encoded, None
    return encoded, (f"a gateway config that fits the ECS task definition: {len(spec.services)} services give "
                     f"{len(encoded)} bytes compressed and base64-encoded, the limit is {MAX_CONFIG_B64} "
                     "(fewer services or shorter names and paths)")


def config_size_problem(spec: StackSpec) -> str | None:
    return _encoded(spec)[1]


def encoded_config(spec: StackSpec) -> str:
    encoded, problem = _encoded(spec)
    if problem:  # the spec check refuses such a stack first; this guards direct callers
        raise ValueError(problem)
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
