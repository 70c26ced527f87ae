"""A WAFv2 web ACL in front of the ALB: a per-IP rate limit and AWS managed rule groups."""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .args import WebFirewallArgs

# (priority, AWS managed rule group). Lower priorities are evaluated first; the rate limit (0)
# runs before them so a flood is cut off before the (per-request priced) rule groups see it.
MANAGED_RULE_GROUPS = (
    (10, "AWSManagedRulesAmazonIpReputationList"),
    (20, "AWSManagedRulesCommonRuleSet"),
    (30, "AWSManagedRulesKnownBadInputsRuleSet"),
)
# The common rule set blocks request bodies over 8 KB, which an API legitimately receives; the
# gateway caps bodies itself (client_max_body_size), so that one rule only counts.
RULE_ACTION_OVERRIDES = {"AWSManagedRulesCommonRuleSet": ["SizeRestrictions_BODY"]}


def _visibility(metric: str) -> dict:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric, "sampled_requests_enabled": True}


def web_acl_rules(rate_limit: int) -> list[dict]:
    rules: list[dict] = [{
        "name": "rate-limit-per-ip",
        "priority": 0,
        "action": {"block": {}},
        "statement": {"rate_based_statement": {"limit": rate_limit, "aggregate_key_type": "IP",
                                               "evaluation_window_sec": 300}},
        "visibility_config": _visibility("rate-limit-per-ip"),
    }]
    for priority, group in MANAGED_RULE_GROUPS:
        statement: dict = {"name": group, "vendor_name": "AWS"}
        if group in RULE_ACTION_OVERRIDES:
            statement["rule_action_overrides"] = [{"name": rule, "action_to_use": {"count": {}}}
                                                  for rule in RULE_ACTION_OVERRIDES[group]]
        rules.append({"name": group, "priority": priority, "override_action": {"none": {}},
                      "statement": {"managed_rule_group_statement": statement},
                      "visibility_config": _visibility(group)})
    return rules


class WebFirewall(pulumi.ComponentResource):
    TYPE = "apigw:aws:WebFirewall"

    def __init__(self, name: str, args: WebFirewallArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.web_acl = aws.wafv2.WebAcl(
            f"{name}-acl", scope="REGIONAL", description=args.description,
            default_action={"allow": {}}, rules=web_acl_rules(args.rate_limit_per_5_min),
            visibility_config=_visibility(f"{name}-acl"), opts=child)
        self.association = aws.wafv2.WebAclAssociation(
            f"{name}-alb", resource_arn=args.load_balancer_arn, web_acl_arn=self.web_acl.arn, opts=child)
        self.register_outputs({"web_acl": self.web_acl.arn})
