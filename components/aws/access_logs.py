"""The S3 bucket the ALB writes its access logs (and connection logs) to: private, encrypted, expiring, TLS-only."""
from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from .args import AccessLogBucketArgs

# Regions opened before August 2022 deliver ALB logs from a regional Elastic Load Balancing
# account (the provider's elb.get_service_account knows them); newer regions only through the
# log-delivery service principal, and the lookup fails there, so it is asked for these only.
ELB_ACCOUNT_REGIONS = frozenset({
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-south-1",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
    "ap-southeast-3", "ca-central-1", "eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-south-1", "eu-north-1", "me-south-1", "sa-east-1", "us-gov-west-1", "us-gov-east-1",
    "cn-north-1", "cn-northwest-1",
})
LOG_DELIVERY_PRINCIPAL = "logdelivery.elasticloadbalancing.amazonaws.com"


def bucket_policy(bucket_arn: str, prefix: str, account_id: str, elb_principal: dict,
                  connection_prefix: str | None = None) -> str:
    """The ALB may write its access logs (and its connection logs, under their own prefix) and nothing else."""
    delivery = [f"{bucket_arn}/{p}/AWSLogs/{account_id}/*" for p in (prefix, connection_prefix) if p]
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AlbAccessLogDelivery", "Effect": "Allow", "Principal": elb_principal,
             "Action": "s3:PutObject", "Resource": delivery[0] if len(delivery) == 1 else delivery},
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [bucket_arn, f"{bucket_arn}/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ],
    }, sort_keys=True)


class AccessLogBucket(pulumi.ComponentResource):
    TYPE = "apigw:aws:AccessLogBucket"

    def __init__(self, name: str, args: AccessLogBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=False, opts=child)
        aws.s3.BucketOwnershipControls(f"{name}-ownership", bucket=self.bucket.id,
                                       rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
        aws.s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=self.bucket.id, block_public_acls=True,
                                       block_public_policy=True, ignore_public_acls=True,
                                       restrict_public_buckets=True, opts=child)
        # ALB access logs support SSE-S3 only (not SSE-KMS).
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=self.bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}], opts=child)
        logs = {"access-logs": args.prefix, "connection-logs": args.connection_logs_prefix}
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=self.bucket.id,
            rules=[{"id": f"expire-{kind}", "status": "Enabled",
                    "filter": {"prefix": f"{prefix}/"},
                    "expiration": {"days": args.retention_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}
                   for kind, prefix in logs.items() if prefix],
            opts=child)
        if args.region in ELB_ACCOUNT_REGIONS:
            elb = aws.elb.get_service_account_output(region=args.region, opts=pulumi.InvokeOutputOptions(parent=self))
            principal: pulumi.Input = elb.arn.apply(lambda arn: {"AWS": arn})
        else:
            principal = {"Service": LOG_DELIVERY_PRINCIPAL}
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy", bucket=self.bucket.id,
            policy=pulumi.Output.all(self.bucket.arn, args.account_id, principal).apply(
                lambda v: bucket_policy(v[0], args.prefix, v[1], v[2], args.connection_logs_prefix)),
            opts=child)
        self.bucket_name = self.bucket.bucket
        self.register_outputs({"bucket": self.bucket.bucket})
