"""The `<project>:docker` block, and the docker target's rules for the neutral spec.

Pure Python (no Pulumi import); registered with the spec, so a bad value is reported with every
other problem, with its key path, the value found and what is allowed, before anything runs.

What runs on the Docker host (`docker.host`), every name fixed by a stable key:

    <project>-<phase>                  the stack's bridge network, on docker.subnet
    <project>-<phase>-gateway-<n>      gateway instance n, n = 1 .. gateway.instances.min
    <project>-<phase>-<service>-<n>    instance n of a service; every instance also answers to the
                                       service's name on the network (a network alias)
    <project>-<phase>-lb               HAProxy, at the subnet's second address; the one container
                                       that publishes a port: docker.listen_host:docker.load_balancer_port

Scaling out adds `-<n+1>` and renames nothing. Containers take their addresses from the upper half
of the subnet, so HAProxy's fixed address (the only one the gateways believe X-Forwarded-For
from) is never handed to another container.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from ..spec import GATEWAY_NAME, parse_image
from ..validation import DNS_LABEL, Problems, container_user_problem, shell_command_problem

GATEWAY_PROGRAM = GATEWAY_NAME
LOAD_BALANCER_PROGRAM = "load_balancer"
"""The load balancer's key in the per-program maps: no service can take it (a DNS label has no '_')."""
DEFAULT_HAPROXY_IMAGE = "haproxy:3.0.10-alpine"
LB_CONTAINER_PORT = 8000
"""HAProxy's port inside its container (unprivileged: it runs as a non-root user)."""
DEFAULT_USERS = {GATEWAY_PROGRAM: "101:101", LOAD_BALANCER_PROGRAM: "99:99"}
"""nginx-unprivileged runs as 101 and the official haproxy image as 99 (`haproxy`)."""
SERVICE_USER = "65532:65532"
"""The conventional "nonroot" id for services (the same as the aws and kubernetes targets)."""
PHASE_SUBNETS = {"dev": "10.231.0.0/24", "staging": "10.231.1.0/24"}
"""Default docker.subnet per phase, so a dev and a staging stack can share one host."""
SUBNET_PREFIXES = (16, 27)
KEYS = ("host", "cert_path", "ssh_opts", "subnet", "listen_host", "load_balancer_port", "haproxy_image",
        "haproxy_stats_port", "load_balancer_cpu_millicores", "load_balancer_memory_mib", "start_timeout_s",
        "container_health_checks", "container_users")
DOCKER_LABEL_PREFIXES = ("com.docker.", "io.docker.", "org.dockerproject.")
"""Label namespaces Docker reserves for itself (docs.docker.com, "Docker object labels")."""

HOST_FORMS = {
    "unix": re.compile(r"^unix:///\S+$"),
    "ssh": re.compile(r"^ssh://([A-Za-z0-9._-]+@)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$"),
    "tcp": re.compile(r"^tcp://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[0-9]{1,5}$"),
}
HOST_ALLOWED = ("unix:///path/to/docker.sock, ssh://[user@]host[:port] (a staging VM over SSH) or "
                "tcp://host:port (with docker.cert_path: TLS)")


@dataclass(frozen=True)
class DockerOptions:
    host: str | None = None
    """The Docker engine: unset (DOCKER_HOST, else the local socket unix:///var/run/docker.sock),
    unix://..., ssh://[user@]host[:port] or tcp://host:port with TLS (cert_path)."""
    cert_path: str | None = None
    """With a tcp:// host: a directory on the machine running Pulumi holding ca.pem, cert.pem and key.pem."""
    ssh_opts: tuple[str, ...] = ()
    """With an ssh:// host: extra ssh options, e.g. ["-o", "StrictHostKeyChecking=yes"]."""
    subnet: str = PHASE_SUBNETS["staging"]
    """The stack network's private IPv4 range, /16 to /27 (default per phase); no other network on the
    host may overlap it. The first address is the bridge, the second HAProxy's, the upper half the
    containers'."""
    listen_host: str = "127.0.0.1"
    """The host address HAProxy's port is published on: loopback by default (plain HTTP); 0.0.0.0 or an
    interface's address opens it to the network."""
    load_balancer_port: int = 8000
    """The published port on the Docker host: the stack's URL is http://<listen_host>:<port>."""
    haproxy_image: str = DEFAULT_HAPROXY_IMAGE
    """The load balancer's image, pinned by tag or digest (it needs /bin/sh, base64, gunzip and wget: alpine)."""
    haproxy_stats_port: int = 8404
    """HAProxy's Prometheus endpoint (/metrics) and stats page (/stats) inside the stack network, not published."""
    load_balancer_cpu_millicores: int = 500
    load_balancer_memory_mib: int = 128
    start_timeout_s: int = 60
    """How long `pulumi up` waits for a container with a health check to report healthy (Docker's start
    period: failed checks before then do not count)."""
    container_health_checks: dict[str, str] = field(default_factory=dict)
    """Per program (gateway, a service, load_balancer): a shell command run in the container, or none for
    an image without a shell. Default: wget the program's health path (HAProxy: its stats page)."""
    container_users: dict[str, str] = field(default_factory=dict)
    """Per program: "uid[:gid]" or image (the image's own USER). Defaults: gateway 101:101,
    load_balancer 99:99, services 65532:65532."""


@dataclass(frozen=True)
class NetworkLayout:
    subnet: str
    bridge: str
    """The bridge's own address (the containers' gateway)."""
    load_balancer: str
    """HAProxy's fixed address."""
    ip_range: str
    """Where Docker picks the other containers' addresses."""

    @property
    def capacity(self) -> int:
        """Containers the range holds (its last address is the subnet's broadcast)."""
        return ipaddress.IPv4Network(self.ip_range).num_addresses - 1


def network_layout(subnet: str) -> NetworkLayout:
    network = ipaddress.IPv4Network(subnet)
    upper = list(network.subnets(prefixlen_diff=1))[1]
    return NetworkLayout(str(network), str(network.network_address + 1), str(network.network_address + 2),
                         str(upper))


def docker_name(project: str, phase: str, program: str, instance: int | None = None) -> str:
    """A container's (or, without program, the network's) name on the Docker host."""
    parts = [project, phase, program, *([str(instance)] if instance is not None else [])]
    return "-".join(part for part in parts if part)


def program_names(spec) -> tuple[str, ...]:
    return (GATEWAY_PROGRAM, *(s.name for s in spec.services), LOAD_BALANCER_PROGRAM)


def container_user(options: DockerOptions, program: str) -> str | None:
    """The user `program` runs as: the stack's, its default, or None to keep the image's USER."""
    user = options.container_users.get(program)
    if user == "image":
        return None
    return user or DEFAULT_USERS.get(program, SERVICE_USER)


def options_of(spec) -> DockerOptions:
    return spec.options if isinstance(spec.options, DockerOptions) else DockerOptions()


def parse_docker_options(raw: dict, p: Problems, spec) -> DockerOptions:
    p.unknown_keys(raw, KEYS, "docker")
    d = DockerOptions()
    default_subnet = PHASE_SUBNETS.get(spec.phase, d.subnet)
    host = _host(p, raw)
    return DockerOptions(
        host=host,
        **_transport(p, raw, host),
        subnet=_subnet(p, raw, default_subnet, spec),
        listen_host=_listen_host(p, raw, d.listen_host),
        load_balancer_port=_int(p.integer(raw, "load_balancer_port", "docker.load_balancer_port",
                                          d.load_balancer_port, 1, 65535), d.load_balancer_port),
        haproxy_image=parse_image(p, raw, "haproxy_image", "docker.haproxy_image", d.haproxy_image) or
        d.haproxy_image,
        haproxy_stats_port=_stats_port(p, raw, d.haproxy_stats_port),
        load_balancer_cpu_millicores=_int(p.integer(raw, "load_balancer_cpu_millicores",
                                                    "docker.load_balancer_cpu_millicores",
                                                    d.load_balancer_cpu_millicores, 10, 64000),
                                          d.load_balancer_cpu_millicores),
        load_balancer_memory_mib=_int(p.integer(raw, "load_balancer_memory_mib", "docker.load_balancer_memory_mib",
                                                d.load_balancer_memory_mib, 16, 262144), d.load_balancer_memory_mib),
        start_timeout_s=_int(p.integer(raw, "start_timeout_s", "docker.start_timeout_s", d.start_timeout_s, 1, 600),
                             d.start_timeout_s),
        container_health_checks=p.per_program(raw, "container_health_checks", "docker.container_health_checks",
                                              program_names(spec), shell_command_problem),
        container_users=p.per_program(raw, "container_users", "docker.container_users", program_names(spec),
                                      container_user_problem),
    )


def check_docker_spec(spec, p: Problems) -> None:
    """What the neutral spec allows but this target cannot carry out (secrets: target.py)."""
    for key in spec.labels:
        if key.startswith(DOCKER_LABEL_PREFIXES):
            p.add(f"labels.{key}", spec.labels[key],
                  f"a key outside the namespaces Docker reserves ({', '.join(DOCKER_LABEL_PREFIXES)})")
    _check_names(p, spec)


def _int(value: int | None, default: int) -> int:
    return default if value is None else value


def _host(p: Problems, raw: dict) -> str | None:
    host = p.string(raw, "host", "docker.host", None)
    if host is None:
        return None
    scheme = host.split("://", 1)[0]
    if scheme not in HOST_FORMS or not HOST_FORMS[scheme].match(host):
        p.add("docker.host", host, HOST_ALLOWED)
        return None
    return host


def _transport(p: Problems, raw: dict, host: str | None) -> dict:
    """TLS material for tcp://, ssh options for ssh://; each refused with another kind of host."""
    scheme = host.split("://", 1)[0] if host else None
    cert_path = p.string(raw, "cert_path", "docker.cert_path", None)
    if scheme == "tcp" and cert_path is None:
        p.add("docker.cert_path", None, "a directory holding ca.pem, cert.pem and key.pem: docker.host is tcp://, "
                                        "and the Docker API without TLS is root on the host for anyone who reaches it")
    elif cert_path is not None and scheme != "tcp":
        p.add("docker.cert_path", cert_path, "nothing unless docker.host is tcp:// (TLS to a remote engine)")
        cert_path = None
    opts = raw.get("ssh_opts")
    if opts is None:
        return {"cert_path": cert_path}
    if not isinstance(opts, list) or not all(isinstance(o, str) and o for o in opts):
        p.add("docker.ssh_opts", opts, 'a list of ssh options, e.g. ["-o", "StrictHostKeyChecking=yes"]')
        opts = []
    elif scheme != "ssh":
        p.add("docker.ssh_opts", opts, "nothing unless docker.host is ssh://")
        opts = []
    return {"cert_path": cert_path, "ssh_opts": tuple(opts)}


def _subnet(p: Problems, raw: dict, default: str, spec) -> str:
    lo, hi = SUBNET_PREFIXES
    allowed = f"a private IPv4 range (10/8, 172.16/12 or 192.168/16) from /{lo} to /{hi}, overlapping no other " \
              "network of the Docker host"
    subnet = p.private_network(raw, "subnet", "docker.subnet", default, allowed)
    if not lo <= ipaddress.IPv4Network(subnet).prefixlen <= hi:
        p.add("docker.subnet", raw.get("subnet"), allowed)
        return default
    needed = spec.gateway.instances.min + sum(s.instances.min for s in spec.services)
    layout = network_layout(subnet)
    if needed > layout.capacity:
        prefix = ipaddress.IPv4Network(subnet).prefixlen
        fits = next(n for n in range(prefix, lo - 1, -1) if 2 ** (32 - n - 1) - 1 >= needed)
        p.add("docker.subnet", subnet, f"a range whose upper half holds the {needed} gateway and service containers: "
                                       f"/{prefix} holds {layout.capacity}; /{fits} or larger")
    return subnet


def _listen_host(p: Problems, raw: dict, default: str) -> str:
    value = p.string(raw, "listen_host", "docker.listen_host", default) or default
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        p.add("docker.listen_host", value, "an IPv4 address of the Docker host: 127.0.0.1 (loopback, the default), "
                                           "an interface's address, or 0.0.0.0 (every interface)")
        return default


def _stats_port(p: Problems, raw: dict, default: int) -> int:
    port = _int(p.integer(raw, "haproxy_stats_port", "docker.haproxy_stats_port", default, 1024, 65535), default)
    if port == LB_CONTAINER_PORT:
        p.add("docker.haproxy_stats_port", port, f"a port other than {LB_CONTAINER_PORT}, where HAProxy serves the "
                                                 "clients inside its container")
        return default
    return port


def _check_names(p: Problems, spec) -> None:
    """Container names are also their host names and what HAProxy and nginx look up on the network: DNS
    labels of at most 63 characters."""
    if not DNS_LABEL.match(docker_name(spec.project, spec.phase, "")):
        p.add("<project name>", spec.project, "a project name that is a DNS label (lowercase letters, digits and "
                                              "'-'): it starts every container's name and host name")
        return
    programs = [(GATEWAY_PROGRAM, spec.gateway.instances.min), *((s.name, s.instances.min) for s in spec.services)]
    for program, instances in programs:
        name = docker_name(spec.project, spec.phase, program, instances)
        if len(name) > 63:
            where, found = ("<project name>", spec.project) if program == GATEWAY_PROGRAM else \
                (f"services.{program}", program)
            p.add(where, found, f"a shorter name: container {name!r} has {len(name)} characters; a host name "
                                "has at most 63")
