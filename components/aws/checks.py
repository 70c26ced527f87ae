"""What each AWS component refuses, checked before it registers anything.

Pure functions over the Args (no resources), so tests call them directly. A stack never gets
here with a bad value (the spec check reports it first, with its key path); these guard a program
that fills in the Args itself. Every message names the field and what is allowed.
"""
from __future__ import annotations

from .args import AutoscalingArgs, EcsClusterArgs, FargateServiceArgs, LoadBalancerArgs, NetworkArgs, TaskCountRange
from .options import (
    ALB_ALGORITHMS,
    ALB_HEALTH_CHECK_RANGES,
    CONTAINER_INSIGHTS,
    CPU_ARCHITECTURES,
    DESYNC_MODES,
    MAX_IDLE_TIMEOUT_S,
    NAT_MODES,
    TASK_ZONES,
)
from .sizing import program_task_size

MAX_ZONE_SLOTS = 8
"""The VPC is cut into 16 equal blocks: private subnets take blocks 0-7, public ones 8-15."""


def _choice(field: str, value: object, allowed: tuple) -> list[str]:
    return [] if value in allowed else [f"{field}: {value!r} is not one of {', '.join(map(str, allowed))}"]


def _between(field: str, value: int, lo: int, hi: int) -> list[str]:
    return [] if lo <= value <= hi else [f"{field}: {value!r} is not an integer from {lo} to {hi}"]


def _refuse(args_type: str, problems: list[str]) -> None:
    if problems:
        raise ValueError(f"{args_type}: " + "; ".join(problems))


def _task_count(field: str, task_count: TaskCountRange) -> list[str]:
    if 1 <= task_count.min <= task_count.max:
        return []
    return [f"{field}: min {task_count.min}, max {task_count.max}; allowed: 1 <= min <= max"]


def check_network(args: NetworkArgs) -> None:
    problems = _choice("nat_gateways", args.nat_gateways, NAT_MODES) + \
        _choice("task_zones", args.task_zones, TASK_ZONES)
    if not args.zones:
        problems.append("zones: empty; allowed: at least one zone")
    slots = [zone.slot for zone in args.zones]
    if any(not 0 <= slot < MAX_ZONE_SLOTS for slot in slots) or len(set(slots)) != len(slots):
        problems.append(f"zones: slots {slots}; allowed: distinct slots from 0 to {MAX_ZONE_SLOTS - 1}")
    _refuse("NetworkArgs", problems)


def check_load_balancer(args: LoadBalancerArgs) -> None:
    problems = _choice("algorithm", args.algorithm, ALB_ALGORITHMS) + \
        _choice("desync_mitigation_mode", args.desync_mitigation_mode, DESYNC_MODES) + \
        _between("idle_timeout_s", args.idle_timeout_s, 1, MAX_IDLE_TIMEOUT_S) + \
        _between("deregistration_delay_s", args.deregistration_delay_s, 0, 3600)
    for key, (lo, hi) in ALB_HEALTH_CHECK_RANGES.items():
        problems += _between(f"health_check.{key}", getattr(args.health_check, key), lo, hi)
    if len(args.subnet_ids) < 2:
        problems.append(f"subnet_ids: {len(args.subnet_ids)} subnet(s); allowed: at least 2 "
                        "(an ALB spans at least two zones)")
    if args.slow_start_s and not (30 <= args.slow_start_s <= 900 and args.algorithm == "round_robin"):
        # AWS: the least outstanding requests and weighted random algorithms cannot be used
        # with slow start mode.
        problems.append(f"slow_start_s: {args.slow_start_s!r} with algorithm {args.algorithm!r}; "
                        "allowed: 0 (off), or 30 to 900 with round_robin")
    _refuse("LoadBalancerArgs", problems)


def check_cluster(args: EcsClusterArgs) -> None:
    _refuse("EcsClusterArgs", _choice("container_insights", args.container_insights, CONTAINER_INSIGHTS))


def check_autoscaling(args: AutoscalingArgs) -> None:
    _refuse("AutoscalingArgs", _task_count("scaling.task_count", args.scaling.task_count))


def check_fargate_service(args: FargateServiceArgs) -> None:
    problems = _choice("cpu_architecture", args.cpu_architecture, CPU_ARCHITECTURES) + \
        _task_count("scaling.task_count", args.scaling.task_count)
    try:
        program_task_size(args.cpu_millicores, args.memory_mib, args.scratch_mib)
    except ValueError as err:
        problems.append(f"cpu_millicores {args.cpu_millicores}, memory_mib {args.memory_mib}, scratch_mib "
                        f"{args.scratch_mib}; allowed: a size one Fargate task can hold ({err})")
    _refuse("FargateServiceArgs", problems)
