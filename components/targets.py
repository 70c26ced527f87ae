"""The target contract and the registry: the one place that lists where a stack can run.

A target is a folder under components/ with a `target.py` that declares a `Target` (below), plus
one line in `REGISTRY`. The spec (components/spec.py), the program (infra/program.py) and the
offline tools (tools/offline.py) ask the registry; nothing else branches on target names.

Pure Python: `target.py` modules import no provider SDK, so validating a stack loads none.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .validation import Problems

# target name -> the module that declares it, relative to this package (installed as
# apigw_platform, it is not `components`). Adding a target: a folder with a target.py, and a line here.
REGISTRY: dict[str, str] = {
    "aws": ".aws.target",
    "azure": ".azure.target",
    "docker": ".docker.target",
    "gcp": ".gcp.target",
    "kubernetes": ".kubernetes.target",
    "local": ".local.target",
}

OptionsParser = Callable[[dict, Problems, Any], Any]
"""(the whole project config, the problem collector, the StackSpec so far) -> the target's options."""
SpecCheck = Callable[[Any, Problems], None]
"""(the StackSpec with its options) -> records what the neutral spec allows but the target cannot honour."""

# Every neutral key path a stack may set; `*` stands for a service's name.
NEUTRAL_KEYS: tuple[str, ...] = (
    "target", "phase", "region", "mesh", "labels",
    "gateway.image", "gateway.port", "gateway.instances.min", "gateway.instances.max",
    "gateway.cpu_millicores", "gateway.memory_mib", "gateway.limits.requests_per_second", "gateway.limits.burst",
    "gateway.limits.max_body_mib", "gateway.limits.connections_per_client",
    "services.*.image", "services.*.port", "services.*.path_prefix", "services.*.health_check_path",
    "services.*.instances.min", "services.*.instances.max", "services.*.cpu_millicores",
    "services.*.memory_mib", "services.*.environment", "services.*.command",
    "load_balancer.algorithm", "load_balancer.health_check.path", "load_balancer.health_check.interval_s",
    "load_balancer.health_check.timeout_s", "load_balancer.health_check.healthy_threshold",
    "load_balancer.health_check.unhealthy_threshold", "load_balancer.health_check.matcher",
    "load_balancer.tls_certificate", "load_balancer.http_to_https_redirect",
    "monitoring.enabled", "monitoring.alarm_topic",
)
_MAPPINGS_AS_VALUES = ("labels", "services.*.environment")
"""Keys whose value is a free-form mapping: its entries are data, not key paths."""


@dataclass(frozen=True)
class Target:
    """What a target provides. Each field is read by the spec, the program or the offline tools."""

    name: str
    default_region: str
    """Region used when the stack sets none ("" for targets without regions)."""
    phases: tuple[str, ...]
    phase_reason: str
    """Why a phase outside `phases` is refused (shown in the message); "" when all phases are allowed."""
    algorithms: Mapping[str, tuple[str, ...]]
    """mesh -> the load_balancer.algorithm values honoured with it, the default first. The keys are
    the meshes the target supports ("none" only, for a target without a mesh)."""
    option_blocks: tuple[str, ...]
    """Config blocks (`<project>:<block>`) this target reads, e.g. ("aws",) or ("azure", "kubernetes")."""
    parse_options: OptionsParser
    check_spec: SpecCheck
    builder: str
    """Module with `build(spec) -> dict of stack outputs`, relative to this package (".aws.platform");
    imported only when the stack runs (`builder_module`)."""
    honoured_keys: tuple[str, ...]
    """Neutral key paths (NEUTRAL_KEYS patterns) this target carries out. A stack setting any other
    is told so (see `unhonoured_keys`), never silently ignored."""
    offline_mocks: str | None = None
    """Module with MOCK_OUTPUTS and MOCK_CALLS for the offline plan (tools/mocks/), or None."""
    notes: dict[str, str] = field(default_factory=dict)
    """Key path -> why this target does not honour it; shown with the refusal."""
    metrics_backends: tuple[str, ...] = ()
    """Kubernetes-based targets: who collects the workloads' metrics (`kubernetes.metrics_backend`), the
    default first: kube-prometheus-stack in the cluster, or the cloud's managed Prometheus."""
    algorithm_notes: Mapping[str, str] = field(default_factory=dict)
    """mesh -> why load_balancer.algorithm allows what it does with it; shown when a stack asks for another."""
    makes_certificate: Callable[[dict], bool] | None = None
    """Given the raw config, whether the target makes the load balancer's certificate itself (aws.domain):
    then the stack serves HTTPS without load_balancer.tls_certificate."""

    @property
    def meshes(self) -> tuple[str, ...]:
        return tuple(self.algorithms)

    def allowed_algorithms(self, mesh: str) -> tuple[str, ...]:
        return self.algorithms.get(mesh, self.algorithms["none"])

    def builder_module(self):
        return importlib.import_module(self.builder, __package__)

    def honours(self, key: str) -> bool:
        """Whether the target carries out `key`, a NEUTRAL_KEYS pattern (`services.*.image`)."""
        return key in self.honoured_keys


@functools.cache
def target(name: str) -> Target:
    """The declared target `name`; KeyError when the registry has no such line."""
    declared = importlib.import_module(REGISTRY[name], __package__).TARGET
    if declared.name != name:
        raise ValueError(f"{REGISTRY[name]} declares target {declared.name!r}, registered as {name!r}")
    return declared


def names() -> tuple[str, ...]:
    """The registered targets that are installed. The components' wheel (pyproject.toml) leaves out
    the local target, which runs processes from a checkout; there the registry has no local."""
    return tuple(sorted(name for name in REGISTRY if _installed(name)))


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(REGISTRY[name].rsplit(".", 1)[0], __package__) is not None
    except ModuleNotFoundError:
        return False


def all_targets() -> tuple[Target, ...]:
    return tuple(target(name) for name in names())


def option_blocks() -> tuple[str, ...]:
    """Every target-specific config block any target reads."""
    return tuple(sorted({block for t in all_targets() for block in t.option_blocks}))


def honoured_table() -> str:
    """The table of neutral keys each target honours (README and docs/targets.md show it)."""
    declared = all_targets()
    rows = ["| key | " + " | ".join(t.name for t in declared) + " |", "|---|" + "---|" * len(declared)]
    for key in NEUTRAL_KEYS:
        rows.append(f"| `{key}` | " + " | ".join("yes" if t.honours(key) else "no" for t in declared) + " |")
    return "\n".join(rows) + "\n"


def set_keys(raw: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(key path, its pattern with service names as `*`, value) of every leaf a config sets (target
    blocks left out)."""
    found: list[tuple[str, str, Any]] = []

    def walk(value: Any, path: str, pattern: str) -> None:
        if pattern in _MAPPINGS_AS_VALUES or not isinstance(value, dict):
            found.append((path, pattern, value))
            return
        for key, child in value.items():
            walk(child, f"{path}.{key}", f"{pattern}.{'*' if pattern == 'services' else key}")

    blocks = option_blocks()
    for key, value in raw.items():
        if key in blocks or value in ({}, "", None) or (key == "mesh" and value == "none"):
            continue  # blocks belong to their target; {}, "" and mesh none are Pulumi.yaml's "not set"
        walk(value, key, key)
    return found


def unhonoured_keys(raw: Mapping[str, Any], declared: Target) -> list[tuple[str, str, Any]]:
    """(key path, its NEUTRAL_KEYS pattern, value) of every neutral key the config sets that
    `declared` does not carry out (unknown keys are the spec's to report)."""
    return [(path, pattern, value) for path, pattern, value in set_keys(raw)
            if pattern in NEUTRAL_KEYS and not declared.honours(pattern)]
