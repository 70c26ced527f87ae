"""The rules of the apigw policy pack, one module each (named after the rule, area first).

Each module exposes NAME, TOKENS (type token -> top-level properties it reads, checked against
the installed provider SDKs by tests/test_policy_tokens.py) and POLICY.
"""
from __future__ import annotations

from . import (
    health_checks,
    prod_disruption_budget,
    prod_load_balanced_gateway,
    prod_min_instances,
    prod_min_nodes,
    prod_monitoring,
    prod_multi_zone,
    prod_no_single_host_target,
    prod_service_mesh,
    prod_spread_across_hosts,
    prod_strict_mtls,
    security_deletion_protection,
    security_https,
    security_image_digest,
    security_image_tag,
    security_no_public_ip,
    security_secret_env,
    security_waf,
)

RULES = (
    prod_min_instances, prod_multi_zone, prod_spread_across_hosts, prod_min_nodes, prod_no_single_host_target,
    prod_load_balanced_gateway, prod_disruption_budget, prod_monitoring, prod_service_mesh, prod_strict_mtls,
    health_checks, security_https, security_waf, security_deletion_protection, security_no_public_ip,
    security_image_tag, security_image_digest, security_secret_env,
)


def policies() -> list:
    return [rule.POLICY for rule in RULES]
