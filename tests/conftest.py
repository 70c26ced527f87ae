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


# --- the local target's real processes ---------------------------------------------------------

def require_programs(*names: str) -> None:
    """Skip when a program the test runs is not installed (CI installs them: there a missing one fails)."""
    import os
    import shutil
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [n for n in names if shutil.which(n, path=path) is None]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"not installed: {', '.join(missing)} (apt-get install {' '.join(missing)})")


@pytest.fixture
def local_programs():
    """HAProxy and nginx, which a running local topology needs (`pytest.mark.usefixtures("local_programs")`)."""
    require_programs("haproxy", "nginx")


@pytest.fixture
def topology(tmp_path):
    """local-dev's topology in a state dir of the test's own, not started; whatever runs is stopped after."""
    from components.local import processes
    from components.local.topology import plan_topology
    from tools.bench_support import local_spec
    planned = plan_topology(local_spec("local-dev", tmp_path / "state"), tmp_path / "state")
    yield planned
    processes.stop_all(planned.processes)


@pytest.fixture
def start(tmp_path):
    """start(**config changes) -> a running local-dev topology; everything is stopped after the test."""
    from components.local import processes
    from components.local.topology import plan_topology
    from tools.bench_support import local_spec
    started = []

    def _start(**changes):
        state = tmp_path / f"state{len(started)}"
        planned = plan_topology(local_spec("local-dev", state, **changes), state)
        started.append(planned)
        processes.start_all(planned.processes, planned.state_dir)
        return planned

    yield _start
    for planned in started:
        processes.stop_all(planned.processes)


@pytest.fixture
def fresh_run(monkeypatch):
    """A fresh record of the processes this test process started (processes.RUN)."""
    from components.local import processes
    monkeypatch.setattr(processes, "RUN", processes.Run())
    return processes.RUN
