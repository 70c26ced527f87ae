"""The docker target's contract: HAProxy -> nginx gateway containers -> service containers, on one Docker host."""
from __future__ import annotations

from ..haproxy import HAPROXY_BALANCE
from ..secrets import refuse_secrets
from ..targets import NEUTRAL_KEYS, Target
from ..validation import Problems
from .options import check_docker_spec, parse_docker_options

ONE_HOST = "nothing autoscales on one Docker host: instances.min containers run"
NOT_HONOURED = {
    "region": "one Docker host, named by docker.host (the local engine by default)",
    "mesh": "containers on one host talk over the stack's network; a mesh runs on the Kubernetes-based targets",
    "gateway.instances.max": ONE_HOST,
    "services.*.instances.max": ONE_HOST,
    "services.*.command": "a container runs its image's own command; `command` is for the local target",
    "load_balancer.tls_certificate": "HAProxy serves plain HTTP, on loopback by default (docker.listen_host)",
    "load_balancer.http_to_https_redirect": "HAProxy serves plain HTTP, on loopback by default (docker.listen_host)",
    "monitoring.enabled": "HAProxy's Prometheus endpoint is always on (docker.haproxy_stats_port, on the stack's "
                          "network)",
    "monitoring.alarm_topic": "no alerting on the docker target",
}


def check_spec(spec, p: Problems) -> None:
    check_docker_spec(spec, p)
    refuse_secrets(p, spec, "a plain value on the docker target: without swarm mode Docker keeps no secrets, a file "
                            "copied into a container is refused by its read-only root filesystem, and an environment "
                            "variable shows in `docker inspect` and the state")


TARGET = Target(
    name="docker",
    default_region="",
    phases=("dev", "staging"),
    phase_reason="one Docker host is a single point of failure, never prod",
    algorithms={"none": tuple(HAPROXY_BALANCE)},
    option_blocks=("docker",),
    parse_options=lambda blocks, p, spec: parse_docker_options(blocks["docker"], p, spec),
    check_spec=check_spec,
    builder=".docker.platform",
    honoured_keys=tuple(key for key in NEUTRAL_KEYS if key not in NOT_HONOURED),
    offline_mocks="tools.mocks.docker",
    notes=NOT_HONOURED,
)
