"""The AWS rules of the spec, called directly (no Pulumi): each rejection names the key path,
the value found and what AWS allows; each phase gets its documented defaults."""
from __future__ import annotations

import copy

import pytest

from components.aws.options import DEFAULT_SSL_POLICY, LOG_RETENTION_DAYS, AwsOptions, partition
from components.spec import SpecError, parse_spec

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
TOPIC = "arn:aws:sns:us-east-1:123456789012:apigw-prod-alarms"


def raw(phase: str = "dev", aws: dict | None = None, **top) -> dict:
    """A valid aws stack's config for `phase`, with `aws` as its aws block and `top` overriding keys."""
    # prod: at least one task per zone (3 zones by default) for every program.
    instances = {"instances": {"min": 3, "max": 10}} if phase == "prod" else {}
    config: dict = {
        "target": "aws", "phase": phase,
        "services": {"users-api": {"image": "traefik/whoami:v1.10.3", "port": 8080, **instances},
                     "payments-api": {"image": "traefik/whoami:v1.10.3", "port": 8081, **instances}},
        "load_balancer": {"tls_certificate": CERT} if phase != "dev" else {},
        "monitoring": {"alarm_topic": TOPIC} if phase == "prod" else {},
    }
    if aws is not None or phase != "dev":
        config["aws"] = dict(aws or {})
    if phase != "dev":  # staging and prod pull through the ECR cache, which signs in to Docker Hub
        config["aws"].setdefault("image_cache_credentials", {"docker.io": "ecr-pullthroughcache/docker-hub"})
    config.update(copy.deepcopy(top))
    return config


def problems(config: dict) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(config)
    return [str(p) for p in err.value.problems]


def options(config: dict) -> AwsOptions:
    return parse_spec(config).options


# --- accepted, and the per-phase defaults ----------------------------------------------------

def test_dev_defaults_opt_out_of_the_costly_safety_settings():
    assert options(raw("dev")) == AwsOptions(
        vpc_cidr="10.0.0.0/16", zones=2, nat_gateways="single", task_zones="one",
        ssl_policy=DEFAULT_SSL_POLICY, desync_mitigation_mode="defensive", idle_timeout_s=60,
        deletion_protection=False, deregistration_delay_s=30, slow_start_s=0, log_retention_days=7,
        container_insights="enabled", cpu_architecture="X86_64", waf=False, waf_rate_limit=2000,
        access_logs=False, access_logs_bucket=None, access_logs_prefix="alb", access_logs_retention_days=90,
        service_connect_namespace="apigw-dev", cpu_target_percent=70, requests_per_target=1000,
        alarm_5xx_percent=5, alarm_p99_ms=1000, container_health_checks={}, container_users={},
            image_cache=False, image_cache_prefix="apigw-dev")


def test_staging_defaults_spread_tasks_but_share_one_nat():
    o = options(raw("staging"))
    assert (o.zones, o.nat_gateways, o.task_zones, o.log_retention_days) == (2, "single", "all", 30)
    assert (o.waf, o.access_logs, o.deletion_protection) == (False, False, False)
    assert o.service_connect_namespace == "apigw-staging"


def test_prod_defaults_are_the_safe_settings():
    o = options(raw("prod"))
    assert (o.zones, o.nat_gateways, o.task_zones, o.log_retention_days, o.container_insights) == \
        (3, "per_zone", "all", 90, "enhanced")
    assert (o.waf, o.access_logs, o.deletion_protection) == (True, True, True)


def test_every_key_is_read():
    o = options(raw("prod", aws={
        "vpc_cidr": "172.16.0.0/20", "zones": 2, "ssl_policy": "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "desync_mitigation_mode": "strictest", "idle_timeout_s": 30, "deregistration_delay_s": 0,
        "slow_start_s": 60, "log_retention_days": 365, "container_insights": "enabled", "cpu_architecture": "ARM64",
        "waf_rate_limit": 500, "access_logs_bucket": "my-alb-logs", "access_logs_prefix": "edge/alb",
        "access_logs_retention_days": 30, "service_connect_namespace": "api.internal", "cpu_target_percent": 50,
        "requests_per_target": 300, "alarm_5xx_percent": 2, "alarm_p99_ms": 250,
        "container_health_checks": {"users-api": "none", "gateway": "true"},
        "container_users": {"payments-api": "image", "users-api": "1000:1000"}}))
    assert (o.vpc_cidr, o.zones, o.ssl_policy, o.desync_mitigation_mode, o.idle_timeout_s) == \
        ("172.16.0.0/20", 2, "ELBSecurityPolicy-TLS13-1-3-2021-06", "strictest", 30)
    assert (o.deregistration_delay_s, o.slow_start_s, o.log_retention_days, o.cpu_architecture) == (0, 60, 365, "ARM64")
    assert (o.access_logs_bucket, o.access_logs_prefix, o.access_logs_retention_days) == ("my-alb-logs", "edge/alb", 30)
    assert (o.service_connect_namespace, o.cpu_target_percent, o.requests_per_target) == ("api.internal", 50, 300)
    assert (o.alarm_5xx_percent, o.alarm_p99_ms, o.waf_rate_limit) == (2, 250, 500)
    assert o.container_health_checks == {"users-api": "none", "gateway": "true"}
    assert o.container_users == {"payments-api": "image", "users-api": "1000:1000"}


def test_shipped_aws_stacks_are_valid():
    from tools.offline import stack_config
    for stack in ("aws-dev", "aws-staging", "aws-prod"):
        config = {k.removeprefix("apigw:"): v for k, v in stack_config(stack).items() if k.startswith("apigw:")}
        assert parse_spec(config).target == "aws"


@pytest.mark.parametrize("region, expected", [("us-east-1", "aws"), ("cn-north-1", "aws-cn"),
                                              ("us-gov-west-1", "aws-us-gov")])
def test_partition(region, expected):
    assert partition(region) == expected


# --- rejections, one per rule ------------------------------------------------------------------

def test_algorithm_outside_alb_names_the_three_it_has():
    assert problems(raw(load_balancer={"algorithm": "least_connections"})) == [
        "load_balancer.algorithm: found 'least_connections'; allowed: one of round_robin, "
        "least_outstanding_requests, weighted_random on the aws target"]


@pytest.mark.parametrize("key, value, allowed", [
    ("interval_s", 3, "an integer from 5 to 300 on the aws target (ALB health check range)"),
    ("healthy_threshold", 1, "an integer from 2 to 10 on the aws target (ALB health check range)"),
    ("unhealthy_threshold", 1, "an integer from 2 to 10 on the aws target (ALB health check range)"),
])
def test_health_check_outside_alb_ranges(key, value, allowed):
    health = {"interval_s": 10, "timeout_s": 2, key: value}
    if key == "interval_s":
        health["timeout_s"] = 2
    assert problems(raw(load_balancer={"health_check": health})) == [
        f"load_balancer.health_check.{key}: found {value}; allowed: {allowed}"]


def test_health_check_timeout_below_two_seconds():
    assert problems(raw(load_balancer={"health_check": {"interval_s": 10, "timeout_s": 1}})) == [
        "load_balancer.health_check.timeout_s: found 1; allowed: an integer from 2 to 120 on the aws target "
        "(ALB health check range)"]


def test_health_check_timeout_not_below_interval():
    assert problems(raw(load_balancer={"health_check": {"interval_s": 5, "timeout_s": 5}})) == [
        "load_balancer.health_check.timeout_s: found 5; allowed: less than interval_s (5), so one check ends "
        "before the next starts"]


@pytest.mark.parametrize("arn", ["arn:aws:acm:us-east-1:123456789012:certificate/not-a-uuid",
                                 "arn:aws:iam::123456789012:server-certificate/api", "api-example-com-tls"])
def test_certificate_must_be_an_acm_arn(arn):
    assert problems(raw("staging", load_balancer={"tls_certificate": arn})) == [
        f"load_balancer.tls_certificate: found {arn!r}; allowed: an ACM certificate ARN: "
        "arn:aws:acm:<region>:<12-digit account>:certificate/<uuid>"]


def test_certificate_must_be_in_the_stack_region():
    other = CERT.replace("us-east-1", "eu-west-1")
    assert problems(raw("prod", load_balancer={"tls_certificate": other})) == [
        f"load_balancer.tls_certificate: found {other!r}; allowed: a certificate in the stack's region us-east-1 "
        "(an ALB uses ACM certificates of its region)"]


def test_staging_needs_a_certificate_only_dev_serves_plain_http():
    assert problems(raw("staging", load_balancer={})) == [
        "load_balancer.tls_certificate: found None; allowed: an ACM certificate ARN (or aws.domain, whose "
        "certificate the stack makes): on aws only dev may serve plain HTTP"]


def test_alarm_topic_must_be_an_sns_arn():
    assert problems(raw("staging", monitoring={"alarm_topic": "ops-pager"})) == [
        "monitoring.alarm_topic: found 'ops-pager'; allowed: an SNS standard topic ARN: "
        "arn:aws:sns:<region>:<12-digit account>:<topic name>"]


def test_prod_alarms_need_a_topic():
    assert problems(raw("prod", monitoring={})) == [
        "monitoring.alarm_topic: found None; allowed: an SNS topic ARN: prod alarms must reach someone"]


def test_region_must_be_an_aws_region():
    assert problems(raw(region="westeurope")) == [
        "region: found 'westeurope'; allowed: an AWS region name such as us-east-1 or eu-west-3"]


@pytest.mark.parametrize("cidr", ["8.8.0.0/16", "10.0.0.0/8", "10.0.0.0/26", "10.0.0.1/16x"])
def test_vpc_cidr(cidr):
    assert problems(raw(aws={"vpc_cidr": cidr})) == [
        f"aws.vpc_cidr: found {cidr!r}; allowed: a private IPv4 network (10/8, 172.16/12 or 192.168/16) "
        "with a prefix from /16 to /24"]


@pytest.mark.parametrize("zones", [1, 7])
def test_zones_count(zones):
    assert problems(raw(aws={"zones": zones})) == [f"aws.zones: found {zones}; allowed: an integer from 2 to 6"]


@pytest.mark.parametrize("key, value, allowed", [
    ("nat_gateways", "single",
     "per_zone in prod (a single NAT gateway is one zone's failure taking every zone's egress)"),
    ("task_zones", "one", "all in prod (tasks in one zone share its failures)"),
    ("deletion_protection", False, "true in prod (the ALB is the platform's front door)"),
    ("waf", False, "true in prod (the ALB faces the internet)"),
    ("access_logs", False, "true in prod (requests must be traceable after an incident)"),
])
def test_prod_keeps_the_safe_settings(key, value, allowed):
    assert problems(raw("prod", aws={key: value})) == [f"aws.{key}: found {value!r}; allowed: {allowed}"]


def test_dev_may_opt_out_of_the_same_settings():
    o = options(raw("dev", aws={"nat_gateways": "single", "task_zones": "one", "deletion_protection": False,
                                "waf": False, "access_logs": False}))
    assert (o.nat_gateways, o.task_zones, o.deletion_protection, o.waf, o.access_logs) == \
        ("single", "one", False, False, False)


def test_nat_mode_choices():
    assert problems(raw(aws={"nat_gateways": "none"})) == [
        "aws.nat_gateways: found 'none'; allowed: one of per_zone, single"]


@pytest.mark.parametrize("value", [-1, 3601])
def test_deregistration_delay_range(value):
    assert problems(raw(aws={"deregistration_delay_s": value})) == [
        f"aws.deregistration_delay_s: found {value}; allowed: an integer from 0 to 3600"]


@pytest.mark.parametrize("value, allowed", [(10, "0 (off) or an integer from 30 to 900"),
                                            (901, "an integer from 0 to 900")])
def test_slow_start_range(value, allowed):
    assert problems(raw(aws={"slow_start_s": value})) == [f"aws.slow_start_s: found {value}; allowed: {allowed}"]


@pytest.mark.parametrize("algorithm", ["least_outstanding_requests", "weighted_random"])
def test_slow_start_only_with_round_robin(algorithm):
    assert problems(raw(aws={"slow_start_s": 60}, load_balancer={"algorithm": algorithm})) == [
        f"aws.slow_start_s: found 60; allowed: 0 with load_balancer.algorithm {algorithm} "
        "(ALB allows slow start with round_robin only)"]


@pytest.mark.parametrize("value", [0, 2, 10, 4000, "30"])
def test_log_retention_must_be_a_cloudwatch_value(value):
    allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
    assert problems(raw(aws={"log_retention_days": value})) == [
        f"aws.log_retention_days: found {value!r}; allowed: one of the CloudWatch Logs retention values: {allowed}"]


def test_ssl_policy_must_offer_tls13():
    assert problems(raw("staging", aws={"ssl_policy": "ELBSecurityPolicy-2016-08"})) == [
        "aws.ssl_policy: found 'ELBSecurityPolicy-2016-08'; allowed: a TLS 1.3 ALB security policy "
        "(ELBSecurityPolicy-TLS13-*, e.g. ELBSecurityPolicy-TLS13-1-2-2021-06)"]


def test_desync_mode_monitor_is_not_offered():
    assert problems(raw(aws={"desync_mitigation_mode": "monitor"})) == [
        "aws.desync_mitigation_mode: found 'monitor'; allowed: one of defensive, strictest"]


def test_idle_timeout_stays_below_the_gateway_keepalive():
    assert problems(raw(aws={"idle_timeout_s": 620})) == [
        "aws.idle_timeout_s: found 620; allowed: an integer from 1 to 619"]


@pytest.mark.parametrize("value", [9, 2_000_000_001])
def test_waf_rate_limit_range(value):
    assert problems(raw(aws={"waf_rate_limit": value})) == [
        f"aws.waf_rate_limit: found {value}; allowed: an integer from 10 to 2000000000"]


def test_the_lowest_waf_rate_limit_aws_accepts_is_accepted():
    assert options(raw(aws={"waf_rate_limit": 10})).waf_rate_limit == 10


@pytest.mark.parametrize("bucket", ["My_Logs", "ab", "-logs", "logs..alb"])
def test_access_logs_bucket_name(bucket):
    assert problems(raw(aws={"access_logs_bucket": bucket})) == [
        f"aws.access_logs_bucket: found {bucket!r}; allowed: an S3 bucket name: 3-63 lowercase letters, digits, "
        "'.' and '-', starting and ending with a letter or digit"]


@pytest.mark.parametrize("prefix", ["/alb", "alb/", "alb/AWSLogs", "alb logs"])
def test_access_logs_prefix(prefix):
    assert problems(raw(aws={"access_logs_prefix": prefix})) == [
        f"aws.access_logs_prefix: found {prefix!r}; allowed: letters, digits, '/', '.', '_' and '-', without a "
        "leading or trailing '/' and without 'AWSLogs' (ALB adds it)"]


def test_access_logs_retention_range():
    assert problems(raw(aws={"access_logs_retention_days": 0})) == [
        "aws.access_logs_retention_days: found 0; allowed: an integer from 1 to 3650"]


def test_service_connect_namespace_is_dns_like():
    assert problems(raw(aws={"service_connect_namespace": "Api_Internal"})) == [
        "aws.service_connect_namespace: found 'Api_Internal'; allowed: a DNS-style name: lowercase letters, "
        "digits, '-' and '.', at most 253 characters"]


def test_container_health_checks_name_programs_of_the_stack():
    assert problems(raw(aws={"container_health_checks": {"orders-api": "none", "users-api": "a\nb"}})) == [
        "aws.container_health_checks.orders-api: found 'none'; allowed: a program of this stack: gateway, "
        "payments-api, users-api",
        "aws.container_health_checks.users-api: found 'a\\nb'; allowed: a shell command on one line, or none"]


@pytest.mark.parametrize("user, allowed", [
    ("0", "a non-root uid (not 0); image keeps the image's USER"),
    ("0:0", "a non-root uid (not 0); image keeps the image's USER"),
    ("nginx", '"uid" or "uid:gid" (numbers), or image to keep the image\'s USER'),
])
def test_container_users_are_non_root(user, allowed):
    assert problems(raw(aws={"container_users": {"gateway": user}})) == [
        f"aws.container_users.gateway: found {user!r}; allowed: {allowed}"]


def test_a_service_cannot_take_the_gateway_name():
    config = raw(services={"gateway": {"image": "traefik/whoami:v1.10.3", "port": 8080, "path_prefix": "/gw"}})
    assert problems(config) == [
        "services.gateway: found 'gateway'; allowed: a name other than 'gateway': the gateway fleet's own name "
        "(its Deployment, task family and instance ids)"]


def test_a_program_must_fit_one_fargate_task():
    config = raw(services={"users-api": {"image": "traefik/whoami:v1.10.3", "cpu_millicores": 16000}})
    assert problems(config) == [
        "services.users-api: found {'cpu_millicores': 16000, 'memory_mib': 128}; allowed: a size one Fargate task "
        "can hold (needs 16640 CPU units and 208 MiB; the largest Fargate task is 16384 CPU units with 122880 MiB)"]


def test_unknown_aws_key():
    (problem,) = problems(raw(aws={"nat": "single"}))
    assert problem.startswith("aws.nat: found 'single'; allowed: known keys: vpc_cidr, zones, nat_gateways, ")


def test_every_problem_is_reported_at_once():
    found = problems(raw("prod", aws={"waf": False, "zones": 9}, monitoring={},
                         load_balancer={"tls_certificate": CERT, "algorithm": "random"}))
    assert [p.split(":")[0] for p in found] == [
        "load_balancer.algorithm", "aws.zones", "aws.waf", "monitoring.alarm_topic"]


def test_a_vpc_too_small_for_a_rollout_at_the_instance_maximums_is_refused():
    config = raw("dev", aws={"vpc_cidr": "10.0.0.0/24", "task_zones": "one"},
                 gateway={"instances": {"min": 1, "max": 10}})
    # 2 x (10 + 2 + 2) = 28 addresses in one /28 task subnet (11 usable).
    assert problems(config) == [
        "aws.vpc_cidr: found '10.0.0.0/24'; allowed: a range whose 1 task subnet(s) hold 28 task addresses (twice the "
        "instance maximums, as a rollout runs old and new tasks together): /24 gives 11 per subnet; /22 or larger"]
    config["aws"]["vpc_cidr"] = "10.0.0.0/22"
    assert options(config).vpc_cidr == "10.0.0.0/22"
