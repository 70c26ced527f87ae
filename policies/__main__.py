"""The apigw policy pack: production never runs on a single host.

Started by the Pulumi CLI (`pulumi preview --policy-pack policies`) or by the offline check
(`make check`), both with the stack's config in PULUMI_CONFIG: each rule's default level is
mandatory when the stack's `apigw:phase` is prod and advisory otherwise (rules/common.py).
"""
from pulumi_policy import PolicyPack
from rules import policies
from rules.secrets import mark_secrets

mark_secrets()  # secret strings reach the rules marked (rules/secrets.py)

PolicyPack(
    name="apigw-policies",
    policies=policies(),
    description="API gateway platform: no single-host production; health checks, HTTPS, WAF, pinned images, "
                "a service mesh with strict mTLS, secrets by reference.",
)
