"""Typed inputs of the AWS components.

Each class holds only what its component needs (ids, subnets, ports, health check, instance
range, thresholds, names); `platform.build` is the one place that maps a stack spec to them, and a
program of your own can fill them in by hand. Fields another resource produces are
`pulumi.Input[str]`. Frozen dataclasses (`@args_class`) with real annotations (no
`from __future__ import annotations`): Pulumi's component provider reads them to build the
package schema other languages use, and a field's docstring becomes its description there.
"""
from dataclasses import field

import pulumi

from ..argsclass import args_class
from ..spec import HealthCheck
from .options import DEFAULT_SSL_POLICY


@args_class
class Zone:
    """One availability zone of the VPC (`network.select_zones` picks them)."""

    name: str
    """The availability zone, e.g. us-east-1a."""
    key: str
    """Its letter (a), the stable key in resource names."""
    slot: int
    """Its CIDR block index, 0-7 (a=0, b=1, ...): where its subnets sit in the VPC."""


@args_class
class NetworkArgs:
    """A VPC with a public and a private subnet per zone and NAT egress."""

    zones: list[Zone]
    """The zones to span; each gets a public and a private subnet."""
    vpc_cidr: str = "10.0.0.0/16"
    """Private IPv4 range of the VPC; each zone's subnets are a sixteenth of it."""
    nat_gateways: str = "per_zone"
    """per_zone (each zone's egress survives another zone's outage) or single (one, in the first zone)."""
    task_zones: str = "all"
    """Where tasks run (`task_subnet_ids`): all zones, or one (the NAT gateway's zone: no cross-zone charges)."""


@args_class
class SecurityGroupsArgs:
    """Least-privilege groups: internet -> ALB -> gateway -> each service."""

    vpc_id: pulumi.Input[str]
    """The VPC the groups belong to."""
    gateway_port: int
    """Port the gateway tasks listen on: the only port the ALB may reach."""
    service_ports: dict[str, int]
    """Backend service name -> its container port; each service gets its own group."""
    https: bool = False
    """Also admit HTTPS (443) from the internet, next to HTTP (80): the load balancer has a certificate."""


@args_class
class AccessLogBucketArgs:
    """A private, encrypted, expiring S3 bucket the ALB may write its access logs to."""

    account_id: pulumi.Input[str]
    """The AWS account of the load balancer: its logs land under AWSLogs/<account>/."""
    region: str
    """The load balancer's region: it decides which principal delivers the logs."""
    prefix: str = "alb"
    """Key prefix of the logs, without leading or trailing '/'."""
    retention_days: int = 90
    """Logs expire after this many days."""
    connection_logs_prefix: str | None = None
    """Key prefix of the ALB's connection logs too, apart from `prefix`; None: access logs only."""


@args_class
class HealthCheckArgs:
    """How the load balancer checks a gateway task (ALB ranges in the field docs)."""

    path: str = HealthCheck.path
    """Path the gateway answers itself on its traffic port."""
    interval_s: int = HealthCheck.interval_s
    """Seconds between checks, 5-300."""
    timeout_s: int = HealthCheck.timeout_s
    """Seconds before one check counts as failed, 2-120."""
    healthy_threshold: int = HealthCheck.healthy_threshold
    """Consecutive successes before a task receives traffic, 2-10."""
    unhealthy_threshold: int = HealthCheck.unhealthy_threshold
    """Consecutive failures before a task leaves the rotation, 2-10."""
    matcher: str = HealthCheck.matcher
    """HTTP status codes that count as healthy: "200", "200-299" or "200,204"."""


@args_class
class AccessLogsArgs:
    """Where the ALB writes its access logs."""

    bucket: pulumi.Input[str]
    """An S3 bucket whose policy lets the ALB write (AccessLogBucket.bucket_name); list the policy
    resource in the LoadBalancer's `opts.depends_on`, since AWS checks it when logging is switched on."""
    prefix: str = "alb"
    """Key prefix of the logs, without leading or trailing '/'."""


@args_class
class LoadBalancerArgs:
    """The internet-facing ALB, the gateway's target group and the listeners."""

    vpc_id: pulumi.Input[str]
    """VPC of the target group."""
    subnet_ids: list[pulumi.Input[str]]
    """Public subnets, one per zone, at least two (an ALB spans at least two zones)."""
    security_group_id: pulumi.Input[str]
    """The ALB's security group (SecurityGroups.alb)."""
    target_port: int
    """Port the gateway tasks listen on: the target group's traffic port."""
    health_check: HealthCheckArgs = field(default_factory=HealthCheckArgs)
    """How the ALB checks each gateway task."""
    algorithm: str = "round_robin"
    """round_robin, least_outstanding_requests or weighted_random (the ALB's own names)."""
    tls_certificate_arn: pulumi.Input[str] | None = None
    """An ACM certificate of the region: HTTPS on 443. None: plain HTTP on 80 (dev only)."""
    http_to_https_redirect: bool = True
    """With a certificate: port 80 redirects to HTTPS (false: it forwards plain HTTP too)."""
    ssl_policy: str = DEFAULT_SSL_POLICY
    """Security policy of the HTTPS listener."""
    desync_mitigation_mode: str = "defensive"
    """HTTP desync mitigation: defensive or strictest."""
    idle_timeout_s: int = 60
    """Idle connection timeout, 1-619 s: below the gateway nginx's 620 s keepalive_timeout, or nginx
    closes connections the ALB is about to reuse (sporadic 502s)."""
    deletion_protection: bool = True
    """Refuse to delete the ALB until this is switched off (non-production opts out)."""
    deregistration_delay_s: int = 30
    """Seconds a draining gateway task keeps serving in-flight requests, 0-3600."""
    slow_start_s: int = 0
    """Ramp-up of a new gateway task: 0 (off) or 30-900 s, round_robin only."""
    access_logs: AccessLogsArgs | None = None
    """Access logs to S3; None: off."""
    connection_logs: AccessLogsArgs | None = None
    """Connection logs (client address and port, TLS protocol and cipher, handshake time) to S3, under a
    prefix of their own; the bucket's policy must let the ALB write there too. None: off."""
    zonal_shift: bool = True
    """ARC zonal shift: traffic can be moved off an impaired zone (a zonal shift starts only on request)."""


@args_class
class WafLoggingArgs:
    """Where the web ACL logs the requests it inspects: a CloudWatch log group, credentials redacted."""

    log_group_name: str
    """The log group to create; AWS WAF logs only to names starting with aws-waf-logs-."""
    retention_days: int = 90
    """Days the log group keeps the logs (a CloudWatch Logs retention value)."""
    redacted_headers: list[str] = field(default_factory=lambda: ["authorization", "cookie"])
    """Request headers, in lowercase, the logs show as REDACTED."""


@args_class
class WebFirewallArgs:
    """A WAFv2 web ACL associated with the ALB: per-IP rate limit and AWS managed rule groups."""

    load_balancer_arn: pulumi.Input[str]
    """The ALB the web ACL protects."""
    description: str | None = None
    """Description of the web ACL."""
    rate_limit_per_5_min: int = 2000
    """Requests per client IP in any 5 minutes before WAF blocks it (10 to 2,000,000,000)."""
    logging: WafLoggingArgs | None = None
    """Log the inspected requests; None: off (the web ACL's sampled requests only)."""


@args_class
class FlowLogsArgs:
    """VPC flow logs to a CloudWatch log group, delivered with a role that may write to that group only."""

    vpc_id: pulumi.Input[str]
    """The VPC whose flows are logged."""
    log_group_name: str
    """The log group to create (each network interface gets a log stream in it)."""
    account_id: pulumi.Input[str]
    """The VPC's account: only its flow logs may assume the delivery role."""
    region: str
    """The VPC's region (the role's trust condition, the log group's ARN)."""
    retention_days: int = 90
    """Days the log group keeps the logs (a CloudWatch Logs retention value)."""
    traffic_type: str = "ALL"
    """ALL, ACCEPT or REJECT."""
    aggregation_interval_s: int = 60
    """60 or 600: the longest a flow is aggregated before its record is written."""


@args_class
class VpcEndpointsArgs:
    """Private paths to AWS services: S3 as a gateway endpoint (free), and interface endpoints (billed per hour
    and zone) with private DNS, so image pulls and logs need neither NAT nor the internet."""

    vpc_id: pulumi.Input[str]
    """The VPC the endpoints belong to (DNS support and DNS host names on, for private DNS)."""
    route_table_ids: list[pulumi.Input[str]]
    """Route tables of the task subnets: the S3 gateway endpoint adds its route to each."""
    subnet_ids: list[pulumi.Input[str]] = field(default_factory=list)
    """Subnets of the interface endpoints, one per zone: the task subnets."""
    client_security_group_ids: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Name (gateway, a service) -> a security group whose tasks may reach the interface endpoints on 443."""
    interface_services: list[str] = field(default_factory=list)
    """AWS services reached through interface endpoints, e.g. ecr.api, ecr.dkr, logs; empty: S3 only."""


@args_class
class EcsClusterArgs:
    """The ECS cluster, its Service Connect namespace and the shared task execution role."""

    account_id: pulumi.Input[str]
    """The AWS account: only its ECS tasks may assume the execution role."""
    region: str
    """The cluster's region: only its ECS tasks may assume the execution role."""
    namespace: str
    """Name of the Cloud Map HTTP namespace Service Connect uses."""
    namespace_description: str | None = None
    """Description of the namespace."""
    container_insights: str = "enabled"
    """CloudWatch Container Insights: enhanced, enabled or disabled."""


@args_class
class DomainArgs:
    """The API's own name: a DNS-validated ACM certificate for it and (Domain.point_at) its alias record."""

    name: str
    """The domain clients use, e.g. api.example.com."""
    hosted_zone: str
    """The public Route 53 hosted zone holding it: its name (example.com, looked up) or its id (Z...)."""


@args_class
class ImageCacheArgs:
    """ECR pull-through cache rules, and what the task execution role needs to pull through them."""

    registries: list[str]
    """Image hosts to cache, one rule each: docker.io, public.ecr.aws, registry.k8s.io, quay.io,
    ghcr.io, registry.gitlab.com (`images.upstreams_used` lists a stack's)."""
    prefix: str
    """ECR repository prefix: each registry's rule caches under <prefix>/<registry> (docker-hub, ...)."""
    execution_role_name: pulumi.Input[str]
    """The ECS task execution role: it gets permission to import images into, and create, the
    rules' repositories (the first pull of an image creates its repository)."""
    account_id: pulumi.Input[str]
    """The account whose private registry caches the images."""
    region: str
    """The registry's region: the stack's."""
    credentials: dict[str, str] = field(default_factory=dict)
    """Image host -> Secrets Manager secret (name or ARN, named ecr-pullthroughcache/...) with its
    username and access token; required for docker.io, ghcr.io and registry.gitlab.com."""


@args_class
class ServiceClusterArgs:
    """The cluster a FargateService runs in (EcsCluster.service_cluster gives all of it)."""

    cluster_arn: pulumi.Input[str]
    """The ECS cluster (arn:...:cluster/<name>; the name is read from it for autoscaling)."""
    namespace_arn: pulumi.Input[str]
    """The Service Connect namespace every service joins."""
    execution_role_arn: pulumi.Input[str]
    """Role ECS pulls images and writes logs with; list its policy attachment in the
    FargateService's `opts.depends_on` so the ECS service waits for it."""
    account_id: pulumi.Input[str]
    """The AWS account: only its ECS tasks may assume the task role."""
    region: str
    """The cluster's region (logs, trust policy)."""


@args_class
class TaskCountRange:
    """How many tasks of one ECS service run: Application Auto Scaling's bounds."""

    min: int
    """At least this many, 1 or more; also the ECS service's initial desired count."""
    max: int
    """At most this many, at least `min`."""


@args_class
class ScalingArgs:
    """Bounds and target-tracking policies of one ECS service."""

    task_count: TaskCountRange
    """Minimum and maximum number of tasks."""
    cpu_target_percent: int = 70
    """Average CPU utilization the CPU policy aims for."""
    request_count_label: pulumi.Input[str] | None = None
    """`<alb arn suffix>/<target group arn suffix>`: also track ALBRequestCountPerTarget. None: CPU only."""
    requests_per_target_per_min: int = 1000
    """Requests per task per minute the request policy aims for (with request_count_label)."""


@args_class
class AutoscalingArgs:
    """Application Auto Scaling for one ECS service."""

    resource_id: pulumi.Input[str]
    """`service/<cluster name>/<service name>`."""
    scaling: ScalingArgs
    """Bounds and policies."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of the scalable target."""


@args_class
class ContainerHealthCheckArgs:
    """ECS's own check of a container (separate from the load balancer's)."""

    command: str
    """A CMD-SHELL command that exits 0 when the program is healthy."""
    interval_s: int = 10
    """Seconds between checks, 5-300."""
    timeout_s: int = 5
    """Seconds before one check counts as failed (ECS allows 2-60; more is cut to 60)."""
    retries: int = 3
    """Consecutive failures before the container is unhealthy, 1-10."""


@args_class
class FargateServiceArgs:
    """One program (the gateway or a backend service) as it runs on Fargate."""

    cluster: ServiceClusterArgs
    """The cluster, namespace and execution role the service uses."""
    subnet_ids: list[pulumi.Input[str]]
    """Private subnets the tasks run in (no public IPs); more than one spreads them over zones."""
    security_group_id: pulumi.Input[str]
    """The tasks' security group."""
    program: str
    """The gateway or the service's name: container name, log stream and Service Connect names."""
    image: pulumi.Input[str]
    """Image reference with a pinned tag or digest (ImageCache.image gives its cached reference)."""
    port: int
    """The container's port."""
    cpu_millicores: int
    """The container's CPU (1000 = 1 vCPU); the task is rounded up to a Fargate size."""
    memory_mib: int
    """The container's memory reservation; its hard limit adds scratch_mib."""
    task_family: str
    """Task definition family (a fixed name dashboards and runbooks can point at)."""
    log_group_name: str
    """CloudWatch log group of the container and its Service Connect proxy."""
    scaling: ScalingArgs
    """Task count bounds and autoscaling policies."""
    scratch_mib: int = 16
    """Size of the in-memory /tmp (the root filesystem is read-only)."""
    log_retention_days: int = 30
    """Days the log group keeps the logs (a CloudWatch Logs retention value)."""
    cpu_architecture: str = "X86_64"
    """X86_64 or ARM64: must match the image."""
    health_check: ContainerHealthCheckArgs | None = None
    """The container health check; None for images without a shell."""
    user: str | None = None
    """"uid:gid" to run as; None keeps the image's USER."""
    environment: dict[str, str] = field(default_factory=dict)
    """Environment variables of the container."""
    entry_point: list[str] | None = None
    """Replaces the image's ENTRYPOINT; None keeps it."""
    command: list[str] | None = None
    """Replaces the image's CMD; None keeps it."""
    discoverable: bool = True
    """Service Connect server (backends) or client only (the gateway)."""
    component: str = "service"
    """Tagged as `component` (gateway or service), like the Kubernetes target's labels; the
    policy pack holds the gateway fleet to its own floor by it."""
    rollback_alarms: list[str] = field(default_factory=list)
    """CloudWatch alarm names: a deployment during which one fires is rolled back (a release that starts and
    passes its health checks but answers 5xx, which the circuit breaker does not catch)."""
    wait_for_steady_state: bool = False
    """`pulumi up` waits until ECS has finished the rollout (and any rollback), instead of returning at once."""
    steady_state_timeout_s: int = 1200
    """...for at most this long."""
    secret_values: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variables whose values stay secret: kept as JSON keys of the service's own Secrets
    Manager secret (named like its task family), passed to the container by ECS as `secrets`."""
    secret_refs: dict[str, str] = field(default_factory=dict)
    """Environment variables read from secrets that exist: a Secrets Manager ARN (optionally with
    :<json-key>::) or an SSM parameter ARN, in the cluster's region."""
    execution_policies: list[pulumi.Input[str]] = field(default_factory=list)
    """With secrets, the service gets an execution role of its own (reading only its secrets): further
    policy documents that role needs, e.g. ImageCache.import_policy."""
    target_group_arn: pulumi.Input[str] | None = None
    """A load balancer target group the tasks register in; list its listeners in `opts.depends_on`
    (ECS refuses a target group no listener attaches to a load balancer yet)."""


@args_class
class MonitoringArgs:
    """A CloudWatch dashboard with the essential metrics, and alarms on the gateway's target group."""

    region: str
    """Region of the metrics and of the dashboard's console link."""
    dashboard_name: str
    """Name of the dashboard (a fixed name runbooks can point at)."""
    load_balancer_arn_suffix: pulumi.Input[str]
    """The ALB's ARN suffix (app/<name>/<id>): the LoadBalancer dimension."""
    target_group_arn_suffix: pulumi.Input[str]
    """The gateway target group's ARN suffix (targetgroup/<name>/<id>): the TargetGroup dimension."""
    cluster_name: pulumi.Input[str]
    """The ECS cluster's name."""
    gateway_service_name: pulumi.Input[str]
    """The gateway fleet's ECS service name."""
    service_names: dict[str, pulumi.Input[str]]
    """Backend service (Service Connect discovery) name -> its ECS service name."""
    alarm_topic_arn: str | None = None
    """SNS topic the alarms notify, on alarm and back to OK; None: they notify nobody."""
    alarm_5xx_percent: int = 5
    """Alarm when gateway 5xx responses exceed this share of requests (3 of 5 minutes)."""
    alarm_p99_ms: int = 1000
    """Alarm when the p99 target response time exceeds this (3 of 5 minutes)."""
    gateway_log_group: pulumi.Input[str] | None = None
    """The gateway's log group: metric filters count its requests, 5xx and times per gateway task (Instance)."""
    minimum_tasks: dict[str, int] = field(default_factory=dict)
    """Program (gateway or a service) -> its autoscaling minimum: alarm when fewer tasks run."""
    zones: dict[str, str] = field(default_factory=dict)
    """Zone key (its letter) -> an availability zone the gateway runs in: alarm when it has no healthy gateway task."""
