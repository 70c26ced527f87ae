"""The policy pack's AWS rules on aws-prod (offline, tools/check.py): compliant by construction; a copy with
every `instances.min` set to 1 is refused by the spec already, one with the gateway below its floor by the pack."""
from __future__ import annotations

import copy

import pytest

from tools import check  # noqa: E402
from tools.offline import stack_config

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")
SERVICES = ("users-api", "locations-api", "payments-api")


def test_aws_prod_passes_every_mandatory_rule():
    report = check.check_stack("aws-prod", stack_config("aws-prod"))
    assert not report.problems and not report.failed and report.mandatory == 0
    # Only the advisory digest rule remains: the stack pins tags, and says to REPLACE the demo images.
    assert {(v.policy, v.level) for v in report.violations} <= {("security-image-digest", "advisory")}


def test_single_host_copy_of_aws_prod_is_refused_before_it_is_planned():
    """On aws the spec asks for one task per zone in prod: a copy with every `instances.min` set to 1 is refused,
    each key named, before the policy pack would see it."""
    config = copy.deepcopy(stack_config("aws-prod"))
    for block in [config["apigw:gateway"], *config["apigw:services"].values()]:
        block["instances"]["min"] = 1
    report = check.check_stack("aws-prod-single-host", config)
    assert report.failed and report.resources == 0
    refused = [line.split(":")[1] for line in report.problems[1:]]
    assert refused == ["gateway.instances.min", *(f"services.{s}.instances.min" for s in sorted(SERVICES))]
    assert all("at least 3 in prod: one task in each of the 3 zones" in line for line in report.problems[1:])


def test_the_gateway_floor_of_three_is_the_policy_packs():
    """Two zones and two tasks per program satisfy the spec's one task per zone; the policy pack still holds the
    gateway fleet to its floor of three, resource by resource."""
    config = copy.deepcopy(stack_config("aws-prod"))
    config["apigw:aws"]["zones"] = 2
    for block in [config["apigw:gateway"], *config["apigw:services"].values()]:
        block["instances"]["min"] = 2
    report = check.check_stack("aws-prod-two-zones", config)
    assert report.failed and not report.problems
    mandatory = {(v.policy, v.resource): v.message for v in report.violations if v.mandatory}
    assert sorted(mandatory) == [("prod-min-instances", "apigw-gateway-scaling-target"),
                                 ("prod-min-instances", "apigw-gateway-service")]
    assert "desiredCount is 2; prod needs at least 3 for the gateway fleet" in \
        mandatory[("prod-min-instances", "apigw-gateway-service")]
    assert "minCapacity is 2; prod needs at least 3 for the gateway fleet" in \
        mandatory[("prod-min-instances", "apigw-gateway-scaling-target")]
