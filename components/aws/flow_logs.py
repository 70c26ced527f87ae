"""VPC flow logs: every accepted and rejected flow of the VPC, to a CloudWatch log group.

Delivered by an IAM role that only VPC Flow Logs of this account and region may assume, and that may
write to this one log group only. For an incident: which address talked to which, on which port, and
what a security group refused.
"""
from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from .args import FlowLogsArgs
from .iam import service_trust_policy
from .options import partition

TRAFFIC_TYPES = ("ALL", "ACCEPT", "REJECT")
AGGREGATION_INTERVALS_S = (60, 600)
"""The values AWS allows for max_aggregation_interval (provider docs, aws.ec2.FlowLog)."""
DELIVERY_PRINCIPAL = "vpc-flow-logs.amazonaws.com"


def delivery_trust_policy(region: str, account_id: str) -> str:
    """Only this account's flow logs in this region may assume the role (confused-deputy guard)."""
    return service_trust_policy(DELIVERY_PRINCIPAL, account_id,
                                f"arn:{partition(region)}:ec2:{region}:{account_id}:vpc-flow-log/*")


def delivery_policy(log_group_arn: str) -> str:
    """Write to one log group: its streams and their events; list the region's log group names to find it."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "WriteFlowLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [log_group_arn, f"{log_group_arn}:*"],
        }, {
            "Sid": "FindTheLogGroup",
            "Effect": "Allow",
            "Action": "logs:DescribeLogGroups",
            "Resource": log_group_arn.rsplit(":log-group:", 1)[0] + ":log-group:*",
        }],
    }, sort_keys=True)


def check_flow_logs(args: FlowLogsArgs) -> None:
    problems = []
    if args.traffic_type not in TRAFFIC_TYPES:
        problems.append(f"traffic_type: {args.traffic_type!r} is not one of {', '.join(TRAFFIC_TYPES)}")
    if args.aggregation_interval_s not in AGGREGATION_INTERVALS_S:
        problems.append(f"aggregation_interval_s: {args.aggregation_interval_s!r} is not 60 or 600")
    if problems:
        raise ValueError("FlowLogsArgs: " + "; ".join(problems))


class FlowLogs(pulumi.ComponentResource):
    TYPE = "apigw:aws:FlowLogs"

    def __init__(self, name: str, args: FlowLogsArgs, opts: pulumi.ResourceOptions | None = None):
        check_flow_logs(args)
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.log_group = aws.cloudwatch.LogGroup(f"{name}-logs", name=args.log_group_name,
                                                 retention_in_days=args.retention_days, opts=child)
        self.role = aws.iam.Role(
            f"{name}-role", description="VPC Flow Logs: writes the VPC's flows to its log group",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: delivery_trust_policy(args.region, account)), opts=child)
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-write", role=self.role.id, policy=self.log_group.arn.apply(delivery_policy), opts=child)
        self.flow_log = aws.ec2.FlowLog(
            f"{name}-vpc", vpc_id=args.vpc_id, traffic_type=args.traffic_type,
            log_destination_type="cloud-watch-logs", log_destination=self.log_group.arn, iam_role_arn=self.role.arn,
            max_aggregation_interval=args.aggregation_interval_s,
            # The first delivery checks the role's permissions.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]))
        self.register_outputs({"log_group": self.log_group.name})
