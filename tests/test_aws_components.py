"""Each AWS component built alone, from hand-written Args (no stack spec), under mocks.

Inputs arrive as the AWS provider names them (camelCase) and numbers as floats. Every component
here runs under an explicit provider for us-east-1, so the mocks' ARNs do not depend on what ran
before.
"""
from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import pathlib

import pulumi
import pulumi_aws as aws
import pytest

from components.aws import args as aws_args
from components.aws.args import (
    AccessLogsArgs,
    AutoscalingArgs,
    ContainerHealthCheckArgs,
    EcsClusterArgs,
    FargateServiceArgs,
    HealthCheckArgs,
    LoadBalancerArgs,
    MonitoringArgs,
    NetworkArgs,
    ScalingArgs,
    SecurityGroupsArgs,
    ServiceClusterArgs,
    TaskCountRange,
    Zone,
)
from components.aws.autoscaling import Autoscaling
from components.aws.ecs import EcsCluster, FargateService
from components.aws.load_balancer import LoadBalancer
from components.aws.monitoring import Monitoring
from components.aws.network import Network, SecurityGroups
from components.aws.options import ALB_ALGORITHMS, DEFAULT_SSL_POLICY
from components.aws.target import TARGET
from tools.offline import capture

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")

REPO = pathlib.Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
CERT = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0f6c2f4e-1f7a-4f4e-9d55-3a1c8f0e9b21"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:oncall"
CLUSTER_ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/shop"
NAMESPACE_ARN = f"arn:aws:servicediscovery:us-east-1:{ACCOUNT}:namespace/ns-shop"
EXECUTION_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/shop-execution"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-tg/1"

LB = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
ECS_SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE = "aws:ec2/route:Route"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def in_region(make):
    """Run `make(opts)` under an explicit us-east-1 provider; returns the captured plan."""
    def program():
        provider = aws.Provider("region", region="us-east-1")
        make(pulumi.ResourceOptions(providers=[provider]))
    return capture(program)


def mock_target_group_arn(name: str) -> str:
    """What tools/mocks/aws.py answers for a target group registered as `name`."""
    return (f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/{name}/"
            f"{hashlib.sha256(name.encode()).hexdigest()[:16]}")


# --- LoadBalancer ---------------------------------------------------------------------------------

def lb_args(**changes) -> LoadBalancerArgs:
    args = LoadBalancerArgs(
        vpc_id="vpc-1", subnet_ids=["subnet-pub-a", "subnet-pub-b"], security_group_id="sg-alb", target_port=8080,
        health_check=HealthCheckArgs(path="/ready", interval_s=15, timeout_s=4, healthy_threshold=3,
                                     unhealthy_threshold=2, matcher="200-299"),
        algorithm="least_outstanding_requests", tls_certificate_arn=CERT, idle_timeout_s=50,
        deregistration_delay_s=20, access_logs=AccessLogsArgs(bucket="shop-logs", prefix="edge"))
    return dataclasses.replace(args, **changes)


def test_load_balancer_with_tls_forwards_https_and_redirects_http():
    ready = {}

    def make(opts):
        ready["policy"] = aws.s3.BucketPolicy("logs-policy", bucket="shop-logs", policy="{}", opts=opts)
        LoadBalancer("shop-lb", lb_args(), opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[ready["policy"]])))

    plan = in_region(make)
    tg = plan.one(TARGET_GROUP, "shop-lb-gateway").inputs
    assert tg["healthCheck"] == {"enabled": True, "path": "/ready", "port": "traffic-port", "protocol": "HTTP",
                                 "interval": 15.0, "timeout": 4.0, "healthyThreshold": 3.0,
                                 "unhealthyThreshold": 2.0, "matcher": "200-299"}
    assert (tg["targetType"], tg["vpcId"], tg["port"], tg["protocol"], tg["protocolVersion"]) == \
        ("ip", "vpc-1", 8080.0, "HTTP", "HTTP1")
    assert (tg["loadBalancingAlgorithmType"], tg["deregistrationDelay"], tg["slowStart"]) == \
        ("least_outstanding_requests", 20.0, 0.0)

    forward = {"type": "forward", "targetGroupArn": mock_target_group_arn("shop-lb-gateway")}
    https = plan.one(LISTENER, "shop-lb-https").inputs
    assert (https["port"], https["protocol"], https["certificateArn"], https["sslPolicy"]) == \
        (443.0, "HTTPS", CERT, DEFAULT_SSL_POLICY)
    assert https["defaultActions"] == [forward]
    assert plan.one(LISTENER, "shop-lb-http").inputs["defaultActions"] == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}]

    alb = plan.one(LB, "shop-lb-alb")
    assert (alb.inputs["subnets"], alb.inputs["securityGroups"], alb.inputs["idleTimeout"]) == \
        (["subnet-pub-a", "subnet-pub-b"], ["sg-alb"], 50.0)
    assert (alb.inputs["enableDeletionProtection"], alb.inputs["dropInvalidHeaderFields"],
            alb.inputs["desyncMitigationMode"], alb.inputs["internal"]) == (True, True, "defensive", False)
    assert alb.inputs["accessLogs"] == {"enabled": True, "bucket": "shop-logs", "prefix": "edge"}
    # The component's depends_on reaches the ALB (AWS checks the bucket policy), not the others.
    policy_urn = plan.one("aws:s3/bucketPolicy:BucketPolicy", "logs-policy").urn
    assert policy_urn in alb.dependencies
    assert policy_urn not in plan.one(TARGET_GROUP, "shop-lb-gateway").dependencies


def test_load_balancer_without_a_certificate_forwards_plain_http_only():
    plan = in_region(lambda opts: LoadBalancer("shop-lb", lb_args(tls_certificate_arn=None, access_logs=None),
                                               opts=opts))
    (listener,) = plan.by_type(LISTENER)
    assert (listener.name, listener.inputs["port"], listener.inputs["protocol"]) == ("shop-lb-http", 80.0, "HTTP")
    assert listener.inputs["defaultActions"] == [
        {"type": "forward", "targetGroupArn": mock_target_group_arn("shop-lb-gateway")}]
    assert "accessLogs" not in plan.one(LB, "shop-lb-alb").inputs


# --- FargateService with Autoscaling --------------------------------------------------------------

def service_args(**changes) -> FargateServiceArgs:
    args = FargateServiceArgs(
        cluster=ServiceClusterArgs(cluster_arn=CLUSTER_ARN, namespace_arn=NAMESPACE_ARN,
                                   execution_role_arn=EXECUTION_ROLE_ARN, account_id=ACCOUNT, region="us-east-1"),
        subnet_ids=["subnet-a", "subnet-b"], security_group_id="sg-gw", program="edge",
        image="nginxinc/nginx-unprivileged:1.27.3-alpine", port=8080, cpu_millicores=500, memory_mib=256,
        task_family="shop-edge", log_group_name="/ecs/shop/edge",
        scaling=ScalingArgs(TaskCountRange(min=2, max=6), cpu_target_percent=60,
                            request_count_label="app/shop/abc/targetgroup/shop-tg/def",
                            requests_per_target_per_min=800),
        scratch_mib=64, log_retention_days=14, cpu_architecture="ARM64",
        health_check=ContainerHealthCheckArgs(command="wget -q -O /dev/null http://127.0.0.1:8080/healthz",
                                              interval_s=10, timeout_s=90, retries=4),
        user="101:101", environment={"MODE": "edge"}, discoverable=False, component="gateway",
        target_group_arn=TG_ARN)
    return dataclasses.replace(args, **changes)


def build_service(args: FargateServiceArgs):
    def make(opts):
        listener = aws.lb.Listener("listener", load_balancer_arn="arn:lb", port=80, default_actions=[], opts=opts)
        FargateService("shop-edge", args, opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[listener])))
    return in_region(make)


def test_fargate_service_runs_in_private_subnets_behind_the_target_group():
    plan = build_service(service_args())
    service = plan.one(ECS_SERVICE, "shop-edge-service")
    inputs = service.inputs
    assert inputs["networkConfiguration"] == {"subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-gw"],
                                              "assignPublicIp": False}
    assert inputs["loadBalancers"] == [{"targetGroupArn": TG_ARN, "containerName": "edge", "containerPort": 8080.0}]
    assert (inputs["cluster"], inputs["desiredCount"], inputs["launchType"], inputs["healthCheckGracePeriodSeconds"],
            inputs["availabilityZoneRebalancing"]) == (CLUSTER_ARN, 2.0, "FARGATE", 60.0, "ENABLED")
    assert inputs["serviceConnectConfiguration"] == {
        "enabled": True, "namespace": NAMESPACE_ARN,
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": "/ecs/shop/edge", "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "service-connect"}}}
    assert inputs["tags"] == {"app": "edge", "component": "gateway"}
    assert service.ignore_changes == ["desiredCount"]
    # The component's depends_on reaches the ECS service, next to its own log group.
    listener_urn = plan.one(LISTENER, "listener").urn
    assert listener_urn in service.dependencies
    assert plan.one("aws:cloudwatch/logGroup:LogGroup", "shop-edge-logs").urn in service.dependencies
    assert listener_urn not in plan.one(TASK_DEFINITION, "shop-edge-task").dependencies


def test_fargate_service_task_definition_and_container():
    task = build_service(service_args()).one(TASK_DEFINITION, "shop-edge-task").inputs
    assert (task["family"], task["cpu"], task["memory"], task["networkMode"], task["executionRoleArn"]) == \
        ("shop-edge", "1024", "2048", "awsvpc", EXECUTION_ROLE_ARN)
    assert task["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"}
    (container,) = json.loads(task["containerDefinitions"])
    assert (container["name"], container["cpu"], container["memory"], container["memoryReservation"],
            container["user"]) == ("edge", 512, 320, 256, "101:101")
    assert container["healthCheck"] == {"command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/healthz"],
                                        "interval": 10, "timeout": 60, "retries": 4, "startPeriod": 30}
    assert container["environment"] == [{"name": "MODE", "value": "edge"}]
    assert container["linuxParameters"]["tmpfs"] == [{"containerPath": "/tmp", "size": 64,
                                                      "mountOptions": ["nosuid", "nodev", "noexec"]}]


def test_fargate_service_without_a_container_health_check_or_load_balancer():
    plan = build_service(service_args(health_check=None, target_group_arn=None, discoverable=True, user=None,
                                      subnet_ids=["subnet-a"]))
    (container,) = json.loads(plan.one(TASK_DEFINITION, "shop-edge-task").inputs["containerDefinitions"])
    assert "healthCheck" not in container and "user" not in container
    inputs = plan.one(ECS_SERVICE, "shop-edge-service").inputs
    assert "loadBalancers" not in inputs and "healthCheckGracePeriodSeconds" not in inputs
    assert inputs["availabilityZoneRebalancing"] == "DISABLED"
    assert inputs["serviceConnectConfiguration"]["services"] == [
        {"portName": "http", "discoveryName": "edge", "clientAlias": [{"dnsName": "edge", "port": 8080.0}],
         "timeout": {"perRequestTimeoutSeconds": 35.0, "idleTimeoutSeconds": 300.0}}]


def test_fargate_service_autoscaling_bounds_and_policies():
    plan = build_service(service_args())
    target = plan.one(SCALING_TARGET, "shop-edge-scaling-target").inputs
    assert target == {"serviceNamespace": "ecs", "scalableDimension": "ecs:service:DesiredCount",
                      "resourceId": "service/shop/shop-edge-service", "minCapacity": 2.0, "maxCapacity": 6.0,
                      "tags": {"app": "edge", "component": "gateway"}}
    cpu = plan.one(SCALING_POLICY, "shop-edge-scaling-cpu").inputs
    assert cpu["targetTrackingScalingPolicyConfiguration"] == {
        "predefinedMetricSpecification": {"predefinedMetricType": "ECSServiceAverageCPUUtilization"},
        "targetValue": 60.0, "scaleInCooldown": 300.0, "scaleOutCooldown": 60.0}
    requests = plan.one(SCALING_POLICY, "shop-edge-scaling-requests").inputs
    assert requests["targetTrackingScalingPolicyConfiguration"] == {
        "predefinedMetricSpecification": {"predefinedMetricType": "ALBRequestCountPerTarget",
                                          "resourceLabel": "app/shop/abc/targetgroup/shop-tg/def"},
        "targetValue": 800.0, "scaleInCooldown": 300.0, "scaleOutCooldown": 60.0}
    assert requests["policyType"] == "TargetTrackingScaling"


def test_autoscaling_alone_tracks_cpu_only_without_a_request_label():
    plan = in_region(lambda opts: Autoscaling("jobs-scaling", AutoscalingArgs(
        resource_id="service/shop/jobs", scaling=ScalingArgs(TaskCountRange(1, 3))), opts=opts))
    target = plan.one(SCALING_TARGET, "jobs-scaling-target").inputs
    assert (target["resourceId"], target["minCapacity"], target["maxCapacity"]) == ("service/shop/jobs", 1.0, 3.0)
    assert "tags" not in target
    assert [p.name for p in plan.by_type(SCALING_POLICY)] == ["jobs-scaling-cpu"]


def test_ecs_cluster_gives_its_services_what_they_need():
    seen = {}

    def make(opts):
        cluster = EcsCluster("shop-cluster", EcsClusterArgs(account_id=ACCOUNT, region="eu-west-3",
                                                            namespace="shop.local", container_insights="disabled"),
                             opts=opts)
        seen["cluster"] = cluster.service_cluster
    plan = in_region(make)
    assert plan.one("aws:servicediscovery/httpNamespace:HttpNamespace", "shop-cluster-namespace").inputs == \
        {"name": "shop.local"}
    assert plan.one("aws:ecs/cluster:Cluster", "shop-cluster-ecs").inputs["settings"] == [
        {"name": "containerInsights", "value": "disabled"}]
    trust = json.loads(plan.one("aws:iam/role:Role", "shop-cluster-execution").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:ecs:eu-west-3:{ACCOUNT}:*"}
    assert (seen["cluster"].region, seen["cluster"].account_id) == ("eu-west-3", ACCOUNT)


# --- Network and SecurityGroups -------------------------------------------------------------------

ZONES = [Zone("us-east-1a", "a", 0), Zone("us-east-1b", "b", 1), Zone("us-east-1c", "c", 2)]


def test_network_with_one_nat_keeps_tasks_in_its_zone():
    seen = {}

    def make(opts):
        seen["network"] = Network("shop-net", NetworkArgs(zones=ZONES, vpc_cidr="10.20.0.0/16",
                                                          nat_gateways="single", task_zones="one"), opts=opts)
    plan = in_region(make)
    assert plan.one("aws:ec2/vpc:Vpc", "shop-net-vpc").inputs == {
        "cidrBlock": "10.20.0.0/16", "enableDnsSupport": True, "enableDnsHostnames": True,
        "tags": {"Name": "shop-net"}}
    subnets = {r.name: (r.inputs["cidrBlock"], r.inputs["availabilityZone"], r.inputs["mapPublicIpOnLaunch"])
               for r in plan.by_type(SUBNET)}
    assert subnets == {
        "shop-net-public-a": ("10.20.128.0/20", "us-east-1a", False),
        "shop-net-public-b": ("10.20.144.0/20", "us-east-1b", False),
        "shop-net-public-c": ("10.20.160.0/20", "us-east-1c", False),
        "shop-net-private-a": ("10.20.0.0/20", "us-east-1a", False),
        "shop-net-private-b": ("10.20.16.0/20", "us-east-1b", False),
        "shop-net-private-c": ("10.20.32.0/20", "us-east-1c", False),
    }
    (nat,) = plan.by_type(NAT)
    assert (nat.name, nat.inputs["subnetId"], nat.inputs["connectivityType"]) == \
        ("shop-net-nat-a", "shop-net-public-a-id", "public")
    private_routes = {r.name: r.inputs for r in plan.by_type(ROUTE) if "private" in r.name}
    assert private_routes == {f"shop-net-private-{z}-default": {
        "routeTableId": f"shop-net-private-{z}-id", "destinationCidrBlock": "0.0.0.0/0",
        "natGatewayId": "shop-net-nat-a-id"} for z in "abc"}
    assert [z.key for z in seen["network"].zones] == ["a", "b", "c"]
    assert plan.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "shop-net-default-sg").inputs == {
        "vpcId": "shop-net-vpc-id", "tags": {"Name": "shop-net-default"}}


def test_network_per_zone_nat():
    plan = in_region(lambda opts: Network("shop-net", NetworkArgs(zones=ZONES[:2]), opts=opts))
    assert sorted(r.name for r in plan.by_type(NAT)) == ["shop-net-nat-a", "shop-net-nat-b"]
    assert plan.one(ROUTE, "shop-net-private-b-default").inputs["natGatewayId"] == "shop-net-nat-b-id"
    assert plan.one("aws:ec2/vpc:Vpc", "shop-net-vpc").inputs["cidrBlock"] == "10.0.0.0/16"


def test_security_groups_chain_internet_alb_gateway_services():
    plan = in_region(lambda opts: SecurityGroups("shop-sg", SecurityGroupsArgs(
        vpc_id="vpc-1", gateway_port=8080, service_ports={"orders": 9000, "carts": 9100}, https=True), opts=opts))
    assert sorted(r.name for r in plan.by_type(SG)) == ["shop-sg-alb", "shop-sg-carts", "shop-sg-gateway",
                                                        "shop-sg-orders"]
    assert plan.one(SG, "shop-sg-orders").inputs == {
        "vpcId": "vpc-1", "description": "orders tasks: from the API gateway only", "tags": {"Name": "shop-sg-orders"}}
    ingress = {r.name: r.inputs for r in plan.by_type(INGRESS)}
    assert ingress == {
        "shop-sg-alb-in-http": {"securityGroupId": "shop-sg-alb-id", "ipProtocol": "tcp", "fromPort": 80.0,
                                "toPort": 80.0, "cidrIpv4": "0.0.0.0/0", "description": "HTTP from the internet"},
        "shop-sg-alb-in-https": {"securityGroupId": "shop-sg-alb-id", "ipProtocol": "tcp", "fromPort": 443.0,
                                 "toPort": 443.0, "cidrIpv4": "0.0.0.0/0", "description": "HTTPS from the internet"},
        "shop-sg-gateway-in-alb": {"securityGroupId": "shop-sg-gateway-id", "ipProtocol": "tcp", "fromPort": 8080.0,
                                   "toPort": 8080.0, "referencedSecurityGroupId": "shop-sg-alb-id",
                                   "description": "from the load balancer"},
        "shop-sg-orders-in-gateway": {"securityGroupId": "shop-sg-orders-id", "ipProtocol": "tcp",
                                      "fromPort": 9000.0, "toPort": 9000.0,
                                      "referencedSecurityGroupId": "shop-sg-gateway-id",
                                      "description": "from the API gateway"},
        "shop-sg-carts-in-gateway": {"securityGroupId": "shop-sg-carts-id", "ipProtocol": "tcp",
                                     "fromPort": 9100.0, "toPort": 9100.0,
                                     "referencedSecurityGroupId": "shop-sg-gateway-id",
                                     "description": "from the API gateway"},
    }
    egress = {r.name: (r.inputs["securityGroupId"], r.inputs["fromPort"],
                       r.inputs.get("referencedSecurityGroupId") or r.inputs.get("cidrIpv4"))
              for r in plan.by_type(EGRESS)}
    assert egress == {
        "shop-sg-alb-out-gateway": ("shop-sg-alb-id", 8080.0, "shop-sg-gateway-id"),
        "shop-sg-gateway-out-orders": ("shop-sg-gateway-id", 9000.0, "shop-sg-orders-id"),
        "shop-sg-gateway-out-carts": ("shop-sg-gateway-id", 9100.0, "shop-sg-carts-id"),
        "shop-sg-gateway-out-https": ("shop-sg-gateway-id", 443.0, "0.0.0.0/0"),
        "shop-sg-orders-out-https": ("shop-sg-orders-id", 443.0, "0.0.0.0/0"),
        "shop-sg-carts-out-https": ("shop-sg-carts-id", 443.0, "0.0.0.0/0"),
    }


def test_security_groups_without_https_admit_port_80_only():
    plan = in_region(lambda opts: SecurityGroups("shop-sg", SecurityGroupsArgs(
        vpc_id="vpc-1", gateway_port=8080, service_ports={"orders": 9000}), opts=opts))
    assert [(r.name, r.inputs["fromPort"]) for r in plan.by_type(INGRESS) if "alb-in" in r.name] == \
        [("shop-sg-alb-in-http", 80.0)]


# --- Monitoring -----------------------------------------------------------------------------------

def monitoring_args(**changes) -> MonitoringArgs:
    args = MonitoringArgs(
        region="us-east-1", dashboard_name="shop-prod", load_balancer_arn_suffix="app/shop/abc",
        target_group_arn_suffix="targetgroup/shop-tg/def", cluster_name="shop", gateway_service_name="shop-edge",
        service_names={"orders": "shop-orders"}, alarm_topic_arn=TOPIC, alarm_5xx_percent=2, alarm_p99_ms=750)
    return dataclasses.replace(args, **changes)


def test_monitoring_alarms_and_dashboard():
    plan = in_region(lambda opts: Monitoring("shop-mon", monitoring_args(), opts=opts))
    dimensions = {"LoadBalancer": "app/shop/abc", "TargetGroup": "targetgroup/shop-tg/def"}
    p99 = plan.one(ALARM, "shop-mon-gateway-p99-latency").inputs
    assert (p99["threshold"], p99["extendedStatistic"], p99["dimensions"], p99["alarmActions"], p99["okActions"]) == \
        (0.75, "p99", dimensions, [TOPIC], [TOPIC])
    rate = plan.one(ALARM, "shop-mon-gateway-5xx-rate").inputs
    assert (rate["threshold"], rate["evaluationPeriods"], rate["datapointsToAlarm"]) == (2.0, 5.0, 3.0)
    assert rate["metricQueries"][0] == {"id": "errors", "returnData": False, "metric": {
        "namespace": "AWS/ApplicationELB", "metricName": "HTTPCode_Target_5XX_Count", "dimensions": dimensions,
        "period": 60.0, "stat": "Sum"}}
    assert rate["alarmDescription"] == "Gateway targets answered more than 2% 5xx in 3 of the last 5 minutes"
    unhealthy = plan.one(ALARM, "shop-mon-gateway-unhealthy-hosts").inputs
    assert (unhealthy["metricName"], unhealthy["threshold"], unhealthy["dimensions"]) == \
        ("UnHealthyHostCount", 0.0, dimensions)

    dashboard = plan.one(DASHBOARD, "shop-mon-dashboard").inputs
    assert dashboard["dashboardName"] == "shop-prod"
    widgets = json.loads(dashboard["dashboardBody"])["widgets"]
    cpu = next(w for w in widgets if w["properties"]["title"] == "CPU utilization per service (%)")
    assert cpu["properties"]["metrics"] == [
        ["AWS/ECS", "CPUUtilization", "ClusterName", "shop", "ServiceName", "shop-edge", {"label": "gateway"}],
        ["AWS/ECS", "CPUUtilization", "ClusterName", "shop", "ServiceName", "shop-orders", {"label": "orders"}]]
    assert {w["properties"]["region"] for w in widgets} == {"us-east-1"}


def test_monitoring_without_a_topic_notifies_nobody():
    plan = in_region(lambda opts: Monitoring("shop-mon", monitoring_args(alarm_topic_arn=None), opts=opts))
    for alarm in plan.by_type(ALARM):
        assert (alarm.inputs["alarmActions"], alarm.inputs["okActions"]) == ([], [])


# --- Refused Args: ValueError naming the field and what is allowed, nothing registered ------------

def _cluster_args(**changes):
    return dataclasses.replace(EcsClusterArgs(account_id=ACCOUNT, region="us-east-1", namespace="shop"), **changes)


REFUSED = {
    "network-nat": (lambda: Network("n", NetworkArgs(zones=ZONES, nat_gateways="none")),
                    "NetworkArgs: nat_gateways: 'none' is not one of per_zone, single"),
    "network-task-zones": (lambda: Network("n", NetworkArgs(zones=ZONES, task_zones="two")),
                           "NetworkArgs: task_zones: 'two' is not one of all, one"),
    "network-no-zones": (lambda: Network("n", NetworkArgs(zones=[])),
                         "NetworkArgs: zones: empty; allowed: at least one zone"),
    "network-zone-slots": (lambda: Network("n", NetworkArgs(zones=[Zone("z-a", "a", 0), Zone("z-i", "i", 8)])),
                           "NetworkArgs: zones: slots [0, 8]; allowed: distinct slots from 0 to 7"),
    "lb-algorithm": (lambda: LoadBalancer("l", lb_args(algorithm="least_connections")),
                     "LoadBalancerArgs: algorithm: 'least_connections' is not one of round_robin, "
                     "least_outstanding_requests, weighted_random"),
    "lb-desync": (lambda: LoadBalancer("l", lb_args(desync_mitigation_mode="monitor")),
                  "LoadBalancerArgs: desync_mitigation_mode: 'monitor' is not one of defensive, strictest"),
    "lb-idle-timeout": (lambda: LoadBalancer("l", lb_args(idle_timeout_s=620)),
                        "LoadBalancerArgs: idle_timeout_s: 620 is not an integer from 1 to 619"),
    "lb-deregistration": (lambda: LoadBalancer("l", lb_args(deregistration_delay_s=3601)),
                          "LoadBalancerArgs: deregistration_delay_s: 3601 is not an integer from 0 to 3600"),
    "lb-health-interval": (lambda: LoadBalancer("l", lb_args(health_check=HealthCheckArgs(interval_s=4))),
                           "LoadBalancerArgs: health_check.interval_s: 4 is not an integer from 5 to 300"),
    "lb-health-timeout": (lambda: LoadBalancer("l", lb_args(health_check=HealthCheckArgs(timeout_s=121))),
                          "LoadBalancerArgs: health_check.timeout_s: 121 is not an integer from 2 to 120"),
    "lb-health-healthy": (lambda: LoadBalancer("l", lb_args(health_check=HealthCheckArgs(healthy_threshold=1))),
                          "LoadBalancerArgs: health_check.healthy_threshold: 1 is not an integer from 2 to 10"),
    "lb-health-unhealthy": (lambda: LoadBalancer("l", lb_args(health_check=HealthCheckArgs(unhealthy_threshold=11))),
                            "LoadBalancerArgs: health_check.unhealthy_threshold: 11 is not an integer from 2 to 10"),
    "lb-one-subnet": (lambda: LoadBalancer("l", lb_args(subnet_ids=["subnet-pub-a"])),
                      "LoadBalancerArgs: subnet_ids: 1 subnet(s); allowed: at least 2 "
                      "(an ALB spans at least two zones)"),
    "lb-slow-start-algorithm": (lambda: LoadBalancer("l", lb_args(slow_start_s=60)),
                                "LoadBalancerArgs: slow_start_s: 60 with algorithm 'least_outstanding_requests'; "
                                "allowed: 0 (off), or 30 to 900 with round_robin"),
    "lb-slow-start-range": (lambda: LoadBalancer("l", lb_args(slow_start_s=10, algorithm="round_robin")),
                            "LoadBalancerArgs: slow_start_s: 10 with algorithm 'round_robin'; "
                            "allowed: 0 (off), or 30 to 900 with round_robin"),
    "cluster-insights": (lambda: EcsCluster("c", _cluster_args(container_insights="on")),
                         "EcsClusterArgs: container_insights: 'on' is not one of enhanced, enabled, disabled"),
    "autoscaling-min-above-max": (
        lambda: Autoscaling("a", AutoscalingArgs(resource_id="service/c/s", scaling=ScalingArgs(TaskCountRange(4, 2)))),
        "AutoscalingArgs: scaling.task_count: min 4, max 2; allowed: 1 <= min <= max"),
    "service-zero-tasks": (lambda: FargateService("s", service_args(scaling=ScalingArgs(TaskCountRange(0, 2)))),
                           "FargateServiceArgs: scaling.task_count: min 0, max 2; allowed: 1 <= min <= max"),
    "service-task-size": (
        lambda: FargateService("s", service_args(cpu_millicores=16000)),
        "FargateServiceArgs: cpu_millicores 16000, memory_mib 256, scratch_mib 64; allowed: a size one Fargate "
        "task can hold (needs 16640 CPU units and 384 MiB; the largest Fargate task is 16384 CPU units with "
        "122880 MiB)"),
    "service-architecture": (lambda: FargateService("s", service_args(cpu_architecture="arm64")),
                             "FargateServiceArgs: cpu_architecture: 'arm64' is not one of X86_64, ARM64"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_impossible_args_are_refused_before_anything_registers(case):
    make, message = REFUSED[case]
    raised = []

    def program():
        with pytest.raises(ValueError) as err:
            make()
        raised.append(str(err.value))

    plan = capture(program)
    assert raised == [message]
    assert plan.resources == []


def test_every_problem_is_reported_at_once():
    from components.aws.checks import check_load_balancer
    with pytest.raises(ValueError) as err:
        check_load_balancer(lb_args(algorithm="random", subnet_ids=[]))
    assert str(err.value) == (
        "LoadBalancerArgs: algorithm: 'random' is not one of round_robin, least_outstanding_requests, "
        "weighted_random; subnet_ids: 0 subnet(s); allowed: at least 2 (an ALB spans at least two zones)")


# --- The Args themselves --------------------------------------------------------------------------

ARGS_CLASSES = [cls for cls in vars(aws_args).values()
                if dataclasses.is_dataclass(cls) and cls.__module__ == aws_args.__name__]


def test_the_load_balancer_offers_the_algorithms_the_aws_target_declares():
    assert ALB_ALGORITHMS == TARGET.allowed_algorithms("none")


@pytest.mark.parametrize("cls", ARGS_CLASSES, ids=lambda cls: cls.__name__)
def test_args_are_frozen_with_real_annotations_and_a_description_per_field(cls):
    from pulumi.provider.experimental.analyzer import Analyzer
    assert cls.__dataclass_params__.frozen
    assert not any(isinstance(f.type, str) for f in dataclasses.fields(cls))
    properties, _ = Analyzer("apigw").analyze_type(cls, is_component_output=False)
    assert properties and all(p.description for p in properties.values()), cls.__name__
    assert "tuple" not in repr([f.type for f in dataclasses.fields(cls)])


def test_args_module_keeps_real_annotations():
    tree = ast.parse((REPO / "components" / "aws" / "args.py").read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "__future__"]


COMPONENT_MODULES = ("network", "load_balancer", "access_logs", "waf", "ecs", "autoscaling", "monitoring", "endpoints",
                     "flow_logs")


@pytest.mark.parametrize("module", COMPONENT_MODULES)
def test_components_never_read_the_stack(module):
    """Only platform.build maps the stack spec to Args: a component reads neither the spec, its
    options, stack config nor the stack name, and imports the package's modules relatively."""
    tree = ast.parse((REPO / "components" / "aws" / f"{module}.py").read_text())
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [node.module for node in imports if node.level == 0 and node.module.split(".")[0] == "components"]
    assert not [node.module for node in imports if node.level > 1 and node.module == "spec"]
    names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)} | \
        {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | \
        {alias.name for node in imports for alias in node.names}
    assert not names & {"StackSpec", "AwsOptions", "get_stack", "get_project", "Config"}
