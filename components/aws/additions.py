"""platform.build's side of issue 17's production additions: the stack's AwsOptions.additions mapped to
the components' Args (WAF logging, ALB connection logs and zonal shift, per-zone alarms) and the network's
extra components (VPC endpoints, flow logs). The keys themselves are read in production_options.py.
"""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from ..spec import StackSpec
from .args import AccessLogsArgs, FlowLogsArgs, VpcEndpointsArgs, WafLoggingArgs
from .endpoints import VpcEndpoints
from .flow_logs import FlowLogs
from .network import Network, SecurityGroups
from .options import GATEWAY_PROGRAM, AwsOptions
from .production_options import INTERFACE_ENDPOINT_SERVICES, WAF_LOG_GROUP_PREFIX, ProductionAdditions


def waf_logging(spec: StackSpec, prefix: str) -> WafLoggingArgs | None:
    """The web ACL's log: aws-waf-logs-<project>-<stack>, kept as long as the tasks' logs."""
    options: AwsOptions = spec.options
    additions: ProductionAdditions = options.additions
    if not additions.waf_logging:
        return None
    return WafLoggingArgs(log_group_name=f"{WAF_LOG_GROUP_PREFIX}{prefix}", retention_days=options.log_retention_days,
                          redacted_headers=list(additions.waf_redacted_headers))


def connection_logs(spec: StackSpec, bucket: pulumi.Input[str] | None) -> AccessLogsArgs | None:
    """The ALB's connection logs: the access logs' bucket, a prefix of their own."""
    additions: ProductionAdditions = spec.options.additions
    if bucket is None or not additions.connection_logs:
        return None
    return AccessLogsArgs(bucket=bucket, prefix=additions.connection_logs_prefix)


def connection_logs_prefix(spec: StackSpec) -> str | None:
    """What the access-log bucket the stack creates must also let the ALB write under."""
    additions: ProductionAdditions = spec.options.additions
    return additions.connection_logs_prefix if additions.connection_logs else None


def network_additions(spec: StackSpec, name: str, prefix: str, vpc_id: pulumi.Input[str], network: Network | None,
                      groups: SecurityGroups, account_id: pulumi.Input[str],
                      opts: pulumi.ResourceOptions) -> dict[str, pulumi.ComponentResource]:
    """VPC endpoints and flow logs of the VPC the stack creates (an existing VPC's are its owner's; its flow
    logs may still be asked for with aws.flow_logs)."""
    options: AwsOptions = spec.options
    additions: ProductionAdditions = options.additions
    built: dict[str, pulumi.ComponentResource] = {}
    if network is not None and additions.vpc_endpoints != "none":
        interface = additions.vpc_endpoints == "all"
        clients = {GATEWAY_PROGRAM: groups.gateway.id, **{s: g.id for s, g in groups.services.items()}}
        built["endpoints"] = VpcEndpoints(f"{name}-endpoints", VpcEndpointsArgs(
            vpc_id=vpc_id, route_table_ids=network.task_route_table_ids,
            subnet_ids=network.task_subnet_ids if interface else [],
            client_security_group_ids=clients if interface else {},
            interface_services=list(INTERFACE_ENDPOINT_SERVICES) if interface else []), opts=opts)
    if additions.flow_logs:
        built["flow_logs"] = FlowLogs(f"{name}-flow-logs", FlowLogsArgs(
            vpc_id=vpc_id, log_group_name=f"/vpc/{prefix}/flow-logs", account_id=account_id, region=spec.region,
            retention_days=options.log_retention_days), opts=opts)
    return built


def gateway_zones(spec: StackSpec, network: Network | None, parent: pulumi.Resource) -> dict[str, str]:
    """Zone letter -> availability zone of every zone the gateway runs in: the created VPC's task zones, or the
    zones of an existing VPC's task subnets (looked up: the config names the subnets, not their zones)."""
    if network is not None:
        return {zone.key: zone.name for zone in network.task_zones}
    options: AwsOptions = spec.options
    subnets = options.private_subnet_ids[:1] if options.task_zones == "one" else options.private_subnet_ids
    zones: dict[str, str] = {}
    for subnet in subnets:
        zone = aws.ec2.get_subnet(id=subnet, opts=pulumi.InvokeOptions(parent=parent)).availability_zone
        zones.setdefault(zone.removeprefix(spec.region) or zone, zone)
    return zones
