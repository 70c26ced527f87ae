"""IAM documents the aws components share."""
from __future__ import annotations

import json


def service_trust_policy(principal: str, account_id: str, source_arn: str) -> str:
    """A role only `principal` may assume, and only for this account's resources matching `source_arn`
    (the confused-deputy guard: aws:SourceAccount and aws:SourceArn)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": principal},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id},
                          "ArnLike": {"aws:SourceArn": source_arn}},
        }],
    }, sort_keys=True)
