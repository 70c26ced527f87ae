"""ECR pull-through cache rules for the registries a stack's images come from.

ECR fetches an image from the upstream registry once, signed in with the rule's secret, and serves
every later pull from the account's private registry: rollouts and scale-outs no longer depend on
Docker Hub's anonymous pull limit (components/aws/images.py says why that matters).
"""
from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from .args import ImageCacheArgs
from .images import SECRET_ARN_RE, UPSTREAMS, cached_image, rule_prefix
from .options import partition

IMPORT_ACTIONS = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
"""What pulling through a cache needs beyond the execution role's managed policy: import the upstream
image, and create its repository on the first pull (ECR user guide, pull-through-cache-iam)."""


def import_policy(rule_prefixes: list[str], region: str, account_id: str) -> str:
    """Exactly the import actions, on exactly the rules' repositories."""
    arn = f"arn:{partition(region)}:ecr:{region}:{account_id}:repository"
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "PullThroughCache", "Effect": "Allow", "Action": IMPORT_ACTIONS,
        "Resource": [f"{arn}/{prefix}/*" for prefix in rule_prefixes],
    }]}, sort_keys=True)


class ImageCache(pulumi.ComponentResource):
    """The rules and the execution role's policy; `image(ref)` gives the reference tasks pull.
    List `ready` in an ECS service's depends_on: its tasks must not start before both exist."""

    TYPE = "apigw:aws:ImageCache"

    def __init__(self, name: str, args: ImageCacheArgs, opts: pulumi.ResourceOptions | None = None):
        unknown = [host for host in args.registries if host not in UPSTREAMS]
        if unknown:
            raise ValueError(f"ImageCacheArgs.registries: {unknown} cannot be cached; allowed: {', '.join(UPSTREAMS)}")
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._args = args
        prefixes = [rule_prefix(args.prefix, UPSTREAMS[host]) for host in args.registries]
        self.rules = []
        for host, prefix in zip(args.registries, prefixes, strict=True):
            secret = args.credentials.get(host)
            if secret is not None and not SECRET_ARN_RE.match(secret):
                # A name: looked up, so a missing secret fails the preview, naming it, not the first pull.
                secret = aws.secretsmanager.get_secret_output(
                    name=secret, opts=pulumi.InvokeOutputOptions(parent=self)).arn
            self.rules.append(aws.ecr.PullThroughCacheRule(
                f"{name}-{UPSTREAMS[host].short}", ecr_repository_prefix=prefix,
                upstream_registry_url=UPSTREAMS[host].url, credential_arn=secret, opts=child))
        self.import_policy = pulumi.Output.from_input(args.account_id).apply(
            lambda account: import_policy(prefixes, args.region, account))
        """The policy document; a service with its own execution role (one with secrets) attaches it too."""
        self.policy = aws.iam.RolePolicy(f"{name}-import", role=args.execution_role_name, policy=self.import_policy,
                                         opts=child)
        self.ready = [*self.rules, self.policy]
        self.register_outputs({"repository_prefixes": prefixes})

    def image(self, ref: str) -> pulumi.Output[str]:
        """The reference tasks pull for `ref`: its cached copy (or `ref` itself, from a private ECR)."""
        return pulumi.Output.from_input(self._args.account_id).apply(
            lambda account: cached_image(ref, self._args.prefix, account, self._args.region))
