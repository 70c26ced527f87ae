"""The AWS target: ALB -> ECS Fargate gateway fleet -> ECS Fargate services over Service Connect.

`build(spec)` is what infra/program.py calls; it returns the stack outputs. It is the one place
that reads the stack spec (and its AwsOptions): it maps them to each component's Args and builds
the components under one `apigw:aws:Platform` named after the project.
"""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from ..spec import StackSpec, platform_tags
from .access_logs import AccessLogBucket
from .additions import connection_logs, connection_logs_prefix, gateway_zones, network_additions, waf_logging
from .args import (
    AccessLogBucketArgs,
    AccessLogsArgs,
    ContainerHealthCheckArgs,
    DomainArgs,
    EcsClusterArgs,
    FargateServiceArgs,
    HealthCheckArgs,
    ImageCacheArgs,
    LoadBalancerArgs,
    MonitoringArgs,
    NetworkArgs,
    ScalingArgs,
    SecurityGroupsArgs,
    TaskCountRange,
    WebFirewallArgs,
)
from .dns import Domain
from .domain import serves_tls
from .ecs import HEALTH_CHECK_GRACE_S, EcsCluster, FargateService
from .gateway import BOOT_COMMAND, CONFIG_ENV, ENTRY_POINT, container_user, encoded_config, health_check_command
from .image_cache import ImageCache
from .images import upstreams_used
from .load_balancer import LoadBalancer
from .monitoring import Monitoring, rollback_alarm_names
from .network import Network, SecurityGroups, select_zones
from .options import GATEWAY_PROGRAM, AwsOptions, steady_state_timeout_s
from .sizing import GATEWAY_SCRATCH_MIB, SERVICE_SCRATCH_MIB
from .waf import WebFirewall

# Zones in the "available" state that need no opt-in: regular zones, not Local or Wavelength ones.
ZONE_FILTERS = [{"name": "opt-in-status", "values": ["opt-in-not-required"]}]


class Platform(pulumi.ComponentResource):
    """Groups one stack's AWS components (`build` creates them under it); it carries the
    stack's provider to all of them."""

    TYPE = "apigw:aws:Platform"

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)


def default_tags(spec: StackSpec) -> dict[str, str]:
    return platform_tags(spec, pulumi.get_stack())


def load_balancer_args(spec: StackSpec, vpc_id: pulumi.Input[str], subnet_ids: list[pulumi.Input[str]],
                       security_group_id: pulumi.Input[str], access_logs_bucket: pulumi.Input[str] | None,
                       certificate_arn: pulumi.Input[str] | None = None) -> LoadBalancerArgs:
    """`certificate_arn`: the stack's own domain certificate (aws.domain), else load_balancer.tls_certificate."""
    options: AwsOptions = spec.options
    lb, hc = spec.load_balancer, spec.load_balancer.health_check
    return LoadBalancerArgs(
        vpc_id=vpc_id, subnet_ids=subnet_ids, security_group_id=security_group_id, target_port=spec.gateway.port,
        health_check=HealthCheckArgs(path=hc.path, interval_s=hc.interval_s, timeout_s=hc.timeout_s,
                                     healthy_threshold=hc.healthy_threshold,
                                     unhealthy_threshold=hc.unhealthy_threshold, matcher=hc.matcher),
        algorithm=lb.algorithm, tls_certificate_arn=certificate_arn or lb.tls_certificate or None,
        http_to_https_redirect=lb.http_to_https_redirect, ssl_policy=options.ssl_policy,
        desync_mitigation_mode=options.desync_mitigation_mode, idle_timeout_s=options.idle_timeout_s,
        deletion_protection=options.deletion_protection, deregistration_delay_s=options.deregistration_delay_s,
        slow_start_s=options.slow_start_s,
        access_logs=(AccessLogsArgs(bucket=access_logs_bucket, prefix=options.access_logs_prefix)
                     if access_logs_bucket is not None else None),
        connection_logs=connection_logs(spec, access_logs_bucket), zonal_shift=options.additions.zonal_shift,
    )


def release_safety(spec: StackSpec, prefix: str, program: str) -> dict:
    """How a rollout of `program` is watched: rolled back on its 5xx alarm, and waited for."""
    options: AwsOptions = spec.options
    alarms = rollback_alarm_names(prefix, [s.name for s in spec.services]) if spec.monitoring.enabled else {}
    return {"rollback_alarms": alarms.get(program, []), "wait_for_steady_state": options.wait_for_steady_state,
            "steady_state_timeout_s": steady_state_timeout_s(spec, options, HEALTH_CHECK_GRACE_S)}


def secret_args(service, cache: ImageCache | None) -> dict:
    """A service's secret settings as FargateServiceArgs fields (values into its own secret, ARNs as they are);
    a service with secrets pulls with its own execution role, which then needs the image cache's policy too."""
    if not service.secrets:
        return {}
    return {"secret_values": {k: s.value for k, s in service.secrets.items() if s.value is not None},
            "secret_refs": {k: s.ref for k, s in service.secrets.items() if s.ref is not None},
            "execution_policies": [cache.import_policy] if cache else []}


def fargate_args(spec: StackSpec, prefix: str, cluster: EcsCluster, cache: ImageCache | None,
                 subnet_ids: list[pulumi.Input[str]], security_group_id: pulumi.Input[str], name: str, program,
                 scaling: ScalingArgs, scratch_mib: int, **extra) -> FargateServiceArgs:
    """`program` (spec.gateway or a spec service) named `name` as FargateServiceArgs, its image pulled
    through `cache` when there is one; `extra` sets the fields that differ between the gateway and the
    services."""
    options: AwsOptions = spec.options
    hc = spec.load_balancer.health_check
    command = health_check_command(options, name, program.port, program.health_check_path)
    return FargateServiceArgs(
        cluster=cluster.service_cluster, subnet_ids=subnet_ids, security_group_id=security_group_id,
        program=name, image=cache.image(program.image) if cache else program.image, port=program.port,
        cpu_millicores=program.cpu_millicores,
        memory_mib=program.memory_mib, task_family=f"{prefix}-{name}", log_group_name=f"/ecs/{prefix}/{name}",
        scaling=scaling, scratch_mib=scratch_mib, log_retention_days=options.log_retention_days,
        cpu_architecture=options.cpu_architecture,
        health_check=(ContainerHealthCheckArgs(command=command, interval_s=hc.interval_s, timeout_s=hc.timeout_s,
                                               retries=hc.unhealthy_threshold) if command is not None else None),
        user=container_user(options, name), **release_safety(spec, prefix, name), **extra)


def build(spec: StackSpec) -> dict:
    options: AwsOptions = spec.options
    name = spec.project
    # An explicit provider: the region comes from the validated spec (one source of truth, no
    # separate aws:region to forget) and every resource gets the stack's tags.
    provider = aws.Provider(f"{spec.project}-aws", region=spec.region,
                            default_tags={"tags": default_tags(spec)})
    platform = Platform(name, opts=pulumi.ResourceOptions(providers=[provider]))
    child = pulumi.ResourceOptions(parent=platform)
    available = aws.get_availability_zones(state="available", filters=ZONE_FILTERS, region=spec.region,
                                           opts=pulumi.InvokeOptions(parent=platform)).names
    zones = select_zones(list(available), spec.region, options.zones)
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=platform)).account_id
    # <project>-<stack>, e.g. apigw-aws-prod: task families are <prefix>-<program>, log groups
    # /ecs/<prefix>/<program> (fixed names, so dashboards and runbooks can point at them).
    prefix = f"{spec.project}-{pulumi.get_stack()}"

    if options.vpc_id:   # handed out by the platform team: its subnets, routes and NAT
        network = None
        vpc_id, public_subnet_ids = options.vpc_id, list(options.public_subnet_ids)
        task_subnet_ids = list(options.private_subnet_ids[:1] if options.task_zones == "one"
                               else options.private_subnet_ids)
    else:
        network = Network(f"{name}-network", NetworkArgs(
            zones=zones, vpc_cidr=options.vpc_cidr, nat_gateways=options.nat_gateways, task_zones=options.task_zones),
            opts=child)
        vpc_id, public_subnet_ids, task_subnet_ids = network.vpc.id, network.public_subnet_ids, network.task_subnet_ids
    groups = SecurityGroups(f"{name}-sg", SecurityGroupsArgs(
        vpc_id=vpc_id, gateway_port=spec.gateway.port, service_ports={s.name: s.port for s in spec.services},
        https=serves_tls(spec)), opts=child)
    network_additions(spec, name, prefix, vpc_id, network, groups, account_id, child)  # VPC endpoints, flow logs

    bucket_name, logs_ready = None, []
    if options.access_logs and options.access_logs_bucket:
        bucket_name = options.access_logs_bucket  # an existing bucket: its policy is its owner's job
    elif options.access_logs:
        logs = AccessLogBucket(f"{name}-access-logs", AccessLogBucketArgs(
            account_id=account_id, region=spec.region, prefix=options.access_logs_prefix,
            retention_days=options.access_logs_retention_days, connection_logs_prefix=connection_logs_prefix(spec)),
            opts=child)
        bucket_name, logs_ready = logs.bucket_name, [logs.policy]
    domain = Domain(f"{name}-domain", DomainArgs(name=options.domain, hosted_zone=options.hosted_zone),
                    opts=child) if options.domain else None
    lb = LoadBalancer(f"{name}-lb", load_balancer_args(spec, vpc_id, public_subnet_ids, groups.alb.id, bucket_name,
                                                        domain.certificate_arn if domain else None),
                      opts=pulumi.ResourceOptions(parent=platform, depends_on=logs_ready))
    alb, target_group = lb.alb, lb.target_group
    if domain:
        domain.point_at(alb.dns_name, alb.zone_id)
    if options.waf:
        WebFirewall(f"{name}-waf", WebFirewallArgs(
            load_balancer_arn=alb.arn, description=f"{spec.project} {spec.phase}: API load balancer",
            rate_limit_per_5_min=options.waf_rate_limit, logging=waf_logging(spec, prefix)), opts=child)

    cluster = EcsCluster(f"{name}-cluster", EcsClusterArgs(
        account_id=account_id, region=spec.region, namespace=options.service_connect_namespace,
        namespace_description=f"{spec.project} {spec.phase}: ECS Service Connect",
        container_insights=options.container_insights), opts=child)
    cache = None
    if options.image_cache:
        cache = ImageCache(f"{name}-images", ImageCacheArgs(
            registries=upstreams_used([spec.gateway.image, *(s.image for s in spec.services)]),
            prefix=options.image_cache_prefix, credentials=options.image_cache_credentials,
            execution_role_name=cluster.execution_role.name, account_id=account_id, region=spec.region), opts=child)
    # Tasks start only once they can pull: the execution role's policies (and the cache rules) exist.
    pull_ready = [cluster.execution_policy, *(cache.ready if cache else [])]
    in_cluster = pulumi.ResourceOptions(parent=platform, depends_on=pull_ready)
    subnet_ids = task_subnet_ids
    services = {
        s.name: FargateService(f"{name}-{s.name}", fargate_args(
            spec, prefix, cluster, cache, subnet_ids, groups.services[s.name].id, s.name, s,
            ScalingArgs(TaskCountRange(s.instances.min, s.instances.max), options.cpu_target_percent),
            SERVICE_SCRATCH_MIB, environment=s.environment, **secret_args(s, cache)), opts=in_cluster)
        for s in spec.services
    }
    gateway = spec.gateway
    gateway_service = FargateService(f"{name}-{GATEWAY_PROGRAM}", fargate_args(
        spec, prefix, cluster, cache, subnet_ids, groups.gateway.id, GATEWAY_PROGRAM, gateway,
        ScalingArgs(TaskCountRange(gateway.instances.min, gateway.instances.max), options.cpu_target_percent,
                    request_count_label=pulumi.Output.concat(alb.arn_suffix, "/", target_group.arn_suffix),
                    requests_per_target_per_min=options.requests_per_target),
        GATEWAY_SCRATCH_MIB, environment={CONFIG_ENV: encoded_config(spec)},
        entry_point=ENTRY_POINT, command=[BOOT_COMMAND], discoverable=False, target_group_arn=target_group.arn,
        component="gateway",
    ), opts=pulumi.ResourceOptions(parent=platform, depends_on=[
        *pull_ready,
        # nginx resolves its upstream names once, at start: Service Connect only gives a task
        # the names of services that exist in the namespace when the task starts.
        *(svc.service for svc in services.values()),
        # ECS refuses a target group that no listener attaches to a load balancer yet.
        *lb.listeners,
    ]))

    monitoring = None
    if spec.monitoring.enabled:
        monitoring = Monitoring(f"{name}-monitoring", MonitoringArgs(
            region=spec.region, dashboard_name=prefix,
            load_balancer_arn_suffix=alb.arn_suffix, target_group_arn_suffix=target_group.arn_suffix,
            cluster_name=cluster.cluster.name, gateway_service_name=gateway_service.service.name,
            service_names={n: svc.service.name for n, svc in services.items()},
            alarm_topic_arn=spec.monitoring.alarm_topic, alarm_5xx_percent=options.alarm_5xx_percent,
            alarm_p99_ms=options.alarm_p99_ms, gateway_log_group=gateway_service.log_group.name,
            minimum_tasks={GATEWAY_PROGRAM: gateway.instances.min, **{s.name: s.instances.min for s in spec.services}},
            zones=gateway_zones(spec, network, platform)),
            opts=child)
    platform.register_outputs({"load_balancer_dns_name": alb.dns_name})

    outputs: dict = {
        "load_balancer_dns_name": alb.dns_name,
        "url": f"https://{options.domain}" if domain else lb.url,
        "cluster": cluster.cluster.name,
        "service_connect_namespace": cluster.namespace.name,
    }
    if monitoring is not None:
        outputs["dashboard_url"] = monitoring.dashboard_url
    if lb.plain_http:
        message = ("serves plain HTTP: no load_balancer.tls_certificate (fine for dev only)"
                   if not serves_tls(spec)
                   else "also serves plain HTTP on port 80: load_balancer.http_to_https_redirect is false")
        outputs["warning"] = message
        pulumi.log.warn(f"{spec.project}: the load balancer {message}")
    return outputs
