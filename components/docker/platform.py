"""The docker target: HAProxy -> nginx gateway containers -> service containers, on one Docker host.

    apigw:docker:Platform          <project>
    ├── apigw:docker:Network       <project>-network      the network <project>-<phase>
    ├── apigw:docker:Images        <project>-images       a RemoteImage per pinned reference
    ├── apigw:docker:Service       <project>-<service>    containers <project>-<phase>-<service>-<n>
    ├── apigw:docker:GatewayFleet  <project>-gateway      containers <project>-<phase>-gateway-<n>, after the services
    └── apigw:docker:LoadBalancer  <project>-lb           the container <project>-<phase>-lb, after the gateways

`build(spec)` is what infra/program.py calls: the one place that reads the spec and its DockerOptions,
mapping them to each component's Args. Every resource goes through one explicit provider, so the engine
is the one docker.host names (DOCKER_HOST or the local socket when unset), never an ambient default.
"""
from __future__ import annotations

import pulumi
import pulumi_docker as docker

from ..gateway.nginx import PROXY_READ_TIMEOUT_S
from ..spec import StackSpec, platform_tags
from .args import (
    ContainerArgs,
    ContainerGroupArgs,
    ContainerHealthCheckArgs,
    ImagesArgs,
    LoadBalancerArgs,
    NetworkArgs,
)
from .configs import (
    ENTRYPOINT,
    GATEWAY_COMMAND,
    HAPROXY_COMMAND,
    HAPROXY_CONFIG_ENV,
    NGINX_CONFIG_ENV,
    encode_config,
    gateway_config,
    haproxy_config,
    health_check_command,
)
from .containers import GatewayFleet, LoadBalancer, Service
from .images import Images
from .network import Network
from .options import (
    GATEWAY_PROGRAM,
    LB_CONTAINER_PORT,
    LOAD_BALANCER_PROGRAM,
    DockerOptions,
    container_user,
    docker_name,
    network_layout,
    options_of,
)

GATEWAY_TMP_MIB = 64
"""The gateways' /tmp: nginx's pid, its temp paths and request bodies it buffers (up to gateway.limits.max_body_mib)."""
TMP_MIB = 16
"""Every other container's /tmp."""
LB_STOP_GRACE_S = 10
"""HAProxy stops on SIGUSR1 (the image's STOPSIGNAL) and ends its last connections within 5 s (hard-stop-after)."""


class Platform(pulumi.ComponentResource):
    """Groups one stack's docker components; it carries the stack's Docker provider to all of them."""

    TYPE = "apigw:docker:Platform"

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)


def provider_args(options: DockerOptions) -> dict:
    """The engine to talk to: docker.host (with its TLS directory or ssh options), else DOCKER_HOST or the
    local socket."""
    args: dict = {}
    if options.host:
        args["host"] = options.host
    if options.cert_path:
        args["cert_path"] = options.cert_path
    if options.ssh_opts:
        args["ssh_opts"] = list(options.ssh_opts)
    return args


def _health(spec: StackSpec, options: DockerOptions, program: str) -> ContainerHealthCheckArgs:
    hc = spec.load_balancer.health_check
    return ContainerHealthCheckArgs(command=health_check_command(spec, program), interval_s=hc.interval_s,
                                    timeout_s=hc.timeout_s, retries=hc.unhealthy_threshold,
                                    start_period_s=options.start_timeout_s)


def build(spec: StackSpec) -> dict:
    """Register the stack's containers on its Docker host; returns the stack outputs."""
    options = options_of(spec)
    layout = network_layout(options.subnet)
    tags = platform_tags(spec, pulumi.get_stack())

    def labels(component: str, app: str) -> dict[str, str]:
        return {**tags, "component": component, "app": app}

    def name(program: str, instance: int | None = None) -> str:
        return docker_name(spec.project, spec.phase, program, instance)

    provider = docker.Provider(f"{spec.project}-docker", **provider_args(options))
    platform = Platform(spec.project, opts=pulumi.ResourceOptions(providers=[provider]))
    child = pulumi.ResourceOptions(parent=platform)
    network = Network(f"{spec.project}-network", NetworkArgs(
        name=name(""), subnet=layout.subnet, bridge=layout.bridge, ip_range=layout.ip_range,
        labels=labels("network", spec.project)), child)
    images = Images(f"{spec.project}-images", ImagesArgs(
        references=[spec.gateway.image, *(s.image for s in spec.services), options.haproxy_image]), child)

    services = {s.name: Service(f"{spec.project}-{s.name}", ContainerGroupArgs(
        name_prefix=name(s.name), instances=s.instances.min, container=ContainerArgs(
            image=images.image_ids[s.image], network=network.name, cpu_millicores=s.cpu_millicores,
            memory_mib=s.memory_mib, health_check=_health(spec, options, s.name), labels=labels("service", s.name),
            env=dict(s.environment), user=container_user(options, s.name), aliases=[s.name], tmp_mib=TMP_MIB,
            stop_grace_s=PROXY_READ_TIMEOUT_S)), opts=child)
        for s in spec.services}

    gateway = spec.gateway
    nginx_env = {NGINX_CONFIG_ENV: encode_config(gateway_config(spec))}
    gateways = GatewayFleet(f"{spec.project}-gateway", ContainerGroupArgs(
        name_prefix=name(GATEWAY_PROGRAM), instances=gateway.instances.min, container=ContainerArgs(
            image=images.image_ids[gateway.image], network=network.name, cpu_millicores=gateway.cpu_millicores,
            memory_mib=gateway.memory_mib, health_check=_health(spec, options, GATEWAY_PROGRAM),
            labels=labels(GATEWAY_PROGRAM, GATEWAY_PROGRAM), env=nginx_env,
            entrypoint=ENTRYPOINT, command=[GATEWAY_COMMAND], user=container_user(options, GATEWAY_PROGRAM),
            tmp_mib=GATEWAY_TMP_MIB, stop_grace_s=PROXY_READ_TIMEOUT_S)),
        depends_on=list(services.values()), opts=child)

    lb = LoadBalancer(f"{spec.project}-lb", LoadBalancerArgs(
        name=name("lb"), container_port=LB_CONTAINER_PORT, published_port=options.load_balancer_port,
        listen_host=options.listen_host, address=layout.load_balancer, container=ContainerArgs(
            image=images.image_ids[options.haproxy_image], network=network.name,
            cpu_millicores=options.load_balancer_cpu_millicores, memory_mib=options.load_balancer_memory_mib,
            health_check=_health(spec, options, LOAD_BALANCER_PROGRAM), labels=labels("load_balancer", "haproxy"),
            env={HAPROXY_CONFIG_ENV: encode_config(haproxy_config(spec))}, entrypoint=ENTRYPOINT,
            command=[HAPROXY_COMMAND], user=container_user(options, LOAD_BALANCER_PROGRAM), tmp_mib=TMP_MIB,
            stop_grace_s=LB_STOP_GRACE_S)),
        depends_on=[gateways], opts=child)

    return {
        "url": f"http://{options.listen_host}:{options.load_balancer_port}",
        "docker_host": options.host or "DOCKER_HOST or the local socket",
        "network": network.name,
        "containers": [lb.name, *gateways.names, *(n for s in services.values() for n in s.names)],
        "metrics_url": f"http://{lb.name}:{options.haproxy_stats_port}/metrics (on the network {name('')})",
    }
