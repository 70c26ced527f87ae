"""Typed inputs of the docker components.

Each class holds only what its component needs (names, image, network, limits, health check, the one
published port); `platform.build` is the one place that maps a stack spec to them, and a program of
your own can fill them in by hand. Fields another resource produces are `pulumi.Input[str]`. Frozen
dataclasses (`@args_class`) with real annotations (no `from __future__ import annotations`): Pulumi's
component provider reads them, and a field's docstring becomes its description there.
"""
from dataclasses import field

import pulumi

from ..argsclass import args_class
from ..spec import HealthCheck


@args_class
class NetworkArgs:
    """The stack's user-defined bridge network: containers find each other by name through Docker's DNS."""

    name: str
    """The network's name on the Docker host (<project>-<phase>)."""
    subnet: str
    """Its private IPv4 range; no other network of the host may overlap it."""
    bridge: str
    """The bridge's own address in the subnet (the containers' gateway)."""
    ip_range: str
    """Where Docker picks containers' addresses; a fixed address outside it is never handed out."""
    labels: dict[str, str] = field(default_factory=dict)
    """Docker labels of the network (stack, phase, component, ...)."""


@args_class
class ImagesArgs:
    """The images the containers run, pulled once each by their pinned reference."""

    references: list[str]
    """Image references pinned by tag or digest (repo:1.2.3, repo@sha256:...), each pulled once."""
    keep_locally: bool = True
    """Leave an image on the host when the stack stops using it: another stack on the same host (dev next
    to staging) may run it, and Docker refuses to remove an image a container uses."""


@args_class
class ContainerHealthCheckArgs:
    """Docker's health check of a container, with the stack's interval, timeout and threshold."""

    command: str | None = None
    """A shell command run in the container (exit 0: healthy); None: no health check (an image without a
    shell), and the image's own HEALTHCHECK is switched off too."""
    interval_s: int = HealthCheck.interval_s
    """Seconds between two checks."""
    timeout_s: int = HealthCheck.timeout_s
    """Seconds before one check counts as failed."""
    retries: int = HealthCheck.unhealthy_threshold
    """Consecutive failures before Docker reports the container unhealthy."""
    start_period_s: int = 60
    """Failures before this do not count; `pulumi up` waits this long for the container to be healthy."""


@args_class
class ContainerArgs:
    """One program's container: image, limits, health check and the hardening every container gets
    (read-only root filesystem, tmpfs /tmp, every capability dropped, no-new-privileges)."""

    image: pulumi.Input[str]
    """The image to run: an image id (Images.image_ids) or a pinned reference."""
    network: pulumi.Input[str]
    """The network's name (Network.name)."""
    cpu_millicores: int
    """CPU limit in thousandths of a CPU (250 = a quarter of one)."""
    memory_mib: int
    """Memory limit, without swap."""
    health_check: ContainerHealthCheckArgs = field(default_factory=ContainerHealthCheckArgs)
    """Docker's health check of the container."""
    labels: dict[str, str] = field(default_factory=dict)
    """Docker labels of the container (stack, phase, component, app, ...)."""
    env: dict[str, str] = field(default_factory=dict)
    """Plain settings only: nothing secret (it shows in `docker inspect`)."""
    entrypoint: list[str] | None = None
    """None keeps the image's own."""
    command: list[str] | None = None
    """None keeps the image's own."""
    user: str | None = None
    """"uid[:gid]"; None keeps the image's USER."""
    aliases: list[str] = field(default_factory=list)
    """Extra names the container answers to on the network (a service's name, shared by its instances)."""
    tmp_mib: int = 16
    """Size of the tmpfs at /tmp, the one writable path (counted in the memory limit when used)."""
    stop_grace_s: int = 30
    """A replaced or removed container gets its stop signal and this long to finish its requests."""


@args_class
class ContainerGroupArgs:
    """`instances` containers of one program, each named <name_prefix>-<n> on the host and the network."""

    name_prefix: str
    """<project>-<phase>-<program>; instance n is <name_prefix>-<n>, so scaling out renames nothing."""
    instances: int
    """How many run (1-1000); each after the one before, once it is healthy."""
    container: ContainerArgs
    """What every instance runs (the same for all of them)."""


@args_class
class LoadBalancerArgs:
    """The HAProxy container: the one container that publishes a port on the Docker host."""

    name: str
    """Its name on the host and the network (<project>-<phase>-lb)."""
    container: ContainerArgs
    """HAProxy's image, config, limits and health check."""
    container_port: int
    """Where HAProxy listens inside the container."""
    published_port: int = 8000
    """The port on the Docker host."""
    listen_host: str = "127.0.0.1"
    """The host address the port is published on: loopback unless the stack says otherwise."""
    address: str | None = None
    """A fixed address on the network, outside its ip_range: the one the gateways believe X-Forwarded-For from."""
