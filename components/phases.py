"""Phase presets: what a stack gets for every key it leaves out.

The meanings come from the reference document (mission/load-balancing-best-practices.md):

- dev: one host; one instance of each program is enough (the local target runs
  several on different ports to try algorithms and health checks).
- staging: production-like config on one host; at least two instances per program.
- prod: several hosts over at least two zones; the gateway runs at least three
  instances and every service at least two; autoscaling, TLS and monitoring on.

Presets only fill gaps. A prod stack that asks for fewer instances is not silently
"fixed" here: the policy pack (policies/) is what refuses single-host production,
so the refusal names the rule and the resource.
"""
from __future__ import annotations

from dataclasses import dataclass

PHASES = ("dev", "staging", "prod")


@dataclass(frozen=True)
class PhasePreset:
    gateway_min: int
    gateway_max: int
    service_min: int
    service_max: int
    min_zones: int
    http_to_https_redirect: bool
    monitoring: bool
    spread_over_hosts: bool
    """Topology spread on zone and hostname."""
    network_policies: bool
    """Default-deny NetworkPolicies: staging exercises the same set as prod."""


PRESETS: dict[str, PhasePreset] = {
    "dev": PhasePreset(1, 2, 1, 2, min_zones=1, http_to_https_redirect=False, monitoring=False,
                       spread_over_hosts=False, network_policies=False),
    "staging": PhasePreset(2, 4, 2, 4, min_zones=1, http_to_https_redirect=False, monitoring=True,
                           spread_over_hosts=False, network_policies=True),
    "prod": PhasePreset(3, 10, 2, 10, min_zones=2, http_to_https_redirect=True, monitoring=True,
                        spread_over_hosts=True, network_policies=True),
}

# Phase floors the policy pack enforces in prod (kept here so rules and presets agree).
PROD_MIN_GATEWAY_INSTANCES = 3
PROD_MIN_SERVICE_INSTANCES = 2
PROD_MIN_ZONES = 2
