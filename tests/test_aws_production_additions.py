"""aws: issue 17's production additions. Logs for incidents (WAF logs with credentials redacted, ALB connection
logs, VPC flow logs, the real client address in nginx's log), VPC endpoints, and zone resilience (zonal shift,
a healthy-host alarm per zone, one task per zone): exact resource inputs by type token, and each key's refusals."""
from __future__ import annotations

import base64
import gzip
import json

import pytest

from components.aws.args import FlowLogsArgs, VpcEndpointsArgs, WafLoggingArgs
from components.aws.endpoints import VpcEndpoints
from components.aws.flow_logs import FlowLogs
from components.aws.production_options import ProductionAdditions
from components.aws.waf import check_waf_logging
from components.spec import SpecError, parse_spec
from tests.conftest import variant_config
from tools.offline import capture, project_keys, run_program, stack_config

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LB = "aws:lb/loadBalancer:LoadBalancer"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"

PROGRAMS = ("gateway", "locations-api", "payments-api", "users-api")
ZONES = ("a", "b", "c")
LB_SUFFIX = "app/apigw-lb-alb/cdc4eb7dcd2b67b2"
TG_SUFFIX = "targetgroup/apigw-lb-gateway/de008e4e8fbedbee"
TOPIC = "arn:aws:sns:us-east-1:123456789012:apigw-prod-alarms"
LOGS = "arn:aws:logs:us-east-1:123456789012:log-group"
PUBLIC = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2", "subnet-0aaaaaaaaaaaaaaa3"]
PRIVATE = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0bbbbbbbbbbbbbbb3"]
PUBLIC_CIDRS = ["10.9.128.0/24", "10.9.129.0/24", "10.9.130.0/24"]
EXISTING = {"vpc_id": "vpc-0123456789abcdef0", "public_subnet_ids": PUBLIC, "private_subnet_ids": PRIVATE,
            "private_subnet_cidrs": ["10.9.0.0/20", "10.9.16.0/20", "10.9.32.0/20"],
            "public_subnet_cidrs": PUBLIC_CIDRS}


@pytest.fixture(scope="module")
def prod(plan_of):
    return plan_of("aws-prod")


def aws_block(**changes):
    """A change for variant_config: the stack's aws block with `changes` (None removes a key)."""
    def change(config):
        block = {**config.get("apigw:aws", {}), **changes}
        config["apigw:aws"] = {k: v for k, v in block.items() if v is not None}
    return change


def existing_network(**changes):
    created_only = dict.fromkeys(("vpc_cidr", "nat_gateways", "zones", "vpc_endpoints"))
    return aws_block(**{**created_only, **EXISTING, **changes})


def problems(stack: str, change) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(project_keys(variant_config(stack, change)))
    return [str(p) for p in err.value.problems]


def nginx_config(plan) -> str:
    (container,) = json.loads(plan.one(TASK_DEFINITION, "apigw-gateway-task").inputs["containerDefinitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    return gzip.decompress(base64.b64decode(env["NGINX_CONF_GZ_B64"])).decode()


# --- 1. logs for incidents -----------------------------------------------------------------------------------

def test_waf_logs_to_its_own_log_group_with_credentials_redacted(prod):
    assert prod.one(LOG_GROUP, "apigw-waf-logs").inputs == {"name": "aws-waf-logs-apigw-aws-prod",
                                                            "retentionInDays": 90.0}
    assert prod.one(WAF_LOGGING, "apigw-waf-logging").inputs == {
        "resourceArn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/apigw-waf-acl",
        "logDestinationConfigs": [f"{LOGS}:aws-waf-logs-apigw-aws-prod"],
        "redactedFields": [{"singleHeader": {"name": "authorization"}}, {"singleHeader": {"name": "cookie"}}]}


def test_more_headers_can_be_redacted_but_never_fewer_than_the_credentials():
    plan = run_program("aws-prod-api-keys", variant_config("aws-prod", aws_block(
        waf_redacted_headers=["authorization", "cookie", "x-api-key"])))
    assert plan.one(WAF_LOGGING, "apigw-waf-logging").inputs["redactedFields"][-1] == \
        {"singleHeader": {"name": "x-api-key"}}
    allowed = ("a list of at most 100 distinct header names in lowercase that includes authorization and cookie "
               "(credentials never reach the logs), e.g. [authorization, cookie, x-api-key]")
    for value in (["authorization"], ["authorization", "Cookie"], "authorization",
                  ["cookie", "authorization", "cookie"]):
        assert problems("aws-prod", aws_block(waf_redacted_headers=value)) == [
            f"aws.waf_redacted_headers: found {value!r}; allowed: {allowed}"]


def test_waf_logging_needs_a_web_acl_and_stays_on_in_prod():
    assert problems("aws-dev", aws_block(waf_logging=True)) == [
        "aws.waf_logging: found True; allowed: false without aws.waf (there is no web ACL to log)"]
    assert problems("aws-prod", aws_block(waf_logging=False)) == [
        "aws.waf_logging: found False; allowed: true in prod (a blocked request must be explainable after an "
        "incident)"]
    with pytest.raises(ValueError, match="log_group_name: 'waf' does not start with aws-waf-logs-"):
        check_waf_logging(WafLoggingArgs(log_group_name="waf"))


def test_alb_connection_logs_go_to_the_access_log_bucket_under_their_own_prefix(prod):
    alb = prod.one(LB, "apigw-lb-alb").inputs
    assert alb["connectionLogs"] == {"enabled": True, "bucket": "apigw-access-logs-bucket",
                                     "prefix": "alb-connections"}
    assert alb["accessLogs"]["prefix"] == "alb"
    policy = json.loads(prod.one("aws:s3/bucketPolicy:BucketPolicy", "apigw-access-logs-policy").inputs["policy"])
    assert policy["Statement"][0]["Resource"] == [
        "arn:aws:s3:::apigw-access-logs-bucket/alb/AWSLogs/123456789012/*",
        "arn:aws:s3:::apigw-access-logs-bucket/alb-connections/AWSLogs/123456789012/*"]


def test_connection_logs_need_the_access_log_bucket_a_prefix_of_their_own_and_stay_on_in_prod(plan_of):
    assert "connectionLogs" not in plan_of("aws-staging").one(LB, "apigw-lb-alb").inputs
    assert problems("aws-staging", aws_block(connection_logs=True)) == [
        "aws.connection_logs: found True; allowed: false without aws.access_logs (the connection logs go to the "
        "access-log bucket)"]
    rule = ("letters, digits, '/', '.', '_' and '-', without a leading or trailing '/', without 'AWSLogs' (ALB adds "
            "it), and apart from aws.access_logs_prefix ('alb') so each log keeps its own prefix")
    for prefix in ("alb", "alb/connections", "/conn"):
        assert problems("aws-prod", aws_block(connection_logs_prefix=prefix)) == [
            f"aws.connection_logs_prefix: found {prefix!r}; allowed: {rule}"]
    assert problems("aws-prod", aws_block(connection_logs=False)) == [
        "aws.connection_logs: found False; allowed: true in prod (TLS and connection failures leave no access-log "
        "line)"]


def test_vpc_flow_logs_go_to_a_log_group_through_a_role_that_writes_there_only(prod):
    assert prod.one(LOG_GROUP, "apigw-flow-logs-logs").inputs == {"name": "/vpc/apigw-aws-prod/flow-logs",
                                                                  "retentionInDays": 90.0}
    flow_log = prod.one(FLOW_LOG, "apigw-flow-logs-vpc")
    assert flow_log.inputs == {
        "vpcId": "apigw-network-vpc-id", "trafficType": "ALL", "maxAggregationInterval": 60.0,
        "logDestinationType": "cloud-watch-logs", "logDestination": f"{LOGS}:/vpc/apigw-aws-prod/flow-logs",
        "iamRoleArn": "arn:aws:iam::123456789012:role/apigw-flow-logs-role"}
    assert any(urn.endswith("rolePolicy:RolePolicy::apigw-flow-logs-write") for urn in flow_log.dependencies)
    assert json.loads(prod.one(ROLE, "apigw-flow-logs-role").inputs["assumeRolePolicy"]) == {
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"},
                          "ArnLike": {"aws:SourceArn": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*"}}}]}
    policy = prod.one(ROLE_POLICY, "apigw-flow-logs-write").inputs
    assert policy["role"] == "apigw-flow-logs-role-id"
    assert json.loads(policy["policy"])["Statement"] == [
        {"Sid": "WriteFlowLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
         "Resource": [f"{LOGS}:/vpc/apigw-aws-prod/flow-logs", f"{LOGS}:/vpc/apigw-aws-prod/flow-logs:*"]},
        {"Sid": "FindTheLogGroup", "Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": f"{LOGS}:*"}]


def test_flow_logs_are_prods_own_and_an_existing_vpcs_on_request(plan_of):
    assert not plan_of("aws-staging").by_type(FLOW_LOG)
    assert problems("aws-prod", aws_block(flow_logs=False)) == [
        "aws.flow_logs: found False; allowed: true in prod (traffic the security groups refused must be traceable "
        "after an incident)"]
    # An existing VPC: off by default (its owner's), even in prod; asked for, on that VPC.
    quiet = run_program("aws-prod-existing", variant_config("aws-prod", existing_network(flow_logs=None)))
    assert not quiet.by_type(FLOW_LOG)
    logged = run_program("aws-prod-existing-logged", variant_config("aws-prod", existing_network(flow_logs=True)))
    assert logged.one(FLOW_LOG, "apigw-flow-logs-vpc").inputs["vpcId"] == "vpc-0123456789abcdef0"
    with pytest.raises(ValueError, match="aggregation_interval_s: 300 is not 60 or 600"):
        capture(lambda: FlowLogs("f", FlowLogsArgs(vpc_id="vpc-1", log_group_name="/f", account_id="1",
                                                   region="us-east-1", aggregation_interval_s=300)))


def test_nginx_logs_the_client_the_alb_names_and_believes_only_the_vpc(prod):
    config = nginx_config(prod)
    assert "set_real_ip_from 10.30.0.0/16;\n" in config   # aws-prod's vpc_cidr
    assert config.count("set_real_ip_from") == 1
    assert "real_ip_header X-Forwarded-For;" in config and "real_ip_recursive on;" in config
    assert '"remote_addr":"$remote_addr"' in config   # the access log: the real client, once real_ip has run


def test_with_an_existing_vpc_nginx_believes_its_public_subnets_only():
    """The program does not know an existing VPC's range: the ALB's subnets are given with theirs."""
    plan = run_program("aws-prod-existing", variant_config("aws-prod", existing_network()))
    config = nginx_config(plan)
    assert [line.strip() for line in config.splitlines() if "set_real_ip_from" in line] == [
        f"set_real_ip_from {cidr};" for cidr in PUBLIC_CIDRS]
    assert "10.0.0.0/16" not in config and "10.30.0.0/16" not in config


def test_the_public_subnet_ranges_come_with_an_existing_vpc_only():
    wanted = ("the 3 public subnets' ranges, in aws.public_subnet_ids' order: the load balancer's nodes are there, "
              "and the gateway believes X-Forwarded-For from them only")
    assert problems("aws-prod", existing_network(public_subnet_cidrs=None)) == [
        f"aws.public_subnet_cidrs: found None; allowed: {wanted}"]
    assert problems("aws-prod", existing_network(public_subnet_cidrs=PUBLIC_CIDRS[:2])) == [
        f"aws.public_subnet_cidrs: found {PUBLIC_CIDRS[:2]}; allowed: {wanted}"]
    assert problems("aws-prod", existing_network(public_subnet_cidrs=["10.9.128.0/33", *PUBLIC_CIDRS[1:]])) == [
        f"aws.public_subnet_cidrs: found {['10.9.128.0/33', *PUBLIC_CIDRS[1:]]}; allowed: {wanted}"]
    assert problems("aws-dev", aws_block(public_subnet_cidrs=PUBLIC_CIDRS)) == [
        f"aws.public_subnet_cidrs: found {PUBLIC_CIDRS}; allowed: nothing without aws.vpc_id (the gateway trusts "
        "the VPC the stack creates)"]


# --- 3. cheaper and safer egress -----------------------------------------------------------------------------

def test_prod_reaches_s3_ecr_and_logs_through_endpoints_in_every_task_zone(prod):
    endpoints = {e.name: e.inputs for e in prod.by_type(ENDPOINT)}
    assert endpoints.pop("apigw-endpoints-s3-gateway") == {
        "vpcId": "apigw-network-vpc-id", "serviceName": "com.amazonaws.us-east-1.s3", "vpcEndpointType": "Gateway",
        "routeTableIds": [f"apigw-network-private-{z}-id" for z in ZONES],
        "tags": {"Name": "apigw-endpoints-s3-gateway"}}
    assert endpoints == {f"apigw-endpoints-{key}": {
        "vpcId": "apigw-network-vpc-id", "serviceName": f"com.amazonaws.us-east-1.{service}",
        "vpcEndpointType": "Interface", "subnetIds": [f"apigw-network-private-{z}-id" for z in ZONES],
        "securityGroupIds": ["apigw-endpoints-sg-id"], "privateDnsEnabled": True,
        "tags": {"Name": f"apigw-endpoints-{key}"}}
        for key, service in (("ecr-api", "ecr.api"), ("ecr-dkr", "ecr.dkr"), ("logs", "logs"))}
    assert prod.one(SECURITY_GROUP, "apigw-endpoints-sg").inputs == {
        "vpcId": "apigw-network-vpc-id", "description": "VPC interface endpoints: HTTPS from the tasks only",
        "tags": {"Name": "apigw-endpoints-sg"}}
    rules = {r.name: r.inputs for r in prod.by_type(INGRESS) if r.name.startswith("apigw-endpoints-")}
    assert rules == {f"apigw-endpoints-in-{p}": {
        "securityGroupId": "apigw-endpoints-sg-id", "ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0,
        "referencedSecurityGroupId": f"apigw-sg-{p}-id", "description": f"HTTPS from the {p} tasks"}
        for p in PROGRAMS}


def test_dev_and_staging_get_the_free_s3_gateway_endpoint_only(plan_of):
    for stack, zones in (("aws-dev", ("a",)), ("aws-staging", ("a", "b"))):
        plan = plan_of(stack)
        (endpoint,) = plan.by_type(ENDPOINT)
        assert endpoint.inputs["vpcEndpointType"] == "Gateway"
        assert endpoint.inputs["routeTableIds"] == [f"apigw-network-private-{z}-id" for z in zones]
        assert not [g for g in plan.by_type(SECURITY_GROUP) if g.name == "apigw-endpoints-sg"]


def test_the_endpoints_switch():
    plan = run_program("aws-prod-no-endpoints", variant_config("aws-prod", aws_block(vpc_endpoints="none")))
    assert not plan.by_type(ENDPOINT)
    assert problems("aws-prod", aws_block(vpc_endpoints="interface")) == [
        "aws.vpc_endpoints: found 'interface'; allowed: one of all, gateway_only, none"]
    assert problems("aws-prod", existing_network(vpc_endpoints="all")) == [
        "aws.vpc_endpoints: found 'all'; allowed: none with aws.vpc_id: an existing VPC's endpoints are its owner's "
        "(a second interface endpoint with private DNS for a service is refused)"]
    with pytest.raises(ValueError, match="interface_services need subnet_ids and client_security_group_ids"):
        capture(lambda: VpcEndpoints("e", VpcEndpointsArgs(vpc_id="vpc-1", route_table_ids=["rtb-1"],
                                                           interface_services=["logs"])))


# --- 4. zone resilience --------------------------------------------------------------------------------------

def test_the_alb_takes_part_in_zonal_shift_where_tasks_span_zones(prod, plan_of):
    assert prod.one(LB, "apigw-lb-alb").inputs["enableZonalShift"] is True
    assert plan_of("aws-staging").one(LB, "apigw-lb-alb").inputs["enableZonalShift"] is True
    assert plan_of("aws-dev").one(LB, "apigw-lb-alb").inputs["enableZonalShift"] is False   # tasks in one zone
    assert problems("aws-dev", aws_block(zonal_shift=True)) == [
        "aws.zonal_shift: found True; allowed: false with aws.task_zones one (every task runs in one zone: shifting "
        "traffic off it leaves none)"]
    assert problems("aws-prod", aws_block(zonal_shift=False)) == [
        "aws.zonal_shift: found False; allowed: true in prod (an impaired zone must be one command away from no "
        "traffic)"]


def test_each_zone_alarms_when_it_has_no_healthy_gateway_task(prod):
    for zone in ZONES:
        assert prod.one(ALARM, f"apigw-monitoring-gateway-healthy-in-{zone}").inputs == {
            "alarmDescription": f"No healthy gateway target in us-east-1{zone} for 3 minutes (a zonal shift can "
                                "move traffic off it)",
            "namespace": "AWS/ApplicationELB", "metricName": "HealthyHostCount", "statistic": "Minimum",
            "period": 60.0, "evaluationPeriods": 3.0, "comparisonOperator": "LessThanThreshold", "threshold": 1.0,
            "treatMissingData": "breaching",
            "dimensions": {"LoadBalancer": LB_SUFFIX, "TargetGroup": TG_SUFFIX, "AvailabilityZone": f"us-east-1{zone}"},
            "alarmActions": [TOPIC], "okActions": [TOPIC]}


def test_an_existing_vpcs_zones_are_its_task_subnets_zones():
    plan = run_program("aws-prod-existing", variant_config("aws-prod", existing_network()))
    # The offline mocks place subnet-...1, ...2 and ...3 in us-east-1b, c and d.
    zonal = {a.name: a.inputs["dimensions"]["AvailabilityZone"] for a in plan.by_type(ALARM)
             if "healthy-in-" in a.name}
    assert zonal == {f"apigw-monitoring-gateway-healthy-in-{z}": f"us-east-1{z}" for z in ("b", "c", "d")}


def test_prod_runs_at_least_one_task_per_zone_of_every_program():
    found = problems("aws-prod", lambda c: c["apigw:services"]["users-api"]["instances"].update(min=2))
    assert found == ["services.users-api.instances.min: found 2; allowed: at least 3 in prod: one task in each of "
                     "the 3 zones (aws.zones), so one zone's outage leaves every program running"]
    # Two zones ask for two; an existing VPC counts its task subnets.
    parse_spec(project_keys(variant_config("aws-prod", lambda c: (
        aws_block(zones=2)(c), c["apigw:services"]["users-api"]["instances"].update(min=2)))))
    found = problems("aws-prod", lambda c: (existing_network()(c),
                                            c["apigw:gateway"]["instances"].update(min=2)))
    assert found == ["gateway.instances.min: found 2; allowed: at least 3 in prod: one task in each of the 3 task "
                     "subnets (aws.private_subnet_ids), so one zone's outage leaves every program running"]


# --- defaults per phase --------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack, expected", [
    ("aws-dev", ProductionAdditions(vpc_endpoints="gateway_only", zonal_shift=False)),
    ("aws-staging", ProductionAdditions(vpc_endpoints="gateway_only", zonal_shift=True)),
    ("aws-prod", ProductionAdditions(waf_logging=True, connection_logs=True, flow_logs=True, vpc_endpoints="all",
                                     zonal_shift=True)),
])
def test_each_phase_defaults(stack, expected):
    """The shipped stacks spell out prod's values; left out, each phase gets the same."""
    keys = ("waf_logging", "waf_redacted_headers", "connection_logs", "flow_logs", "vpc_endpoints", "zonal_shift")
    config = variant_config(stack, aws_block(**dict.fromkeys(keys)))
    assert parse_spec(project_keys(config)).options.additions == expected
    assert parse_spec(project_keys(stack_config(stack))).options.additions == expected
