"""The `<project>:aws` block, and the AWS-specific rules for the neutral spec.

Pure Python (no Pulumi import); registered with the spec so a bad value is reported with every
other problem, with its key path, the value found and what AWS allows, before any resource is
registered. Ranges come from the provider's and AWS's documentation (cited per rule).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from ..gateway.nginx import KEEPALIVE_TIMEOUT_S
from ..spec import GATEWAY_NAME
from ..validation import Problems, container_user_problem, shell_command_problem
from .domain import check_domain, parse_domain
from .images import check_image_cache, parse_credentials
from .production_options import ADDITION_KEYS, ProductionAdditions, check_additions, with_additions
from .sizing import GATEWAY_SCRATCH_MIB, SERVICE_SCRATCH_MIB, program_task_size
from .task_secrets import refs_problem

GATEWAY_PROGRAM = GATEWAY_NAME
"""The gateway fleet's name in per-program maps (container_health_checks, container_users)."""

MAX_IDLE_TIMEOUT_S = KEEPALIVE_TIMEOUT_S - 1
"""The ALB's idle timeout must stay below the gateway's nginx keepalive_timeout, or the gateway
closes connections the ALB is about to reuse (sporadic 502s). One constant, imported."""

NAT_MODES = ("per_zone", "single")
TASK_ZONES = ("all", "one")
DESYNC_MODES = ("defensive", "strictest")  # `monitor` forwards desync-prone requests: not offered
CONTAINER_INSIGHTS = ("enhanced", "enabled", "disabled")
CPU_ARCHITECTURES = ("X86_64", "ARM64")
# CloudWatch Logs retention values (provider docs, aws.cloudwatch.LogGroup.retention_in_days);
# 0 (never expire) is left out on purpose: logs that never expire are a cost that never stops.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)
ALB_ALGORITHMS = ("round_robin", "least_outstanding_requests", "weighted_random")
"""Target-group load balancing algorithms, in the ALB's own names."""
# ALB target group health-check ranges (provider docs, aws.lb.TargetGroup health_check).
ALB_HEALTH_CHECK_RANGES = {"interval_s": (5, 300), "timeout_s": (2, 120), "healthy_threshold": (2, 10),
                           "unhealthy_threshold": (2, 10)}
TLS13_POLICY_PREFIX = "ELBSecurityPolicy-TLS13-"
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2: AWS's recommended default

_REGION = r"[a-z]{2}(?:-gov)?-[a-z]+-\d"
_PARTITION = r"aws(?:-cn|-us-gov)?"
REGION_RE = re.compile(rf"^{_REGION}$")
ACM_ARN_RE = re.compile(rf"^arn:{_PARTITION}:acm:(?P<region>{_REGION}):\d{{12}}:certificate/"
                        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SNS_ARN_RE = re.compile(rf"^arn:{_PARTITION}:sns:{_REGION}:\d{{12}}:[A-Za-z0-9_-]{{1,256}}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
NAMESPACE_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
TAG_KEY_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")
TAG_VALUE_RE = re.compile(r"^[\w .:/=+\-@]{0,256}$")


DEFAULT_RULES_PER_SECURITY_GROUP = 60
"""AWS's default quota of inbound (and, separately, outbound) rules per security group."""
AUTONAME_SUFFIX = 8
"""Pulumi names a resource without an explicit name `<resource name>-<7 random hex digits>`."""
AUTONAME_LIMITS = {"aws:iam/role:Role": 64, "aws:lb/loadBalancer:LoadBalancer": 32,
                   "aws:lb/targetGroup:TargetGroup": 32, "aws:s3/bucket:Bucket": 63}
"""AWS's name length limits of the resources the aws target lets Pulumi name."""


def autonamed_resources(project: str, programs: list[str], creates_log_bucket: bool,
                        creates_flow_logs: bool = False) -> list[tuple[str, str]]:
    """(type token, Pulumi resource name) of every resource in AUTONAME_LIMITS the aws builder
    creates: the same names as components/aws/platform.py and its components (a test joins them)."""
    names = [("aws:iam/role:Role", f"{project}-cluster-execution"),
             *(("aws:iam/role:Role", f"{project}-{program}-task") for program in programs),
             ("aws:lb/loadBalancer:LoadBalancer", f"{project}-lb-alb"),
             ("aws:lb/targetGroup:TargetGroup", f"{project}-lb-gateway")]
    if creates_log_bucket:
        names.append(("aws:s3/bucket:Bucket", f"{project}-access-logs-bucket"))
    if creates_flow_logs:
        names.append(("aws:iam/role:Role", f"{project}-flow-logs-role"))
    return names


def partition(region: str) -> str:
    """The ARN partition of a region: aws, aws-cn (China) or aws-us-gov (GovCloud)."""
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


@dataclass(frozen=True)
class PhaseDefaults:
    zones: int
    nat_gateways: str
    task_zones: str
    log_retention_days: int
    container_insights: str
    waf: bool
    access_logs: bool
    deletion_protection: bool


PHASE_DEFAULTS: dict[str, PhaseDefaults] = {
    # dev: the reference's "several instances on one host": one task per program in one zone,
    # one NAT gateway; the ALB still spans two zones because AWS requires it.
    "dev": PhaseDefaults(2, "single", "one", 7, "enabled", waf=False, access_logs=False,
                         deletion_protection=False),
    "staging": PhaseDefaults(2, "single", "all", 30, "enabled", waf=False, access_logs=False,
                             deletion_protection=False),
    "prod": PhaseDefaults(3, "per_zone", "all", 90, "enhanced", waf=True, access_logs=True,
                          deletion_protection=True),
}


@dataclass(frozen=True)
class AwsOptions:
    vpc_cidr: str = "10.0.0.0/16"
    """Private IPv4 range of the VPC, /16 to /24; each zone gets a public and a private /+4 subnet."""
    zones: int = 2
    """Availability zones to use (2-6; fewer when the region has fewer). ALB needs at least 2."""
    nat_gateways: str = "single"
    """per_zone (one NAT gateway per zone: egress survives a zone outage; required in prod) or single."""
    task_zones: str = "all"
    """Where tasks run: all zones, or one (dev: cheaper, no cross-zone traffic)."""
    ssl_policy: str = DEFAULT_SSL_POLICY
    """HTTPS listener security policy: an ELBSecurityPolicy-TLS13-* policy."""
    desync_mitigation_mode: str = "defensive"
    """ALB HTTP desync mitigation: defensive (AWS default) or strictest."""
    idle_timeout_s: int = 60
    """ALB idle timeout, 1-619 s: below the gateway's 620 s keepalive."""
    deletion_protection: bool = False
    deregistration_delay_s: int = 30
    """Time a draining gateway task keeps serving in-flight requests, 0-3600 s (ALB default 300)."""
    slow_start_s: int = 0
    """Ramp-up of a new gateway task, 0 (off) or 30-900 s; ALB allows it with round_robin only."""
    log_retention_days: int = 30
    container_insights: str = "enabled"
    cpu_architecture: str = "X86_64"
    waf: bool = False
    """A WAFv2 web ACL (AWS managed rule groups + per-IP rate limit) associated with the ALB."""
    waf_rate_limit: int = 2000
    """Requests per client IP per 5 minutes before WAF blocks it (10 to 2,000,000,000: AWS's range since 2024)."""
    access_logs: bool = False
    """ALB access logs to S3."""
    access_logs_bucket: str | None = None
    """An existing bucket for the access logs; unset: the stack creates one."""
    access_logs_prefix: str = "alb"
    access_logs_retention_days: int = 90
    service_connect_namespace: str = ""
    """Cloud Map namespace of Service Connect; default <project>-<phase>."""
    cpu_target_percent: int = 70
    """Target tracking on average CPU, every service."""
    requests_per_target: int = 1000
    """Target tracking on ALBRequestCountPerTarget (requests per gateway task per minute)."""
    alarm_5xx_percent: int = 5
    """Alarm when gateway 5xx responses exceed this share of requests (5-minute windows)."""
    alarm_p99_ms: int = 1000
    """Alarm when the p99 target response time exceeds this."""
    vpc_id: str | None = None
    """An existing VPC (a platform team's): the stack creates no network; the subnets below are given too."""
    public_subnet_ids: tuple[str, ...] = ()
    """With vpc_id: the load balancer's subnets, in at least two zones."""
    private_subnet_ids: tuple[str, ...] = ()
    """With vpc_id: the tasks' subnets (with a route to the internet through NAT, for image pulls)."""
    private_subnet_cidrs: tuple[str, ...] = ()
    """Their ranges, in the same order: the capacity check needs them."""
    wait_for_steady_state: bool = False
    """`pulumi up` waits for each ECS rollout (and its rollback) to finish; on in staging and prod."""
    security_group_rule_quota: int = DEFAULT_RULES_PER_SECURITY_GROUP
    """The account's "Inbound or outbound rules per security group" quota (AWS default 60). The
    gateway's group has one egress rule per service plus HTTPS; raise the quota in Service
    Quotas first, then here, for more services."""
    container_health_checks: dict[str, str] = field(default_factory=dict)
    """Per program (gateway or a service name): a CMD-SHELL command, or none for images
    without a shell. Default: wget the program's health path on localhost."""
    container_users: dict[str, str] = field(default_factory=dict)
    """Per program: "uid[:gid]" (default 101 for the gateway, 65532 for services) or image."""
    domain: str | None = None
    """The API's own name (api.example.com): the stack makes its certificate, validated in DNS, and an
    alias record to the ALB, in aws.hosted_zone; instead of load_balancer.tls_certificate."""
    hosted_zone: str | None = None
    """The public Route 53 hosted zone of aws.domain: its name (looked up) or id (Z...)."""
    image_cache: bool = False
    """Tasks pull through an ECR pull-through cache of the images' registries (components/aws/images.py);
    on in staging and prod, where Docker Hub's anonymous pull limit would stop rollouts and scale-outs."""
    image_cache_prefix: str = ""
    """ECR repository prefix of the cache rules (<prefix>/docker-hub, ...); default <project>-<phase>."""
    image_cache_credentials: dict[str, str] = field(default_factory=dict)
    """Image host (docker.io, ghcr.io, registry.gitlab.com) -> the Secrets Manager secret, named
    ecr-pullthroughcache/..., ECR signs in to that registry with."""
    additions: ProductionAdditions = field(default_factory=ProductionAdditions)
    """Issue 17's production additions (components/aws/production_options.py); plain aws.* keys in the stack."""


def parse_aws_options(raw: dict, p: Problems, spec) -> AwsOptions:
    known = (*(key for key in AwsOptions.__dataclass_fields__ if key != "additions"), *ADDITION_KEYS)
    p.unknown_keys(raw, known, "aws")
    phase = PHASE_DEFAULTS.get(spec.phase, PHASE_DEFAULTS["dev"])
    programs = (GATEWAY_PROGRAM, *(s.name for s in spec.services))

    options = AwsOptions(
        vpc_cidr=_vpc_cidr(p, raw),
        zones=p.integer(raw, "zones", "aws.zones", phase.zones, 2, 6) or phase.zones,
        nat_gateways=p.choice(raw, "nat_gateways", "aws.nat_gateways", phase.nat_gateways, NAT_MODES)
        or phase.nat_gateways,
        task_zones=p.choice(raw, "task_zones", "aws.task_zones", phase.task_zones, TASK_ZONES) or phase.task_zones,
        ssl_policy=_ssl_policy(p, raw),
        desync_mitigation_mode=p.choice(raw, "desync_mitigation_mode", "aws.desync_mitigation_mode", "defensive",
                                        DESYNC_MODES) or "defensive",
        idle_timeout_s=p.integer(raw, "idle_timeout_s", "aws.idle_timeout_s", 60, 1, MAX_IDLE_TIMEOUT_S) or 60,
        deletion_protection=p.boolean(raw, "deletion_protection", "aws.deletion_protection",
                                      phase.deletion_protection),
        deregistration_delay_s=_int(p.integer(raw, "deregistration_delay_s", "aws.deregistration_delay_s",
                                              30, 0, 3600), 30),
        slow_start_s=_slow_start(p, raw, spec),
        log_retention_days=_retention(p, raw, phase.log_retention_days),
        container_insights=p.choice(raw, "container_insights", "aws.container_insights", phase.container_insights,
                                    CONTAINER_INSIGHTS) or phase.container_insights,
        cpu_architecture=p.choice(raw, "cpu_architecture", "aws.cpu_architecture", "X86_64", CPU_ARCHITECTURES)
        or "X86_64",
        waf=p.boolean(raw, "waf", "aws.waf", phase.waf),
        waf_rate_limit=p.integer(raw, "waf_rate_limit", "aws.waf_rate_limit", 2000, 10, 2_000_000_000) or 2000,
        access_logs=p.boolean(raw, "access_logs", "aws.access_logs", phase.access_logs),
        access_logs_bucket=_bucket(p, raw),
        access_logs_prefix=_prefix(p, raw),
        access_logs_retention_days=p.integer(raw, "access_logs_retention_days", "aws.access_logs_retention_days",
                                             90, 1, 3650) or 90,
        service_connect_namespace=_namespace(p, raw, f"{spec.project}-{spec.phase or 'dev'}"),
        cpu_target_percent=p.integer(raw, "cpu_target_percent", "aws.cpu_target_percent", 70, 10, 95) or 70,
        requests_per_target=p.integer(raw, "requests_per_target", "aws.requests_per_target", 1000, 1, 1_000_000)
        or 1000,
        alarm_5xx_percent=p.integer(raw, "alarm_5xx_percent", "aws.alarm_5xx_percent", 5, 1, 100) or 5,
        alarm_p99_ms=p.integer(raw, "alarm_p99_ms", "aws.alarm_p99_ms", 1000, 10, 60_000) or 1000,
        **_existing_network(p, raw),
        wait_for_steady_state=p.boolean(raw, "wait_for_steady_state", "aws.wait_for_steady_state",
                                        spec.phase in ("staging", "prod")),
        security_group_rule_quota=p.integer(raw, "security_group_rule_quota", "aws.security_group_rule_quota",
                                            DEFAULT_RULES_PER_SECURITY_GROUP, DEFAULT_RULES_PER_SECURITY_GROUP,
                                            1000) or DEFAULT_RULES_PER_SECURITY_GROUP,
        container_health_checks=p.per_program(raw, "container_health_checks", "aws.container_health_checks", programs,
                                              shell_command_problem),
        container_users=p.per_program(raw, "container_users", "aws.container_users", programs,
                                      container_user_problem),
        **dict(zip(("domain", "hosted_zone"), parse_domain(p, raw), strict=True)),
        image_cache=p.boolean(raw, "image_cache", "aws.image_cache", spec.phase in ("staging", "prod")),
        image_cache_prefix=p.string(raw, "image_cache_prefix", "aws.image_cache_prefix", None)
        or f"{spec.project}-{spec.phase or 'dev'}",
        image_cache_credentials=parse_credentials(p, raw),
    )
    return with_additions(options, p, raw, spec)


def steady_state_timeout_s(spec, options: AwsOptions, grace_s: int) -> int:
    """How long `pulumi up` waits for a rollout: twice a task's way to serving (start, the health check
    grace and checks, the old task's deregistration), plus a margin for a rollback."""
    hc = spec.load_balancer.health_check
    return 2 * (120 + grace_s + hc.interval_s * hc.healthy_threshold + options.deregistration_delay_s) + 300


def check_aws_spec(spec, p: Problems) -> None:
    """The target contract's spec check: prod's safe settings, and what AWS cannot honour."""
    _check_prod(p, spec.options, spec)
    _check_spec_for_aws(p, spec)
    check_additions(p, spec)


def _int(value: int | None, default: int) -> int:
    return default if value is None else value


def _vpc_cidr(p: Problems, raw: dict) -> str:
    value = p.string(raw, "vpc_cidr", "aws.vpc_cidr", "10.0.0.0/16") or "10.0.0.0/16"
    allowed = "a private IPv4 network (10/8, 172.16/12 or 192.168/16) with a prefix from /16 to /24"
    try:
        network = ipaddress.IPv4Network(value)
    except ValueError:
        p.add("aws.vpc_cidr", value, allowed)
        return "10.0.0.0/16"
    if not network.is_private or not 16 <= network.prefixlen <= 24:
        p.add("aws.vpc_cidr", value, allowed)
        return "10.0.0.0/16"
    return str(network)


def _ssl_policy(p: Problems, raw: dict) -> str:
    value = p.string(raw, "ssl_policy", "aws.ssl_policy", DEFAULT_SSL_POLICY) or DEFAULT_SSL_POLICY
    if not value.startswith(TLS13_POLICY_PREFIX):
        p.add("aws.ssl_policy", value, f"a TLS 1.3 ALB security policy ({TLS13_POLICY_PREFIX}*, "
                                       f"e.g. {DEFAULT_SSL_POLICY})")
        return DEFAULT_SSL_POLICY
    return value


def _slow_start(p: Problems, raw: dict, spec) -> int:
    value = _int(p.integer(raw, "slow_start_s", "aws.slow_start_s", 0, 0, 900), 0)
    if 0 < value < 30:
        p.add("aws.slow_start_s", value, "0 (off) or an integer from 30 to 900")
        return 0
    algorithm = spec.load_balancer.algorithm
    if value and algorithm != "round_robin":
        # AWS: the least outstanding requests and weighted random algorithms cannot be used
        # with slow start mode.
        p.add("aws.slow_start_s", value, f"0 with load_balancer.algorithm {algorithm} "
                                         "(ALB allows slow start with round_robin only)")
        return 0
    return value


def _retention(p: Problems, raw: dict, default: int) -> int:
    value = raw.get("log_retention_days", default)
    if value not in LOG_RETENTION_DAYS or isinstance(value, bool):
        p.add("aws.log_retention_days", value,
              f"one of the CloudWatch Logs retention values: {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return default
    return int(value)


def _bucket(p: Problems, raw: dict) -> str | None:
    value = p.string(raw, "access_logs_bucket", "aws.access_logs_bucket", None)
    if value is not None and (not BUCKET_RE.match(value) or ".." in value):
        p.add("aws.access_logs_bucket", value, "an S3 bucket name: 3-63 lowercase letters, digits, '.' and '-', "
                                               "starting and ending with a letter or digit")
        return None
    return value


def _prefix(p: Problems, raw: dict) -> str:
    value = p.string(raw, "access_logs_prefix", "aws.access_logs_prefix", "alb") or "alb"
    if value.startswith("/") or value.endswith("/") or "AWSLogs" in value or not re.match(r"^[A-Za-z0-9/._-]+$", value):
        p.add("aws.access_logs_prefix", value, "letters, digits, '/', '.', '_' and '-', without a leading or "
                                               "trailing '/' and without 'AWSLogs' (ALB adds it)")
        return "alb"
    return value


def _namespace(p: Problems, raw: dict, default: str) -> str:
    value = p.string(raw, "service_connect_namespace", "aws.service_connect_namespace", default) or default
    if len(value) > 253 or not NAMESPACE_RE.match(value):
        p.add("aws.service_connect_namespace", value,
              "a DNS-style name: lowercase letters, digits, '-' and '.', at most 253 characters")
        return default
    return value


def _check_aws_limits(p: Problems, spec) -> None:
    """Tags, generated names and rule counts within what AWS accepts, so `pulumi up` never fails
    half-way on a limit the plan could have seen."""
    for key, value in spec.labels.items():
        if not TAG_KEY_RE.match(key) or key.lower().startswith("aws:"):
            p.add(f"labels.{key}", key, "an AWS tag key: 1-128 letters, digits, spaces and _ . : / = + - @, "
                                        "not starting with aws:")
        elif not TAG_VALUE_RE.match(value):
            p.add(f"labels.{key}", value, "an AWS tag value: at most 256 letters, digits, spaces and _ . : / = + - @")
    options: AwsOptions = spec.options
    programs = [GATEWAY_PROGRAM, *(s.name for s in spec.services)]
    for token, name in autonamed_resources(spec.project, programs,
                                           options.access_logs and not options.access_logs_bucket,
                                           options.additions.flow_logs):
        limit = AUTONAME_LIMITS[token]
        if len(name) + AUTONAME_SUFFIX > limit:
            program = next((s.name for s in spec.services if name == f"{spec.project}-{s.name}-task"), None)
            p.add(f"services.{program}" if program else "<project name>", program or spec.project,
                  f"a shorter name: {token.rsplit(':', 1)[1]} {name!r} plus Pulumi's {AUTONAME_SUFFIX}-character "
                  f"suffix exceeds AWS's {limit}")
    rules = len(spec.services) + 1  # the gateway's egress: one per service, plus HTTPS
    if rules > options.security_group_rule_quota:
        p.add("services", f"{len(spec.services)} services",
              f"at most {options.security_group_rule_quota - 1} services: the gateway's security group needs "
              f"{rules} egress rules and aws.security_group_rule_quota is {options.security_group_rule_quota} "
              "(raise the account's quota in Service Quotas, then this key)")


AWS_RESERVED_PER_SUBNET = 5
"""AWS keeps five addresses of every subnet."""


VPC_ID_RE = re.compile(r"^vpc-[0-9a-f]{8,17}$")
SUBNET_ID_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
NETWORK_KEYS = ("vpc_cidr", "nat_gateways", "zones")
"""Keys of the network the stack creates: refused with an existing VPC, where they would do nothing."""


def _existing_network(p: Problems, raw: dict) -> dict:
    if "vpc_id" not in raw:
        for key in ("public_subnet_ids", "private_subnet_ids", "private_subnet_cidrs"):
            if key in raw:
                p.add(f"aws.{key}", raw[key], "nothing without aws.vpc_id (the stack creates its own network)")
        return {}
    vpc_id = p.string(raw, "vpc_id", "aws.vpc_id", None)
    if vpc_id is not None and not VPC_ID_RE.match(vpc_id):
        p.add("aws.vpc_id", vpc_id, "a VPC id: vpc- and 8 or 17 hexadecimal digits")
    for key in (k for k in NETWORK_KEYS if k in raw):
        p.add(f"aws.{key}", raw[key], "nothing with aws.vpc_id: the stack creates no network in an existing VPC")

    def ids(key: str, least: int, why: str) -> tuple[str, ...]:
        value = raw.get(key)
        if not isinstance(value, list) or len(value) < least or not all(
                isinstance(v, str) and SUBNET_ID_RE.match(v) for v in value):
            p.add(f"aws.{key}", value, f"a list of at least {least} subnet ids (subnet-...): {why}")
            return ()
        return tuple(value)
    public = ids("public_subnet_ids", 2, "an Application Load Balancer spans at least two zones")
    private = ids("private_subnet_ids", 1, "where the tasks run")
    cidrs = raw.get("private_subnet_cidrs")
    try:
        ranges = tuple(str(ipaddress.IPv4Network(c)) for c in cidrs) if isinstance(cidrs, list) else None
    except (TypeError, ValueError):
        ranges = None
    if ranges is None or len(ranges) != len(private):
        p.add("aws.private_subnet_cidrs", cidrs, f"the {len(private)} private subnets' ranges, in the same order "
                                                 "(the capacity check needs them)")
        ranges = ()
    return {"vpc_id": vpc_id, "public_subnet_ids": public, "private_subnet_ids": private,
            "private_subnet_cidrs": ranges}


def task_subnet_sizes(options: AwsOptions) -> tuple[list[int], str]:
    """Usable addresses of each subnet tasks run in, and what to change when they are too few."""
    if options.vpc_id:
        used = options.private_subnet_cidrs[:1] if options.task_zones == "one" else options.private_subnet_cidrs
        return [ipaddress.IPv4Network(c).num_addresses - AWS_RESERVED_PER_SUBNET for c in used], \
            "larger private subnets (aws.private_subnet_ids), or more of them"
    network = ipaddress.IPv4Network(options.vpc_cidr)
    subnets = options.zones if options.task_zones == "all" else 1
    return [2 ** (32 - (network.prefixlen + 4)) - AWS_RESERVED_PER_SUBNET] * subnets, ""


def _check_capacity(p: Problems, options: AwsOptions, spec) -> None:
    """Every Fargate task takes an address of a private subnet, and a rollout (maximumPercent 200) runs the
    old and the new tasks side by side: the task subnets must hold twice every program's maximum."""
    needed = 2 * (spec.gateway.instances.max + sum(s.instances.max for s in spec.services))
    sizes, remedy = task_subnet_sizes(options)
    if options.vpc_id:
        if sizes and needed > sum(sizes):
            p.add("aws.private_subnet_cidrs", list(options.private_subnet_cidrs),
                  f"subnets that hold {needed} task addresses (twice the instance maximums, as a rollout runs old "
                  f"and new tasks together): these hold {sum(sizes)}; {remedy}")
        return
    network = ipaddress.IPv4Network(options.vpc_cidr)
    per_subnet = 2 ** (32 - (network.prefixlen + 4)) - AWS_RESERVED_PER_SUBNET
    subnets = options.zones if options.task_zones == "all" else 1
    if needed > per_subnet * subnets:
        # ECS spreads tasks over the subnets: each must hold its share.
        fits = next((prefix for prefix in range(network.prefixlen, 15, -1)
                     if (2 ** (32 - (prefix + 4)) - AWS_RESERVED_PER_SUBNET) * subnets >= needed), 16)
        p.add("aws.vpc_cidr", options.vpc_cidr,
              f"a range whose {subnets} task subnet(s) hold {needed} task addresses (twice the instance maximums, "
              f"as a rollout runs old and new tasks together): /{network.prefixlen} gives {per_subnet} per subnet; "
              f"/{fits} or larger")


def _check_prod(p: Problems, options: AwsOptions, spec) -> None:
    """Prod keeps the safe settings; dev and staging may opt out (each stack file says why)."""
    if spec.phase != "prod":
        return
    required = {
        "aws.nat_gateways": (options.nat_gateways, "per_zone",
                             "a single NAT gateway is one zone's failure taking every zone's egress"),
        "aws.task_zones": (options.task_zones, "all", "tasks in one zone share its failures"),
        "aws.deletion_protection": (options.deletion_protection, True, "the ALB is the platform's front door"),
        "aws.waf": (options.waf, True, "the ALB faces the internet"),
        "aws.access_logs": (options.access_logs, True, "requests must be traceable after an incident"),
    }
    for path, (value, wanted, why) in required.items():
        if value != wanted:
            p.add(path, value, f"{str(wanted).lower() if isinstance(wanted, bool) else wanted} in prod ({why})")


def _check_spec_for_aws(p: Problems, spec) -> None:
    """What the neutral spec allows but AWS does not (or this target cannot honour)."""
    if not REGION_RE.match(spec.region):
        p.add("region", spec.region, "an AWS region name such as us-east-1 or eu-west-3")
    _check_aws_limits(p, spec)
    _check_capacity(p, spec.options, spec)
    check_image_cache(p, spec)
    for service in spec.services:
        for key, setting in sorted(service.secrets.items()):
            problem = refs_problem(setting.ref, spec.region) if setting.ref is not None else None
            if problem:
                p.add(f"services.{service.name}.environment.{key}.secret_ref", setting.ref, problem)
    check_domain(p, spec)

    hc, hp = spec.load_balancer.health_check, "load_balancer.health_check"
    for key, (lo, hi) in ALB_HEALTH_CHECK_RANGES.items():
        value = getattr(hc, key)
        if not lo <= value <= hi:
            p.add(f"{hp}.{key}", value, f"an integer from {lo} to {hi} on the aws target (ALB health check range)")

    tls = spec.load_balancer.tls_certificate
    if tls is not None:
        match = ACM_ARN_RE.match(tls)
        if not match:
            p.add("load_balancer.tls_certificate", tls,
                  "an ACM certificate ARN: arn:aws:acm:<region>:<12-digit account>:certificate/<uuid>")
        elif match.group("region") != spec.region:
            p.add("load_balancer.tls_certificate", tls,
                  f"a certificate in the stack's region {spec.region} (an ALB uses ACM certificates of its region)")
    elif spec.phase == "staging" and not spec.options.domain:
        p.add("load_balancer.tls_certificate", None,
              "an ACM certificate ARN (or aws.domain, whose certificate the stack makes): on aws only dev may "
              "serve plain HTTP")

    topic = spec.monitoring.alarm_topic
    if topic is not None and not SNS_ARN_RE.match(topic):
        p.add("monitoring.alarm_topic", topic,
              "an SNS standard topic ARN: arn:aws:sns:<region>:<12-digit account>:<topic name>")
    if topic is None and spec.phase == "prod" and spec.monitoring.enabled:
        p.add("monitoring.alarm_topic", None, "an SNS topic ARN: prod alarms must reach someone")

    sized = [("gateway", spec.gateway, GATEWAY_SCRATCH_MIB),
             *((f"services.{s.name}", s, SERVICE_SCRATCH_MIB) for s in spec.services)]
    for path, program, scratch in sized:
        try:
            program_task_size(program.cpu_millicores, program.memory_mib, scratch)
        except ValueError as err:
            p.add(path, {"cpu_millicores": program.cpu_millicores, "memory_mib": program.memory_mib},
                  f"a size one Fargate task can hold ({err})")

