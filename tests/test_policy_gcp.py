"""The policy pack on the shipped gcp-prod stack: the backend service is followed to the gateway fleet.

tests/test_policy_rules.py judges a hand-written GKE baseline; this checks that the GCP target's
own program (components/gcp) emits what policies/rules/topology.gcp_backend_reach follows: NEG
groups whose name the gateway Service's cloud.google.com/neg annotation gives. Were the two to
drift apart, the backend service would be reported as reaching no Service instead.
"""
from __future__ import annotations

import pytest

from policies.rules import types as T
from tests.test_policy_rules import captured, findings, start
from tools.offline import stack_names

RULE = "prod-load-balanced-gateway"


@pytest.fixture
def gcp_prod(plan_of):
    if "gcp-prod" not in stack_names():
        pytest.skip("no gcp-prod stack yet")
    return captured(plan_of, "gcp-prod")


def test_the_backend_service_reaches_the_gateway_fleet_through_its_negs(gcp_prod):
    """With a floor of 4 the backend service is reported with the gateway's 3 instances (HPA
    minimum): it was followed to the Deployment, not left as an entry point that reaches nothing."""
    [backend] = [r for r in gcp_prod if r.type == T.GCP_BACKEND_SERVICE]
    assert all("/networkEndpointGroups/" in b["group"] for b in backend.properties["backends"])
    with start("prod", target="gcp", pack_config={RULE: {"minInstances": 4}}) as pack:
        [v] = [v for v in findings(pack, gcp_prod) if v.policy == RULE]
    assert (v.resource, v.level) == (backend.name, "mandatory")
    assert v.message == (f"{backend.name} ({T.GCP_BACKEND_SERVICE}): routes to apigw-gateway-deployment "
                         "(kubernetes:apps/v1:Deployment), which runs 3 instance(s) at its minimum (apigw-gateway-hpa "
                         "spec.minReplicas); prod needs at least 4 gateway instances behind the load balancer "
                         f"({RULE})")
