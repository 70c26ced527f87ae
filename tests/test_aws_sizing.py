"""Fargate task sizes: always a size Fargate offers, never smaller than needed, never wasteful."""
from __future__ import annotations

import itertools

import pytest

from components.aws.sizing import (
    FARGATE_SIZES,
    SERVICE_CONNECT_PROXY_CPU_UNITS,
    SERVICE_CONNECT_PROXY_MEMORY_MIB,
    cpu_units,
    fargate_task_size,
    program_task_size,
)

VALID = {(cpu, memory) for cpu, memories in FARGATE_SIZES.items() for memory in memories}
CPU_NEEDS = [1, 100, 255, 256, 257, 512, 600, 1024, 1500, 2048, 3000, 4096, 6000, 8192, 10000, 16384]
MEMORY_NEEDS = [1, 100, 512, 513, 1024, 1536, 2047, 2048, 2049, 4096, 5000, 8192, 9000, 16384, 20000,
                30720, 30721, 61440, 61441, 100000, 122880]


def test_the_table_matches_aws():
    assert FARGATE_SIZES[256] == (512, 1024, 2048)
    assert FARGATE_SIZES[512] == (1024, 2048, 3072, 4096)
    assert (FARGATE_SIZES[4096][0], FARGATE_SIZES[4096][-1]) == (8192, 30720)
    assert FARGATE_SIZES[8192][1] - FARGATE_SIZES[8192][0] == 4096
    assert (FARGATE_SIZES[16384][0], FARGATE_SIZES[16384][-1], FARGATE_SIZES[16384][1] - FARGATE_SIZES[16384][0]) \
        == (32768, 122880, 8192)


def test_result_is_valid_sufficient_and_the_smallest():
    for cpu_needed, memory_needed in itertools.product(CPU_NEEDS, MEMORY_NEEDS):
        fits = sorted((c, m) for c, m in VALID if c >= cpu_needed and m >= memory_needed)
        if not fits:  # only then may it refuse
            with pytest.raises(ValueError):
                fargate_task_size(cpu_needed, memory_needed)
            continue
        # Valid, big enough, and no offered size that fits is smaller (CPU first, then memory).
        assert fargate_task_size(cpu_needed, memory_needed) == fits[0], (cpu_needed, memory_needed)


def test_examples():
    assert fargate_task_size(256, 512) == (256, 512)
    assert fargate_task_size(256, 1536) == (256, 2048)  # 1536 is not offered with 0.25 vCPU
    assert fargate_task_size(256, 3000) == (512, 3072)
    assert fargate_task_size(359, 144) == (512, 1024)
    assert fargate_task_size(16384, 122880) == (16384, 122880)


def test_too_big_names_the_largest():
    with pytest.raises(ValueError, match="largest Fargate task is 16384 CPU units with 122880 MiB"):
        fargate_task_size(16385, 1)
    with pytest.raises(ValueError):
        fargate_task_size(1, 122881)


@pytest.mark.parametrize("millicores, units", [(1000, 1024), (250, 256), (100, 103), (1, 2), (16000, 16384)])
def test_millicores_to_cpu_units_round_up(millicores, units):
    assert cpu_units(millicores) == units


def test_program_size_adds_scratch_and_the_service_connect_proxy():
    assert (SERVICE_CONNECT_PROXY_CPU_UNITS, SERVICE_CONNECT_PROXY_MEMORY_MIB) == (256, 64)
    assert program_task_size(250, 128, 64) == (512, 1024)   # 256 + 256 units; 128 + 64 + 64 MiB
    assert program_task_size(500, 256, 64) == (1024, 2048)  # 512 + 256 = 768 -> 1 vCPU
    assert program_task_size(100, 1900, 16) == (512, 2048)  # 1980 MiB fits 0.25 vCPU's 2048, CPU needs 512
