"""The local target's contract: HAProxy, nginx gateways and backends as processes on this machine."""
from __future__ import annotations

from components.local.haproxy import HAPROXY_BALANCE
from components.local.options import check_local_spec, parse_local_options
from components.secrets import check_refs
from components.targets import NEUTRAL_KEYS, Target
from components.validation import Problems

NOT_HONOURED = {
    "region": "everything runs on this machine",
    "mesh": "processes on one machine talk directly; a mesh runs on the Kubernetes-based targets",
    "labels": "processes carry no labels",
    "gateway.image": "the gateways are the machine's nginx; images are for the container targets",
    "gateway.port": "gateway i listens on local.gateway_base_port + i - 1",
    "gateway.instances.max": "nothing autoscales on one machine: instances.min processes run",
    "gateway.cpu_millicores": "processes get no CPU reservation",
    "gateway.memory_mib": "processes get no memory limit",
    "services.*.image": "a service runs its `command` or the demo backend; images are for the container targets",
    "services.*.port": "instances listen on local.service_base_port + k * local.service_port_stride + i - 1",
    "services.*.instances.max": "nothing autoscales on one machine: instances.min processes run",
    "services.*.cpu_millicores": "processes get no CPU reservation",
    "services.*.memory_mib": "processes get no memory limit",
    "load_balancer.tls_certificate": "HAProxy serves plain HTTP on loopback",
    "load_balancer.http_to_https_redirect": "HAProxy serves plain HTTP on loopback",
    "monitoring.enabled": "HAProxy's Prometheus endpoint is always on (local.haproxy_stats_port)",
    "monitoring.alarm_topic": "no alerting on the local target",
}

def check_spec(spec, p: Problems) -> None:
    check_local_spec(spec, p)
    # Values: kept in <state_dir>/secrets/<service>.json (mode 0600), given to the processes as
    # environment variables at start. References: one machine has no secret store to refer to.
    check_refs(p, spec, lambda ref: None,
               "a secret value (pulumi config set --secret --path ...): the local target has no secret store "
               "to refer to; it keeps values in a file of its state dir (mode 0600)")


TARGET = Target(
    name="local",
    default_region="",
    phases=("dev",),
    phase_reason="one host is never staging or prod",
    algorithms={"none": tuple(HAPROXY_BALANCE)},
    option_blocks=("local",),
    parse_options=lambda blocks, p, spec: parse_local_options(blocks["local"], p, spec),
    check_spec=check_spec,
    builder=".local.platform",
    honoured_keys=tuple(key for key in NEUTRAL_KEYS if key not in NOT_HONOURED),
    notes=NOT_HONOURED,
)
