"""prod-monitoring: a prod stack alerts when the platform fails.

Without monitoring a failing gateway or service is found by its users. On aws that means the
CloudWatch alarms; on the Kubernetes-based targets the Prometheus alert rules
(monitoring.coreos.com/v1 PrometheusRule) that kube-prometheus-stack evaluates. The spec already
refuses `monitoring.enabled: false` in prod; this rule is the guard rail for any state,
including one built by an older program or by hand.
"""
from __future__ import annotations

from .common import is_prod, stack_policy
from .types import AWS_ECS_SERVICE, AWS_LBS, AWS_METRIC_ALARM, K8S_REPLICATED

NAME = "prod-monitoring"
K8S_ALERT_RULES = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
"""A custom resource of the Prometheus operator: not a provider SDK token, so not in TOKENS."""
TOKENS: dict[str, tuple[str, ...]] = {AWS_METRIC_ALARM: ()}


def validate(args, report):
    if not is_prod():
        args.not_applicable("the stack is not prod")
    present = {r.resource_type for r in args.resources}
    if present & {AWS_ECS_SERVICE, *AWS_LBS} and AWS_METRIC_ALARM not in present:
        report(f"the stack runs on AWS without CloudWatch alarms ({AWS_METRIC_ALARM}): prod must alert when "
               f"the gateway fails; turn monitoring on ({NAME})")
    if present & set(K8S_REPLICATED) and K8S_ALERT_RULES not in present:
        report(f"the stack runs workloads on Kubernetes without Prometheus alert rules ({K8S_ALERT_RULES}): "
               f"prod must alert when instances fail; turn monitoring on ({NAME})")


POLICY = stack_policy(
    NAME,
    "A prod stack has alerts: CloudWatch alarms on aws, Prometheus alert rules on Kubernetes.",
    validate,
    "Set apigw:monitoring.enabled to true (the default in prod) and give aws an alarm topic.",
)
