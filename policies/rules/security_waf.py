"""security-waf: a web application firewall is attached to the public load balancer.

aws: a WAFv2 web ACL association whose resourceArn is the internet-facing ALB. azure: the
Application Gateway runs the WAF_v2 tier with a firewall policy (or its own WAF configuration
on, in Prevention mode).
gcp: every external backend service (a regional one is internal unless its scheme says
otherwise) has a Cloud Armor security policy. On the kubernetes target
the public load balancer is the ingress controller's, created outside this program, so the WAF
belongs to that installation and this rule does not judge it.
"""
from __future__ import annotations

from .common import Stack, dig, is_internal, message, resource_message, show, stack_policy, truthy, unknown
from .topology import gcp_scheme
from .types import AWS_LBS, AWS_WAF_ASSOCIATION, AZ_APP_GATEWAY, GCP_BACKEND_SERVICES

NAME = "security-waf"
TOKENS = {
    **{t: ("internal", "loadBalancerType", "arn") for t in AWS_LBS},
    AWS_WAF_ASSOCIATION: ("resourceArn", "webAclArn"),
    AZ_APP_GATEWAY: ("sku", "firewallPolicy", "webApplicationFirewallConfiguration"),
    **{t: ("securityPolicy", "loadBalancingScheme") for t in GCP_BACKEND_SERVICES},
}
WAF_TIERS = ("WAF_v2", "WAF")


def _inline_waf(gateway, config, report):
    """Without a firewall policy, the gateway's own WAF configuration must be on and blocking."""
    path = "webApplicationFirewallConfiguration"
    if not isinstance(config, dict) or not truthy(config.get("enabled")):
        found = config.get("enabled") if isinstance(config, dict) else None
        report(message(gateway.name, gateway.resource_type, "firewallPolicy", None,
                       "prod needs a WAF policy attached (firewallPolicy.id) in Prevention mode", NAME,
                       f"not set and {path}.enabled is {show(found)}"), gateway.urn)
    elif config.get("firewallMode") != "Prevention" and not unknown(config.get("firewallMode")):
        report(message(gateway.name, gateway.resource_type, f"{path}.firewallMode", config.get("firewallMode"),
                       'prod needs "Prevention": Detection only logs the attacks it sees', NAME), gateway.urn)


def validate(args, report):
    stack = Stack(args.resources)
    associations = stack.of_type(AWS_WAF_ASSOCIATION)
    for lb in stack.of_type(*AWS_LBS):
        props = stack.props[lb.urn]
        if is_internal(props) or props.get("loadBalancerType") not in (None, "application"):
            continue
        if not any(stack.references(a, "resourceArn", lb) for a in associations):
            report(resource_message(lb.name, lb.resource_type,
                                    f"is internet-facing and no {AWS_WAF_ASSOCIATION} has resourceArn = its arn; "
                                    "prod needs a WAFv2 web ACL attached to it", NAME), lb.urn)
    for gateway in stack.of_type(AZ_APP_GATEWAY):
        props = stack.props[gateway.urn]
        tier = dig(props, "sku.tier")
        if tier not in WAF_TIERS:
            report(message(gateway.name, gateway.resource_type, "sku.tier", tier,
                           'prod needs "WAF_v2" with a firewall policy', NAME), gateway.urn)
        elif not dig(props, "firewallPolicy.id"):
            _inline_waf(gateway, dig(props, "webApplicationFirewallConfiguration"), report)
    for backend in stack.of_type(*GCP_BACKEND_SERVICES):
        props = stack.props[backend.urn]
        if gcp_scheme(backend.resource_type, props).startswith("EXTERNAL") and not props.get("securityPolicy"):
            report(message(backend.name, backend.resource_type, "securityPolicy", None,
                           "prod needs a Cloud Armor security policy on every external backend service", NAME),
                   backend.urn)


POLICY = stack_policy(
    NAME,
    "A web application firewall is attached to the public load balancer.",
    validate,
    "aws: associate a WAFv2 web ACL with the ALB; azure: WAF_v2 with a firewall policy; gcp: a Cloud Armor "
    "security policy on the backend services.",
)
