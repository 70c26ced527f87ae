"""The `<project>:local` block: where the local (dev-phase) topology lives on this machine.

Pure Python (no Pulumi import), registered with the spec so bad values, and ports that two
processes would share, are reported with every other config problem before anything starts.

The local target runs `instances.min` copies of the gateway and of each service (dev runs a
fixed number: there is nothing to autoscale on one machine; `instances.max` is kept for the
cloud targets). Every copy listens on its own loopback port:

    load_balancer_port              HAProxy, the URL clients use
    haproxy_stats_port              HAProxy's Prometheus endpoint (/metrics) and stats page (/stats)
    gateway_base_port + i - 1       nginx gateway instance i (i = 1..gateway.instances.min)
    service_base_port + k * service_port_stride + i - 1
                                    instance i of the k-th service in name order (k = 0, 1, ...)

A service with more instances than `service_port_stride`, or two blocks that overlap, is a
port conflict, reported with both users of the port.
"""
from __future__ import annotations

import pathlib
import shlex
from dataclasses import dataclass

from components.spec import GATEWAY_NAME
from components.validation import Problems

REPO = pathlib.Path(__file__).resolve().parents[2]

# A dev topology has no TLS and no authentication: it must never be reachable from the network.
LOOPBACK_HOSTS = ("127.0.0.1",)
LOWEST_PORT = 1024  # no privileged ports: nothing here needs root
KEYS = ("state_dir", "listen_host", "load_balancer_port", "haproxy_stats_port", "gateway_base_port",
        "service_base_port", "service_port_stride", "start_timeout_s", "log_max_size_mib", "log_keep_files")
LOG_MAX_SIZE_MIB = (1, 1024)
LOG_KEEP_FILES = (1, 50)


@dataclass(frozen=True)
class LocalOptions:
    state_dir: str | None = None
    """PID files, rendered configs and logs. Default `.state/<stack>` under the repo (git-ignored);
    a relative path is taken from the repo root."""
    listen_host: str = "127.0.0.1"
    """Every process binds this address; loopback only."""
    load_balancer_port: int = 8000
    haproxy_stats_port: int = 8404
    """HAProxy's Prometheus exporter (`/metrics`) and stats page (`/stats`)."""
    gateway_base_port: int = 8100
    service_base_port: int = 9000
    service_port_stride: int = 10
    """Ports reserved per service, so adding an instance never moves another service's ports."""
    start_timeout_s: int = 20
    """How long a process may take to answer its health check after it starts."""
    log_max_size_mib: int = 10
    """A log file (every process's output, the gateways' access and error logs) is rotated when it
    grows past this size (1-1024)."""
    log_keep_files: int = 3
    """Rotated files kept per log (`<log>.1` newest ... `<log>.<n>`), 1-50; older ones are deleted."""

    def resolve_state_dir(self, stack: str, repo: pathlib.Path = REPO) -> pathlib.Path:
        path = pathlib.Path(self.state_dir) if self.state_dir else pathlib.Path(".state") / stack
        return (path if path.is_absolute() else repo / path).resolve()


@dataclass(frozen=True)
class PortUse:
    """One listening port of the plan: who listens there and which key put it there."""

    port: int
    user: str
    key: str


def planned_ports(options: LocalOptions, spec) -> list[PortUse]:
    """Every port the topology will listen on, in start-up order of their config keys."""
    uses = [PortUse(options.load_balancer_port, "the load balancer", "local.load_balancer_port"),
            PortUse(options.haproxy_stats_port, "the HAProxy Prometheus endpoint", "local.haproxy_stats_port")]
    uses += [PortUse(options.gateway_base_port + i, f"gateway instance {i + 1}", "local.gateway_base_port")
             for i in range(spec.gateway.instances.min)]
    for k, service in enumerate(spec.services):
        base = options.service_base_port + k * options.service_port_stride
        uses += [PortUse(base + i, f"{service.name} instance {i + 1}", "local.service_base_port")
                 for i in range(service.instances.min)]
    return uses


def service_port(options: LocalOptions, spec, service_name: str, instance: int) -> int:
    """The port of `instance` (1-based) of a service."""
    k = [s.name for s in spec.services].index(service_name)
    return options.service_base_port + k * options.service_port_stride + instance - 1


def options_of(spec) -> LocalOptions:
    """The spec's local options (the defaults when the stack has no `local` block)."""
    return spec.options if isinstance(spec.options, LocalOptions) else LocalOptions()


def gateway_instance_id(i: int) -> str:
    """The name of gateway instance i (1-based): HAProxy's server name, its X-Gateway-Instance."""
    return f"{GATEWAY_NAME}-{i}"


def port_conflicts(uses: list[PortUse]) -> list[tuple[PortUse, PortUse]]:
    """(later use, first use) for every port planned twice."""
    first: dict[int, PortUse] = {}
    conflicts = []
    for use in uses:
        if use.port in first:
            conflicts.append((use, first[use.port]))
        else:
            first[use.port] = use
    return conflicts


def conflict_message(use: PortUse, other: PortUse) -> str:
    return f"port {use.port} of {use.user} is also used by {other.user} (set by {other.key})"


def _check_command(p: Problems, key: str, command: str) -> None:
    """A service's `command` is split like a shell would (no shell runs it): it must split, and
    start with a program."""
    try:
        words = shlex.split(command)
    except ValueError as err:
        p.add(key, command, f"a command line with balanced quotes ({err})")
        return
    if not words or "{port}" in words[0] or "{host}" in words[0]:
        p.add(key, command, "a program followed by its arguments, {port} among them")


def parse_local_options(raw: dict, p: Problems, spec) -> LocalOptions:
    p.unknown_keys(raw, KEYS, "local")
    d = LocalOptions()
    state_dir = p.string(raw, "state_dir", "local.state_dir", None)
    if state_dir is not None and pathlib.Path(state_dir).resolve() == pathlib.Path("/"):
        p.add("local.state_dir", state_dir, "a directory of its own (default .state/<stack> under the repo)")
    host = p.string(raw, "listen_host", "local.listen_host", d.listen_host)
    if host not in LOOPBACK_HOSTS:
        p.add("local.listen_host", host,
              f"{', '.join(LOOPBACK_HOSTS)} (loopback only: the dev topology has no TLS or authentication)")
        host = d.listen_host

    def port(key: str, default: int) -> int:
        return p.integer(raw, key, f"local.{key}", default, LOWEST_PORT, 65535) or default

    options = LocalOptions(
        state_dir=state_dir,
        listen_host=host,
        load_balancer_port=port("load_balancer_port", d.load_balancer_port),
        haproxy_stats_port=port("haproxy_stats_port", d.haproxy_stats_port),
        gateway_base_port=port("gateway_base_port", d.gateway_base_port),
        service_base_port=port("service_base_port", d.service_base_port),
        service_port_stride=p.integer(raw, "service_port_stride", "local.service_port_stride",
                                      d.service_port_stride, 1, 1000) or d.service_port_stride,
        start_timeout_s=p.integer(raw, "start_timeout_s", "local.start_timeout_s",
                                  d.start_timeout_s, 1, 300) or d.start_timeout_s,
        log_max_size_mib=p.integer(raw, "log_max_size_mib", "local.log_max_size_mib",
                                   d.log_max_size_mib, *LOG_MAX_SIZE_MIB) or d.log_max_size_mib,
        log_keep_files=p.integer(raw, "log_keep_files", "local.log_keep_files",
                                 d.log_keep_files, *LOG_KEEP_FILES) or d.log_keep_files,
    )
    uses = planned_ports(options, spec)
    for use in uses:
        if use.port > 65535:
            p.add(use.key, raw.get(use.key.split(".", 1)[1], use.port),
                  f"a base port that leaves room for every instance: {use.user} would get port {use.port}")
    for use, other in port_conflicts(uses):
        p.add(use.key, raw.get(use.key.split(".", 1)[1], getattr(options, use.key.split(".", 1)[1])),
              f"ports no other process of the topology uses: {conflict_message(use, other)}")
    return options


def check_local_spec(spec, p: Problems) -> None:
    for service in spec.services:
        if service.command is not None:
            _check_command(p, f"services.{service.name}.command", service.command)
