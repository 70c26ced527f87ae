"""The containers: each program's instances, and HAProxy, all hardened the same way.

Every container: a read-only root filesystem with a tmpfs at /tmp (the one writable path), every Linux
capability dropped, no-new-privileges, a non-root user where the image allows it, CPU and memory
limits (no swap), Docker's health check from the stack's, `restart: unless-stopped`, bounded json-file
logs, and labels for the stack, phase and component. Its Docker name is fixed (and is its host name),
so a change that replaces it removes the old container first (delete_before_replace); it gets its stop
signal and `stop_grace_s` to finish its requests before it is killed.
"""
from __future__ import annotations

import pulumi
import pulumi_docker as docker

from .args import ContainerArgs, ContainerGroupArgs, ContainerHealthCheckArgs, LoadBalancerArgs
from .network import docker_labels

RESTART = "unless-stopped"
"""Restarted when it exits (a crash, an OOM kill, the host's reboot), never after `docker stop`. Docker
restarts nothing for an unhealthy status: HAProxy's checks take a gateway out, nginx's max_fails a
service instance."""
SCRATCH = "/tmp"
DROPPED_CAPABILITIES = ["ALL"]
SECURITY_OPTIONS = ["no-new-privileges:true"]
LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}
"""json-file logs, rotated: without a bound a chatty container fills the host's disk."""


def cpus(millicores: int) -> str:
    """Docker's --cpus for a limit in millicores: 250 -> "0.25", 1500 -> "1.5"."""
    return f"{millicores / 1000:g}"


def tmpfs_options(size_mib: int) -> str:
    return f"rw,noexec,nosuid,size={size_mib}m"


def health_check(args: ContainerHealthCheckArgs) -> docker.ContainerHealthcheckArgs:
    if args.command is None:
        return docker.ContainerHealthcheckArgs(tests=["NONE"])  # also switches off the image's HEALTHCHECK
    return docker.ContainerHealthcheckArgs(tests=["CMD-SHELL", args.command], interval=f"{args.interval_s}s",
                                           timeout=f"{args.timeout_s}s", retries=args.retries,
                                           start_period=f"{args.start_period_s}s")


def wait_timeout_s(args: ContainerHealthCheckArgs) -> int:
    """How long `pulumi up` waits for the container to report healthy: its start period and one more check."""
    return args.start_period_s + args.interval_s + args.timeout_s


def run_container(resource_name: str, docker_name: str, args: ContainerArgs, opts: pulumi.ResourceOptions,
                  address: str | None = None, ports: list | None = None) -> docker.Container:
    checked = args.health_check.command is not None
    return docker.Container(
        resource_name,
        name=docker_name,
        hostname=docker_name,
        image=args.image,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network, aliases=args.aliases or None,
                                                                ipv4_address=address)],
        ports=ports,
        envs=[f"{key}={value}" for key, value in sorted(args.env.items())] or None,
        entrypoints=args.entrypoint,
        command=args.command,
        user=args.user,
        cpus=cpus(args.cpu_millicores),
        memory=args.memory_mib,
        memory_swap=args.memory_mib,
        read_only=True,
        tmpfs={SCRATCH: tmpfs_options(args.tmp_mib)},
        capabilities=docker.ContainerCapabilitiesArgs(drops=DROPPED_CAPABILITIES),
        security_opts=SECURITY_OPTIONS,
        restart=RESTART,
        healthcheck=health_check(args.health_check),
        # Without a health check there is nothing to wait for (the provider refuses `wait` then).
        wait=checked,
        wait_timeout=wait_timeout_s(args.health_check) if checked else None,
        labels=docker_labels(args.labels),
        log_driver="json-file",
        log_opts=LOG_OPTIONS,
        destroy_grace_seconds=args.stop_grace_s,
        stop_timeout=args.stop_grace_s,
        # The Docker name is fixed: the old container must go before its replacement can take the name.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)))


class ContainerGroup(pulumi.ComponentResource):
    """`instances` containers of one program, created one after another, each once the one before is
    healthy. `depends_on`: what the first instance waits for (children do not inherit a component's)."""

    TYPE = "apigw:docker:ContainerGroup"

    def __init__(self, name: str, args: ContainerGroupArgs, depends_on: list | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        self.containers: dict[str, docker.Container] = {}
        previous = list(depends_on or [])
        for n in range(1, args.instances + 1):
            docker_name = f"{args.name_prefix}-{n}"
            container = run_container(f"{name}-{n}", docker_name, args.container,
                                      pulumi.ResourceOptions(parent=self, depends_on=previous))
            self.containers[docker_name] = container
            previous = [container]
        self.names = list(self.containers)
        self.register_outputs({"names": self.names})


class GatewayFleet(ContainerGroup):
    """The nginx gateways, running the shared gateway config."""

    TYPE = "apigw:docker:GatewayFleet"


class Service(ContainerGroup):
    """One backend service's instances, all answering to the service's name on the network."""

    TYPE = "apigw:docker:Service"


class LoadBalancer(pulumi.ComponentResource):
    """HAProxy in front of the gateways: the one container that publishes a port on the Docker host."""

    TYPE = "apigw:docker:LoadBalancer"

    def __init__(self, name: str, args: LoadBalancerArgs, depends_on: list | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        published = docker.ContainerPortArgs(internal=args.container_port, external=args.published_port,
                                             ip=args.listen_host, protocol="tcp")
        self.container = run_container(f"{name}-haproxy", args.name, args.container,
                                       pulumi.ResourceOptions(parent=self, depends_on=list(depends_on or [])),
                                       address=args.address, ports=[published])
        self.name = args.name
        self.register_outputs({"name": self.name, "published": f"{args.listen_host}:{args.published_port}"})
