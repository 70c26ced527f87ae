"""The policy pack's AWS rules on aws-prod (offline, tools/check.py): compliant by construction,
and a copy with every `instances.min` set to 1 is refused, resource by resource."""
from __future__ import annotations

import copy

import pytest

from tools.offline import stack_config

from tools import check  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")
SERVICES = ("users-api", "locations-api", "payments-api")


def test_aws_prod_passes_every_mandatory_rule():
    report = check.check_stack("aws-prod", stack_config("aws-prod"))
    assert not report.problems and not report.failed and report.mandatory == 0
    # Only the advisory digest rule remains: the stack pins tags, and says to REPLACE the demo images.
    assert {(v.policy, v.level) for v in report.violations} <= {("security-image-digest", "advisory")}


def test_single_host_copy_of_aws_prod_is_refused():
    config = copy.deepcopy(stack_config("aws-prod"))
    for block in [config["apigw:gateway"], *config["apigw:services"].values()]:
        block["instances"]["min"] = 1
    report = check.check_stack("aws-prod-single-host", config)
    assert report.failed and not report.problems
    mandatory = {(v.policy, v.resource): v.message for v in report.violations if v.mandatory}
    for service in SERVICES:
        assert "desiredCount is 1; prod needs at least 2" in \
            mandatory[("prod-min-instances", f"apigw-{service}-service")]
        assert "minCapacity is 1; prod needs at least 2" in \
            mandatory[("prod-min-instances", f"apigw-{service}-scaling-target")]
    assert "desiredCount is 1; prod needs at least 3 for the gateway fleet" in \
        mandatory[("prod-min-instances", "apigw-gateway-service")]
    assert "minCapacity is 1; prod needs at least 3 for the gateway fleet" in \
        mandatory[("prod-min-instances", "apigw-gateway-scaling-target")]
    assert "routes to apigw-gateway-service" in mandatory[("prod-load-balanced-gateway", "apigw-lb-alb")]
