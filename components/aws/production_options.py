"""The `<project>:aws` keys of issue 17's production additions: logs for incidents (WAF logs, ALB
connection logs, VPC flow logs, the client address nginx logs), cheaper and safer egress (VPC
endpoints) and zone resilience (ALB zonal shift, at least one task per zone).

Pure Python, like options.py, which reads these keys with `with_additions` and checks them with
`check_additions` (one call each): every problem names the key, the value found and what is allowed.
The parsed values live in `AwsOptions.additions`; in the stack file they are plain `aws.*` keys.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from ..validation import Problems

VPC_ENDPOINT_MODES = ("all", "gateway_only", "none")
"""all: the S3 gateway endpoint and the interface endpoints below; gateway_only: the S3 gateway endpoint
(free); none."""
INTERFACE_ENDPOINT_SERVICES = ("ecr.api", "ecr.dkr", "logs")
"""What a Fargate task reaches AWS for: the ECR API and registry (image pulls; the layers come from S3, through
the gateway endpoint) and CloudWatch Logs (awslogs). Each is billed per hour in every task zone."""
SENSITIVE_HEADERS = ("authorization", "cookie")
"""Headers that carry credentials: WAF logs show them as REDACTED, in every phase."""
MAX_REDACTED_FIELDS = 100
"""AWS WAF accepts up to 100 redacted fields per logging configuration (provider docs, redacted_fields)."""
HEADER_RE = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$")
"""An HTTP header name (token characters) in lowercase: AWS WAF matches redacted headers in lowercase."""
PREFIX_RE = re.compile(r"^[A-Za-z0-9/._-]+$")
WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"
"""AWS WAF logs only to destinations whose name starts with this."""


@dataclass(frozen=True)
class ProductionAdditions:
    """The parsed keys; the defaults are dev's (see `_defaults` for the other phases)."""

    waf_logging: bool = False
    """WAF logs to the CloudWatch log group aws-waf-logs-<project>-<stack>; default: on with aws.waf."""
    waf_redacted_headers: tuple[str, ...] = SENSITIVE_HEADERS
    """Request headers WAF logs as REDACTED: always authorization and cookie, plus any listed."""
    connection_logs: bool = False
    """ALB connection logs (client address and port, TLS version and cipher, handshake time) to the access-log
    bucket; default: on with aws.access_logs."""
    connection_logs_prefix: str = "alb-connections"
    """Their key prefix in that bucket, apart from the access logs'."""
    flow_logs: bool = False
    """VPC flow logs (every accepted and rejected flow) to the CloudWatch log group /vpc/<project>-<stack>/flow-logs;
    prod default when the stack creates the VPC."""
    vpc_endpoints: str = "gateway_only"
    """all (S3 gateway + ECR api/dkr and CloudWatch Logs interface endpoints), gateway_only (S3, free) or none."""
    zonal_shift: bool = False
    """The ALB takes part in ARC zonal shift (traffic can be moved off an impaired zone); on in staging and prod."""
    public_subnet_cidrs: tuple[str, ...] = ()
    """With aws.vpc_id: the public subnets' ranges, in aws.public_subnet_ids' order: the ALB's nodes live there,
    and the gateway trusts X-Forwarded-For from them only."""


ADDITION_KEYS = tuple(ProductionAdditions.__dataclass_fields__)
"""The keys, all under `aws.`."""


def _defaults(spec, options) -> ProductionAdditions:
    """Each key's default for the stack's phase and the keys it depends on."""
    prod, existing = spec.phase == "prod", bool(options.vpc_id)
    spread = options.task_zones == "all"
    return ProductionAdditions(
        waf_logging=options.waf, connection_logs=options.access_logs,
        # An existing VPC's flow logs and endpoints are its owner's (a VPC often has both already, and a
        # second interface endpoint with private DNS for the same service is refused).
        flow_logs=prod and not existing,
        vpc_endpoints="none" if existing else ("all" if prod else "gateway_only"),
        # Shifting traffic off the one zone dev's tasks run in would leave them none.
        zonal_shift=spec.phase in ("staging", "prod") and spread)


def with_additions(options, p: Problems, raw: dict, spec):
    """`options` (AwsOptions) with its `additions` read from the raw aws block."""
    default = _defaults(spec, options)
    additions = ProductionAdditions(
        waf_logging=_needs(p, raw, "waf_logging", default.waf_logging, options.waf,
                           "aws.waf (there is no web ACL to log)"),
        waf_redacted_headers=_headers(p, raw),
        connection_logs=_needs(p, raw, "connection_logs", default.connection_logs, options.access_logs,
                               "aws.access_logs (the connection logs go to the access-log bucket)"),
        connection_logs_prefix=_connection_prefix(p, raw, options.access_logs_prefix),
        flow_logs=p.boolean(raw, "flow_logs", "aws.flow_logs", default.flow_logs),
        vpc_endpoints=_endpoints(p, raw, default.vpc_endpoints, bool(options.vpc_id)),
        zonal_shift=_zonal_shift(p, raw, default.zonal_shift, options.task_zones),
        public_subnet_cidrs=_public_cidrs(p, raw, options),
    )
    return replace(options, additions=additions)


def task_zone_count(options) -> int:
    """Zones the tasks run in: the created VPC's zones (or one), or an existing VPC's task subnets (one per zone)."""
    if options.task_zones == "one":
        return 1
    return len(options.private_subnet_ids) if options.vpc_id else options.zones


def trusted_proxies(options) -> tuple[str, ...]:
    """Where the ALB's requests come from, whose X-Forwarded-For nginx believes (`set_real_ip_from`): the VPC the
    stack creates, or an existing VPC's public subnets (the stack does not know that VPC's range)."""
    return options.additions.public_subnet_cidrs if options.vpc_id else (options.vpc_cidr,)


def check_additions(p: Problems, spec) -> None:
    """Prod keeps the incident logs and zone resilience; every program runs at least one task per zone."""
    if spec.phase != "prod":
        return
    options = spec.options
    additions: ProductionAdditions = options.additions
    required = {
        "aws.waf_logging": (additions.waf_logging or not options.waf,
                            "a blocked request must be explainable after an incident"),
        "aws.connection_logs": (additions.connection_logs or not options.access_logs,
                                "TLS and connection failures leave no access-log line"),
        "aws.flow_logs": (additions.flow_logs or bool(options.vpc_id),
                          "traffic the security groups refused must be traceable after an incident"),
        "aws.zonal_shift": (additions.zonal_shift or options.task_zones == "one",   # task_zones: refused already
                            "an impaired zone must be one command away from no traffic"),
    }
    for path, (ok, why) in required.items():
        if not ok:
            p.add(path, False, f"true in prod ({why})")
    zones = task_zone_count(options)
    where = "task subnets (aws.private_subnet_ids)" if options.vpc_id else "zones (aws.zones)"
    for path, program in (("gateway", spec.gateway), *((f"services.{s.name}", s) for s in spec.services)):
        if program.instances.min < zones:
            p.add(f"{path}.instances.min", program.instances.min,
                  f"at least {zones} in prod: one task in each of the {zones} {where}, so one zone's outage "
                  "leaves every program running")


def _needs(p: Problems, raw: dict, key: str, default: bool, available: bool, needed: str) -> bool:
    value = p.boolean(raw, key, f"aws.{key}", default)
    if value and not available:
        p.add(f"aws.{key}", value, f"false without {needed}")
        return False
    return value


def _headers(p: Problems, raw: dict) -> tuple[str, ...]:
    value = raw.get("waf_redacted_headers", list(SENSITIVE_HEADERS))
    allowed = (f"a list of at most {MAX_REDACTED_FIELDS} distinct header names in lowercase that includes "
               f"{' and '.join(SENSITIVE_HEADERS)} (credentials never reach the logs), e.g. "
               f"[{', '.join(SENSITIVE_HEADERS)}, x-api-key]")
    if not isinstance(value, list) or not all(isinstance(v, str) and HEADER_RE.match(v) for v in value) \
            or len(set(value)) != len(value) or len(value) > MAX_REDACTED_FIELDS \
            or not set(SENSITIVE_HEADERS) <= set(value):
        p.add("aws.waf_redacted_headers", value, allowed)
        return SENSITIVE_HEADERS
    return tuple(value)


def _connection_prefix(p: Problems, raw: dict, access_prefix: str) -> str:
    default = ProductionAdditions.connection_logs_prefix
    value = p.string(raw, "connection_logs_prefix", "aws.connection_logs_prefix", default) or default
    nested = value == access_prefix or value.startswith(f"{access_prefix}/") or access_prefix.startswith(f"{value}/")
    if value.startswith("/") or value.endswith("/") or "AWSLogs" in value or not PREFIX_RE.match(value) or nested:
        p.add("aws.connection_logs_prefix", value,
              "letters, digits, '/', '.', '_' and '-', without a leading or trailing '/', without 'AWSLogs' (ALB adds "
              f"it), and apart from aws.access_logs_prefix ({access_prefix!r}) so each log keeps its own prefix")
        return default
    return value


def _endpoints(p: Problems, raw: dict, default: str, existing: bool) -> str:
    value = p.choice(raw, "vpc_endpoints", "aws.vpc_endpoints", default, VPC_ENDPOINT_MODES) or default
    if existing and value != "none":
        p.add("aws.vpc_endpoints", value, "none with aws.vpc_id: an existing VPC's endpoints are its owner's (a second "
                                          "interface endpoint with private DNS for a service is refused)")
        return "none"
    return value


def _zonal_shift(p: Problems, raw: dict, default: bool, task_zones: str) -> bool:
    value = p.boolean(raw, "zonal_shift", "aws.zonal_shift", default)
    if value and task_zones == "one":
        p.add("aws.zonal_shift", value, "false with aws.task_zones one (every task runs in one zone: shifting "
                                        "traffic off it leaves none)")
        return False
    return value


def _public_cidrs(p: Problems, raw: dict, options) -> tuple[str, ...]:
    key, path = "public_subnet_cidrs", "aws.public_subnet_cidrs"
    if not options.vpc_id:
        if key in raw:
            p.add(path, raw[key], "nothing without aws.vpc_id (the gateway trusts the VPC the stack creates)")
        return ()
    count = len(options.public_subnet_ids)
    if not count:
        return ()  # the subnet ids are refused already
    value = raw.get(key)
    try:
        ranges = tuple(str(ipaddress.IPv4Network(c)) for c in value) if isinstance(value, list) else None
    except (TypeError, ValueError):
        ranges = None
    if ranges is None or len(ranges) != count:
        p.add(path, value, f"the {count} public subnets' ranges, in aws.public_subnet_ids' order: the load balancer's "
                           "nodes are there, and the gateway believes X-Forwarded-For from them only")
        return ()
    return ranges
