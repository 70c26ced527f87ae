"""prod-disruption-budget: each prod workload has a PodDisruptionBudget that still allows one eviction.

Without a budget a node drain may evict every instance at once; with a budget that allows no
eviction (maxUnavailable 0, or minAvailable equal to the instances at the minimum) a drain
blocks forever and the cluster cannot be upgraded.
"""
from __future__ import annotations

import math
import re

from .common import Stack, dig, message, number, resource_message, show, stack_policy, unknown
from .kube import namespace, selector_matches, template_labels
from .topology import k8s_min_instances
from .types import K8S_HPAS, K8S_PDB, K8S_REPLICATED

NAME = "prod-disruption-budget"
TOKENS = {K8S_PDB: ("spec", "metadata"), **{t: ("spec", "metadata") for t in (*K8S_REPLICATED, *K8S_HPAS)}}
PERCENT = re.compile(r"^(\d+)%$")


def evictions_allowed(spec: dict, minimum: float) -> tuple[bool, str, object]:
    """(allows one eviction at the minimum?, the field that decides, its value)."""
    if spec.get("maxUnavailable") is not None:
        value = spec["maxUnavailable"]
        if unknown(value):
            return True, "spec.maxUnavailable", value
        match = PERCENT.match(value) if isinstance(value, str) else None
        amount = minimum * int(match.group(1)) / 100 if match else number(spec, "maxUnavailable", 0.0)
        # Kubernetes rounds a maxUnavailable percentage up: any non-zero percentage allows one.
        return (amount > 0), "spec.maxUnavailable", value
    value = spec.get("minAvailable")
    if value is None or unknown(value):
        return True, "spec.minAvailable", value
    match = PERCENT.match(value) if isinstance(value, str) else None
    # Kubernetes rounds a minAvailable percentage up too: 90% of 3 instances keeps all 3.
    required = math.ceil(minimum * int(match.group(1)) / 100) if match else number(spec, "minAvailable", 0.0)
    return required <= minimum - 1, "spec.minAvailable", value


def _selector_hint(labels: dict) -> str:
    return f"app={labels['app']}" if "app" in labels else f"labels {show(labels)}"


def validate(args, report):
    stack = Stack(args.resources)
    budgets = stack.of_type(K8S_PDB)
    for workload in stack.of_type(*K8S_REPLICATED):
        props = stack.props[workload.urn]
        labels = template_labels(props, workload.resource_type)
        matching = [b for b in budgets if namespace(stack.props[b.urn]) == namespace(props)
                    and selector_matches(dig(stack.props[b.urn], "spec.selector"), labels)]
        minimum, source = k8s_min_instances(stack, workload)
        if not matching:
            report(resource_message(
                workload.name, workload.resource_type,
                f"no PodDisruptionBudget selects its pods ({_selector_hint(labels)}); prod needs one with "
                "maxUnavailable 1 so node drains evict one instance at a time", NAME), workload.urn)
            continue
        for budget in matching:
            allowed, field, value = evictions_allowed(dig(stack.props[budget.urn], "spec") or {}, minimum)
            if not allowed:
                report(message(budget.name, budget.resource_type, field, value,
                               f"with {show(minimum)} instance(s) of {workload.name} at the minimum ({source}) "
                               "no eviction is ever allowed; prod needs a budget that allows one "
                               f"(maxUnavailable >= 1, or minAvailable <= {show(max(minimum - 1, 0))})", NAME),
                       budget.urn)


POLICY = stack_policy(
    NAME,
    "Each prod workload has a PodDisruptionBudget that still allows one eviction.",
    validate,
    "Keep instances.min >= 2 so the program adds its PodDisruptionBudget (maxUnavailable 1); never set "
    "minAvailable to the minimum number of instances.",
)
