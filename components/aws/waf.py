"""A WAFv2 web ACL in front of the ALB: a per-IP rate limit and AWS managed rule groups, and (optionally)
its request log in CloudWatch Logs with the credentials redacted."""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .args import WafLoggingArgs, WebFirewallArgs
from .production_options import WAF_LOG_GROUP_PREFIX

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
        self.log_group = None
        if args.logging is not None:
            self.log_group = self._logging(name, args.logging, child)
        self.register_outputs({"web_acl": self.web_acl.arn})

    def _logging(self, name: str, args: WafLoggingArgs, child: pulumi.ResourceOptions) -> aws.cloudwatch.LogGroup:
        check_waf_logging(args)
        log_group = aws.cloudwatch.LogGroup(f"{name}-logs", name=args.log_group_name,
                                            retention_in_days=args.retention_days, opts=child)
        # WAF adds the log group's resource policy (delivery.logs.amazonaws.com may write) when logging starts.
        aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-logging", resource_arn=self.web_acl.arn, log_destination_configs=[log_group.arn],
            redacted_fields=[{"single_header": {"name": header}} for header in args.redacted_headers], opts=child)
        return log_group


def check_waf_logging(args: WafLoggingArgs) -> None:
    problems = []
    if not args.log_group_name.startswith(WAF_LOG_GROUP_PREFIX):
        problems.append(f"log_group_name: {args.log_group_name!r} does not start with {WAF_LOG_GROUP_PREFIX} "
                        "(AWS WAF logs only there)")
    lowercase = [h for h in args.redacted_headers if h != h.lower()]
    if lowercase:
        problems.append(f"redacted_headers: {lowercase} are not lowercase (AWS WAF matches header names in lowercase)")
    if problems:
        raise ValueError("WafLoggingArgs: " + "; ".join(problems))
