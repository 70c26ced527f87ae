"""Shared fixtures: one offline run per stack per test session (a run takes about a second)."""
from __future__ import annotations

import copy
import functools
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.offline import Plan, run_program, stack_config  # noqa: E402


@functools.cache
def _cached_plan(stack: str) -> Plan:
    return run_program(stack)


@pytest.fixture(scope="session")
def plan_of():
    """plan_of("kubernetes-prod") -> the captured Plan of a shipped stack (cached)."""
    return _cached_plan


def variant_config(stack: str, change) -> dict:
    """A deep copy of a shipped stack's config, changed by `change(config)` in place."""
    config = copy.deepcopy(stack_config(stack))
    change(config)
    return config
