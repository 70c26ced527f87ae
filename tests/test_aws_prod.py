"""aws-prod under mocks: exact inputs by type token (wire names: camelCase, numbers as floats)."""
from __future__ import annotations

import base64
import gzip
import json

import pytest

from components.aws.gateway import BOOT_COMMAND, gateway_config
from components.spec import parse_spec
from tools.offline import stack_config

STACK = "aws-prod"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
TOPIC = "arn:aws:sns:us-east-1:123456789012:apigw-prod-alarms"
SERVICES = ("users-api", "locations-api", "payments-api")
PROGRAMS = ("gateway", *SERVICES)
CACHE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/apigw-prod/docker-hub"
ZONES = ("a", "b", "c")
LB_SUFFIX = "app/apigw-lb-alb/cdc4eb7dcd2b67b2"          # offline_mocks' fake ARN suffixes
TG_SUFFIX = "targetgroup/apigw-lb-gateway/de008e4e8fbedbee"
LB_ARN = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/{LB_SUFFIX}"
TG_ARN = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:{TG_SUFFIX}"
NAMESPACE_ARN = "arn:aws:servicediscovery:us-east-1:123456789012:namespace/apigw-prod"

# Importing pulumi_aws warns about its own deprecated classes (BucketV2, ...), which this program avoids.
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")

LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
ECS_SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.fixture(scope="module")
def plan(plan_of):
    return plan_of(STACK)


def inputs(plan, token, name):
    return plan.one(token, name).inputs


def containers(plan, program):
    return json.loads(inputs(plan, TASK_DEFINITION, f"apigw-{program}-task")["containerDefinitions"])


# --- load balancer -------------------------------------------------------------------------------

def test_alb_is_internet_facing_over_three_zones_and_hardened(plan):
    assert inputs(plan, LB, "apigw-lb-alb") == {
        "loadBalancerType": "application", "internal": False, "ipAddressType": "ipv4",
        "subnets": [f"apigw-network-public-{z}-id" for z in ZONES], "securityGroups": ["apigw-sg-alb-id"],
        "dropInvalidHeaderFields": True, "desyncMitigationMode": "defensive", "enableHttp2": True,
        "idleTimeout": 60.0, "enableDeletionProtection": True,
        "accessLogs": {"enabled": True, "bucket": "apigw-access-logs-bucket", "prefix": "alb"},
        "connectionLogs": {"enabled": True, "bucket": "apigw-access-logs-bucket", "prefix": "alb-connections"},
        "enableZonalShift": True,
    }


def test_https_listener_uses_the_certificate_and_a_tls13_policy(plan):
    assert inputs(plan, LISTENER, "apigw-lb-https") == {
        "loadBalancerArn": LB_ARN, "port": 443.0, "protocol": "HTTPS", "certificateArn": CERT,
        "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "defaultActions": [{"type": "forward", "targetGroupArn": TG_ARN}],
    }


def test_http_listener_redirects_to_https(plan):
    assert inputs(plan, LISTENER, "apigw-lb-http") == {
        "loadBalancerArn": LB_ARN, "port": 80.0, "protocol": "HTTP",
        "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443",
                                                             "statusCode": "HTTP_301"}}],
    }
    assert len(plan.by_type(LISTENER)) == 2


def test_target_group_health_check_and_algorithm_come_from_the_spec(plan):
    assert inputs(plan, TARGET_GROUP, "apigw-lb-gateway") == {
        "targetType": "ip", "vpcId": "apigw-network-vpc-id", "port": 8080.0, "protocol": "HTTP",
        "protocolVersion": "HTTP1", "loadBalancingAlgorithmType": "least_outstanding_requests",
        "deregistrationDelay": 30.0, "slowStart": 0.0,
        "healthCheck": {"enabled": True, "path": "/healthz", "port": "traffic-port", "protocol": "HTTP",
                        "interval": 10.0, "timeout": 5.0, "healthyThreshold": 2.0, "unhealthyThreshold": 3.0,
                        "matcher": "200"},
    }


def test_waf_has_rate_limit_and_managed_rules_and_is_associated(plan):
    acl = inputs(plan, "aws:wafv2/webAcl:WebAcl", "apigw-waf-acl")
    assert (acl["scope"], acl["defaultAction"]) == ("REGIONAL", {"allow": {}})
    rules = {rule["name"]: rule for rule in acl["rules"]}
    assert list(rules) == ["rate-limit-per-ip", "AWSManagedRulesAmazonIpReputationList",
                           "AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]
    assert rules["rate-limit-per-ip"]["statement"] == {"rateBasedStatement": {
        "limit": 2000.0, "aggregateKeyType": "IP", "evaluationWindowSec": 300.0}}
    assert rules["rate-limit-per-ip"]["action"] == {"block": {}}
    common = rules["AWSManagedRulesCommonRuleSet"]
    assert common["overrideAction"] == {"none": {}}
    assert common["statement"]["managedRuleGroupStatement"] == {
        "name": "AWSManagedRulesCommonRuleSet", "vendorName": "AWS",
        "ruleActionOverrides": [{"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}]}
    assert [r["priority"] for r in acl["rules"]] == [0.0, 10.0, 20.0, 30.0]
    assert inputs(plan, "aws:wafv2/webAclAssociation:WebAclAssociation", "apigw-waf-alb") == {
        "resourceArn": LB_ARN, "webAclArn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/apigw-waf-acl"}


def test_access_log_bucket_is_private_encrypted_expiring_and_tls_only(plan):
    assert inputs(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "apigw-access-logs-public-access") \
        == {"bucket": "apigw-access-logs-bucket-id", "blockPublicAcls": True, "blockPublicPolicy": True,
            "ignorePublicAcls": True, "restrictPublicBuckets": True}
    encryption = inputs(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                        "apigw-access-logs-encryption")
    assert encryption["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    lifecycle = inputs(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                       "apigw-access-logs-lifecycle")
    assert lifecycle["rules"] == [{"id": f"expire-{kind}", "status": "Enabled", "filter": {"prefix": f"{prefix}/"},
                                   "expiration": {"days": 90.0},
                                   "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7.0}}
                                  for kind, prefix in (("access-logs", "alb"), ("connection-logs", "alb-connections"))]
    policy = json.loads(inputs(plan, "aws:s3/bucketPolicy:BucketPolicy", "apigw-access-logs-policy")["policy"])
    assert policy["Statement"] == [
        {"Sid": "AlbAccessLogDelivery", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::127311923021:root"},
         "Action": "s3:PutObject", "Resource": [f"arn:aws:s3:::apigw-access-logs-bucket/{prefix}/AWSLogs/123456789012/*"
                                                for prefix in ("alb", "alb-connections")]},
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::apigw-access-logs-bucket", "arn:aws:s3:::apigw-access-logs-bucket/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]
    # AWS checks it may write to the bucket when logging is switched on: the ALB waits for the policy.
    assert any(urn.endswith("::apigw-access-logs-policy") for urn in plan.one(LB, "apigw-lb-alb").dependencies)


# --- network and security groups ------------------------------------------------------------------

def test_a_public_and_a_private_subnet_per_zone_keyed_by_zone_letter(plan):
    for index, zone in enumerate(ZONES):
        assert inputs(plan, "aws:ec2/subnet:Subnet", f"apigw-network-public-{zone}") == {
            "vpcId": "apigw-network-vpc-id", "availabilityZone": f"us-east-1{zone}",
            "cidrBlock": f"10.30.{128 + 16 * index}.0/20", "mapPublicIpOnLaunch": False,
            "tags": {"Name": f"apigw-network-public-{zone}", "tier": "public"}}
        assert inputs(plan, "aws:ec2/subnet:Subnet", f"apigw-network-private-{zone}")["cidrBlock"] == \
            f"10.30.{16 * index}.0/20"


def test_one_nat_gateway_per_zone_and_each_zone_routes_through_its_own(plan):
    nats = plan.by_type("aws:ec2/natGateway:NatGateway")
    assert sorted(n.name for n in nats) == [f"apigw-network-nat-{z}" for z in ZONES]
    for zone in ZONES:
        assert inputs(plan, "aws:ec2/natGateway:NatGateway", f"apigw-network-nat-{zone}")["subnetId"] == \
            f"apigw-network-public-{zone}-id"
        assert inputs(plan, "aws:ec2/route:Route", f"apigw-network-private-{zone}-default") == {
            "routeTableId": f"apigw-network-private-{zone}-id", "destinationCidrBlock": "0.0.0.0/0",
            "natGatewayId": f"apigw-network-nat-{zone}-id"}


def _rule(r):
    i = r.inputs
    peer = i.get("cidrIpv4") or i.get("referencedSecurityGroupId")
    return (i["securityGroupId"], i["ipProtocol"], int(i["fromPort"]), int(i["toPort"]), peer)


def test_security_groups_are_least_privilege(plan):
    assert sorted(_rule(r) for r in plan.by_type(INGRESS)) == sorted([
        ("apigw-sg-alb-id", "tcp", 80, 80, "0.0.0.0/0"),
        ("apigw-sg-alb-id", "tcp", 443, 443, "0.0.0.0/0"),
        ("apigw-sg-gateway-id", "tcp", 8080, 8080, "apigw-sg-alb-id"),
        *((f"apigw-sg-{s}-id", "tcp", 8080, 8080, "apigw-sg-gateway-id") for s in SERVICES),
        # The VPC interface endpoints: HTTPS from the tasks only.
        *(("apigw-endpoints-sg-id", "tcp", 443, 443, f"apigw-sg-{p}-id") for p in PROGRAMS),
    ])
    assert sorted(_rule(r) for r in plan.by_type(EGRESS)) == sorted([
        ("apigw-sg-alb-id", "tcp", 8080, 8080, "apigw-sg-gateway-id"),
        *(("apigw-sg-gateway-id", "tcp", 8080, 8080, f"apigw-sg-{s}-id") for s in SERVICES),
        *((f"apigw-sg-{p}-id", "tcp", 443, 443, "0.0.0.0/0") for p in PROGRAMS),
    ])
    # The groups themselves carry no inline rules (the provider then removes AWS's allow-all egress).
    for group in plan.by_type("aws:ec2/securityGroup:SecurityGroup"):
        assert "ingress" not in group.inputs and "egress" not in group.inputs
    assert inputs(plan, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "apigw-network-default-sg") == {
        "vpcId": "apigw-network-vpc-id", "tags": {"Name": "apigw-network-default"}}


# --- ECS ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("program, desired", [("gateway", 3.0), ("users-api", 3.0), ("locations-api", 3.0),
                                              ("payments-api", 3.0)])
def test_services_run_in_private_subnets_of_every_zone_without_public_ip(plan, program, desired):
    service = inputs(plan, ECS_SERVICE, f"apigw-{program}-service")
    assert service["networkConfiguration"] == {
        "subnets": [f"apigw-network-private-{z}-id" for z in ZONES],
        "securityGroups": [f"apigw-sg-{program}-id"], "assignPublicIp": False}
    assert (service["launchType"], service["platformVersion"]) == ("FARGATE", "LATEST")
    assert service["desiredCount"] == desired
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert (service["deploymentMinimumHealthyPercent"], service["deploymentMaximumPercent"]) == (100.0, 200.0)
    assert service["availabilityZoneRebalancing"] == "ENABLED"
    assert service["enableExecuteCommand"] is False
    assert service["tags"] == {"app": program, "component": "gateway" if program == "gateway" else "service"}


def test_gateway_is_the_target_group_backend(plan):
    gateway = inputs(plan, ECS_SERVICE, "apigw-gateway-service")
    assert gateway["loadBalancers"] == [{"targetGroupArn": TG_ARN, "containerName": "gateway",
                                         "containerPort": 8080.0}]
    assert gateway["healthCheckGracePeriodSeconds"] == 60.0
    for service in SERVICES:
        assert "loadBalancers" not in inputs(plan, ECS_SERVICE, f"apigw-{service}-service")


@pytest.mark.parametrize("service", SERVICES)
def test_backends_are_service_connect_servers_under_their_own_name(plan, service):
    assert inputs(plan, ECS_SERVICE, f"apigw-{service}-service")["serviceConnectConfiguration"] == {
        "enabled": True, "namespace": NAMESPACE_ARN,
        "services": [{"portName": "http", "discoveryName": service,
                      "clientAlias": [{"dnsName": service, "port": 8080.0}],
                      # longer than the gateway's 30 s proxy_read_timeout (tests/test_parts_agree.py)
                      "timeout": {"perRequestTimeoutSeconds": 35.0, "idleTimeoutSeconds": 300.0}}],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": f"/ecs/apigw-aws-prod/{service}", "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "service-connect"}},
    }


def test_gateway_is_a_service_connect_client_created_after_the_backends_and_listeners(plan):
    sc = inputs(plan, ECS_SERVICE, "apigw-gateway-service")["serviceConnectConfiguration"]
    assert sc["enabled"] is True and sc["namespace"] == NAMESPACE_ARN and "services" not in sc
    deps = plan.one(ECS_SERVICE, "apigw-gateway-service").dependencies
    for name in [f"apigw-{s}-service" for s in SERVICES] + ["apigw-lb-https", "apigw-lb-http"]:
        assert any(urn.endswith(f"::{name}") for urn in deps), name


def test_gateway_nginx_config_addresses_services_by_service_connect_names(plan):
    (container,) = containers(plan, "gateway")
    env = {e["name"]: e["value"] for e in container["environment"]}
    config = gzip.decompress(base64.b64decode(env["NGINX_CONF_GZ_B64"])).decode()
    spec = parse_spec({k.removeprefix("apigw:"): v for k, v in stack_config(STACK).items() if k.startswith("apigw:")})
    assert config == gateway_config(spec)
    for service in SERVICES:
        assert f"server {service}:8080 max_fails=3 fail_timeout=10s;" in config
    assert "pid /tmp/nginx.pid;" in config and "proxy_temp_path /tmp/proxy;" in config
    assert (container["entryPoint"], container["command"]) == (["/bin/sh", "-c"], [BOOT_COMMAND])


def test_gateway_container_is_hardened_and_health_checked(plan):
    (container,) = containers(plan, "gateway")
    # Pulled through the ECR cache of Docker Hub (tests/test_aws_image_supply.py).
    assert container["image"] == f"{CACHE}/nginxinc/nginx-unprivileged:1.27.3-alpine"
    assert (container["user"], container["readonlyRootFilesystem"]) == ("101:101", True)
    assert container["linuxParameters"] == {
        "initProcessEnabled": True, "capabilities": {"drop": ["ALL"]},
        "tmpfs": [{"containerPath": "/tmp", "size": 64, "mountOptions": ["nosuid", "nodev", "noexec"]}]}
    assert container["healthCheck"] == {
        "command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1"],
        "interval": 10, "timeout": 5, "retries": 3, "startPeriod": 30}
    assert container["portMappings"] == [{"name": "http", "containerPort": 8080, "protocol": "tcp",
                                          "appProtocol": "http"}]
    assert container["logConfiguration"] == {"logDriver": "awslogs", "options": {
        "awslogs-group": "/ecs/apigw-aws-prod/gateway", "awslogs-region": "us-east-1",
        "awslogs-stream-prefix": "gateway", "mode": "non-blocking", "max-buffer-size": "4m"}}
    assert (container["cpu"], container["memory"], container["memoryReservation"]) == (512, 320, 256)


@pytest.mark.parametrize("service", SERVICES)
def test_backend_containers_are_non_root_read_only_and_opt_out_of_the_shell_check(plan, service):
    (container,) = containers(plan, service)
    assert (container["name"], container["image"]) == (service, f"{CACHE}/traefik/whoami:v1.10.3")
    assert (container["user"], container["readonlyRootFilesystem"]) == ("65532:65532", True)
    assert container["environment"] == [{"name": "WHOAMI_PORT_NUMBER", "value": "8080"}]
    assert "healthCheck" not in container  # whoami is FROM scratch: the stack file says none


@pytest.mark.parametrize("program, cpu, memory", [("gateway", "1024", "2048"), ("users-api", "512", "1024")])
def test_task_definitions_are_fargate_sized(plan, program, cpu, memory):
    task = inputs(plan, TASK_DEFINITION, f"apigw-{program}-task")
    assert (task["cpu"], task["memory"], task["networkMode"], task["requiresCompatibilities"]) == \
        (cpu, memory, "awsvpc", ["FARGATE"])
    assert task["family"] == f"apigw-aws-prod-{program}"
    assert task["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"}
    assert task["executionRoleArn"] == "arn:aws:iam::123456789012:role/apigw-cluster-execution"
    assert task["taskRoleArn"] == f"arn:aws:iam::123456789012:role/apigw-{program}-task"


def test_roles_trust_only_this_accounts_ecs_tasks(plan):
    expected = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"},
                      "ArnLike": {"aws:SourceArn": "arn:aws:ecs:us-east-1:123456789012:*"}}}]}
    for role in plan.by_type("aws:iam/role:Role"):
        if role.name != "apigw-flow-logs-role":   # VPC Flow Logs' (tests/test_aws_production_additions.py)
            assert json.loads(role.inputs["assumeRolePolicy"]) == expected, role.name
    (attachment,) = plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs == {"role": "apigw-cluster-execution",
                                 "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"}


def test_cluster_has_container_insights_and_the_service_connect_namespace(plan):
    assert inputs(plan, "aws:ecs/cluster:Cluster", "apigw-cluster-ecs") == {
        "settings": [{"name": "containerInsights", "value": "enhanced"}],
        "serviceConnectDefaults": {"namespace": NAMESPACE_ARN}}
    assert inputs(plan, "aws:servicediscovery/httpNamespace:HttpNamespace", "apigw-cluster-namespace")["name"] == \
        "apigw-prod"


def test_log_groups_have_fixed_names_and_retention(plan):
    assert sorted((r.inputs["name"], r.inputs["retentionInDays"]) for r in
                  plan.by_type("aws:cloudwatch/logGroup:LogGroup")) == \
        sorted([*((f"/ecs/apigw-aws-prod/{p}", 90.0) for p in PROGRAMS), ("aws-waf-logs-apigw-aws-prod", 90.0),
                ("/vpc/apigw-aws-prod/flow-logs", 90.0)])


# --- autoscaling ----------------------------------------------------------------------------------

@pytest.mark.parametrize("program, bounds", [("gateway", (3.0, 12.0)), ("users-api", (3.0, 10.0)),
                                             ("locations-api", (3.0, 8.0)), ("payments-api", (3.0, 8.0))])
def test_scalable_targets_take_their_bounds_from_instances(plan, program, bounds):
    target = inputs(plan, SCALING_TARGET, f"apigw-{program}-scaling-target")
    assert (target["minCapacity"], target["maxCapacity"]) == bounds
    assert target["serviceNamespace"] == "ecs" and target["scalableDimension"] == "ecs:service:DesiredCount"
    assert target["resourceId"] == f"service/apigw-cluster-ecs/apigw-{program}-service"


def test_every_service_tracks_cpu_and_the_gateway_also_requests_per_target(plan):
    names = sorted(p.name for p in plan.by_type(SCALING_POLICY))
    assert names == sorted([f"apigw-{p}-scaling-cpu" for p in PROGRAMS] + ["apigw-gateway-scaling-requests"])
    cpu = inputs(plan, SCALING_POLICY, "apigw-users-api-scaling-cpu")
    assert cpu["policyType"] == "TargetTrackingScaling"
    assert cpu["targetTrackingScalingPolicyConfiguration"] == {
        "predefinedMetricSpecification": {"predefinedMetricType": "ECSServiceAverageCPUUtilization"},
        "targetValue": 65.0, "scaleInCooldown": 300.0, "scaleOutCooldown": 60.0}
    requests = inputs(plan, SCALING_POLICY, "apigw-gateway-scaling-requests")
    assert requests["targetTrackingScalingPolicyConfiguration"] == {
        "predefinedMetricSpecification": {"predefinedMetricType": "ALBRequestCountPerTarget",
                                          "resourceLabel": f"{LB_SUFFIX}/{TG_SUFFIX}"},
        "targetValue": 1000.0, "scaleInCooldown": 300.0, "scaleOutCooldown": 60.0}


# --- monitoring -----------------------------------------------------------------------------------

def test_alarms_go_to_the_topic_from_config(plan):
    alarms = {a.name: a.inputs for a in plan.by_type(ALARM)}
    assert sorted(alarms) == sorted(f"apigw-monitoring-{key}" for key in (
        "gateway-5xx-rate", "gateway-below-minimum", "gateway-imbalance", "gateway-p99-latency",
        "gateway-unhealthy-hosts", "gateway-healthy-below-minimum", "load-balancer-5xx-rate",
        *(f"gateway-healthy-in-{z}" for z in ZONES),
        *(f"{s}-{kind}" for s in ("users-api", "locations-api", "payments-api") for kind in ("below-minimum",
                                                                                          "5xx-rate"))))
    dims = {"LoadBalancer": LB_SUFFIX, "TargetGroup": TG_SUFFIX}
    for alarm in alarms.values():
        assert alarm["alarmActions"] == [TOPIC] and alarm["okActions"] == [TOPIC]
    unhealthy = alarms["apigw-monitoring-gateway-unhealthy-hosts"]
    assert {k: unhealthy[k] for k in ("namespace", "metricName", "dimensions", "statistic", "comparisonOperator",
                                      "threshold", "period", "evaluationPeriods")} == {
        "namespace": "AWS/ApplicationELB", "metricName": "UnHealthyHostCount", "dimensions": dims,
        "statistic": "Maximum", "comparisonOperator": "GreaterThanThreshold", "threshold": 0.0, "period": 60.0,
        "evaluationPeriods": 2.0}
    p99 = alarms["apigw-monitoring-gateway-p99-latency"]
    assert (p99["metricName"], p99["extendedStatistic"], p99["threshold"], p99["dimensions"]) == \
        ("TargetResponseTime", "p99", 1.0, dims)
    rate = alarms["apigw-monitoring-gateway-5xx-rate"]
    assert (rate["threshold"], rate["comparisonOperator"], rate["evaluationPeriods"], rate["datapointsToAlarm"]) == \
        (5.0, "GreaterThanThreshold", 5.0, 3.0)
    assert [q["id"] for q in rate["metricQueries"]] == ["errors", "requests", "rate"]
    assert rate["metricQueries"][0]["metric"] == {"namespace": "AWS/ApplicationELB",
                                                  "metricName": "HTTPCode_Target_5XX_Count", "dimensions": dims,
                                                  "period": 60.0, "stat": "Sum"}
    assert rate["metricQueries"][2] == {"id": "rate", "label": "5xx % of requests", "returnData": True,
                                        "expression": "IF(requests > 0, 100 * errors / requests, 0)"}


def test_dashboard_has_the_essential_metrics(plan):
    dashboard = inputs(plan, "aws:cloudwatch/dashboard:Dashboard", "apigw-monitoring-dashboard")
    assert dashboard["dashboardName"] == "apigw-aws-prod"
    # The load balancer's and the services' view; the per-instance widgets are tests/test_aws_instance_metrics.py's.
    widgets = {w["properties"]["title"]: w["properties"] for w in json.loads(dashboard["dashboardBody"])["widgets"]
               if w["y"] < 24}
    metric_names = {title: [m[1] for m in w["metrics"]] for title, w in widgets.items()}
    assert metric_names == {
        "Requests per gateway task (RequestCountPerTarget)": ["RequestCountPerTarget"],
        "Gateway target response time p50 / p99 (s)": ["TargetResponseTime", "TargetResponseTime"],
        "5xx per target group": ["HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count"],
        "Healthy / unhealthy gateway tasks": ["HealthyHostCount", "UnHealthyHostCount"],
        "CPU utilization per service (%)": ["CPUUtilization"] * 4,
        "Memory utilization per service (%)": ["MemoryUtilization"] * 4,
        "Requests per backend (Service Connect)": ["RequestCount"] * 3,
        "Backend 5xx and p99 as the gateway sees them (Service Connect)":
            ["HTTPCode_Target_5XX_Count", "TargetResponseTime"] * 3,
    }
    latency = widgets["Gateway target response time p50 / p99 (s)"]["metrics"]
    assert [m[-1]["stat"] for m in latency] == ["p50", "p99"]
    assert latency[0][2:6] == ["LoadBalancer", LB_SUFFIX, "TargetGroup", TG_SUFFIX]
    cpu = widgets["CPU utilization per service (%)"]["metrics"]
    assert ["AWS/ECS", "CPUUtilization", "ClusterName", "apigw-cluster-ecs", "ServiceName",
            "apigw-users-api-service", {"label": "users-api"}] in cpu
    assert {w["region"] for w in widgets.values()} == {"us-east-1"}


def test_provider_takes_region_and_tags_from_the_spec(plan):
    (provider,) = plan.by_type("pulumi:providers:aws")
    assert provider.inputs["region"] == "us-east-1"
    assert json.loads(provider.inputs["defaultTags"]) == {"tags": {
        "team": "platform", "cost-center": "api", "project": "apigw", "phase": "prod", "stack": "aws-prod",
        "managed-by": "pulumi"}}
    for resource in plan.resources:
        if resource.custom and resource.type.startswith("aws:"):
            assert resource.provider.startswith(provider.urn), resource.name


def test_every_child_has_a_component_parent_and_a_stable_name(plan):
    components = {r.urn for r in plan.resources if not r.custom}
    for resource in plan.resources:
        if resource.type.startswith("aws:"):
            assert resource.parent in components, resource.name
            assert resource.name.startswith("apigw-") and not any(ch.isdigit() for ch in resource.name[-2:]), \
                resource.name
    assert {r.type for r in plan.resources if not r.custom} == {
        f"apigw:aws:{kind}" for kind in ("Platform", "Network", "SecurityGroups", "AccessLogBucket", "LoadBalancer",
                                         "WebFirewall", "Cluster", "ImageCache", "FargateService", "Autoscaling",
                                         "Monitoring", "VpcEndpoints", "FlowLogs")}
