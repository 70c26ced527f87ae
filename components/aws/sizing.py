"""Fargate task sizes: the spec's millicores and MiB rounded up to a size Fargate accepts.

Pure Python (no Pulumi import) so the spec validation and the tests can call it directly.
Fargate does not take arbitrary sizes: each task CPU tier allows a fixed memory range and step
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size).
"""
from __future__ import annotations

import math

# Task CPU units (1024 = 1 vCPU) -> the task memory sizes (MiB) Fargate offers with it (Linux).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# AWS recommends reserving this much for the Service Connect proxy container ECS adds to each task.
SERVICE_CONNECT_PROXY_CPU_UNITS = 256
SERVICE_CONNECT_PROXY_MEMORY_MIB = 64


def cpu_units(millicores: int) -> int:
    """Kubernetes-style millicores (1000 = 1 vCPU) to ECS CPU units (1024 = 1 vCPU), rounded up."""
    return math.ceil(millicores * 1024 / 1000)


def fargate_task_size(cpu_needed: int, memory_needed_mib: int) -> tuple[int, int]:
    """The smallest (task CPU units, task memory MiB) Fargate offers that covers both needs.

    Raises ValueError naming the largest size when nothing is big enough.
    """
    if cpu_needed < 1 or memory_needed_mib < 1:
        raise ValueError(f"cpu {cpu_needed} and memory {memory_needed_mib} must be positive")
    for cpu in sorted(FARGATE_SIZES):
        if cpu < cpu_needed:
            continue
        for memory in FARGATE_SIZES[cpu]:
            if memory >= memory_needed_mib:
                return cpu, memory
    largest = max(FARGATE_SIZES)
    raise ValueError(f"needs {cpu_needed} CPU units and {memory_needed_mib} MiB; the largest Fargate task "
                     f"is {largest} CPU units with {FARGATE_SIZES[largest][-1]} MiB")


def program_task_size(cpu_millicores: int, memory_mib: int, scratch_mib: int) -> tuple[int, int]:
    """Task size for one program: its container (memory limit = memory_mib + its in-memory /tmp,
    since tmpfs pages count against the container) plus the Service Connect proxy."""
    return fargate_task_size(cpu_units(cpu_millicores) + SERVICE_CONNECT_PROXY_CPU_UNITS,
                             memory_mib + scratch_mib + SERVICE_CONNECT_PROXY_MEMORY_MIB)


# In-memory /tmp (tmpfs) per container: the root filesystem is read-only. nginx buffers large
# request and response bodies there; the demo backends only need it to exist.
GATEWAY_SCRATCH_MIB = 64
SERVICE_SCRATCH_MIB = 16
