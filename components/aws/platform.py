"""The AWS target: ALB -> ECS Fargate gateway fleet -> ECS Fargate services over Service Connect.

`build(spec)` is what infra/program.py calls; it returns the stack outputs.
"""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.aws.access_logs import AccessLogBucket
from components.aws.autoscaling import ScalingArgs
from components.aws.ecs import EcsCluster, FargateService, FargateServiceArgs, ServiceContext
from components.aws.gateway import (BOOT_COMMAND, CONFIG_ENV, ENTRY_POINT, container_user, encoded_config,
                                    health_check_command)
from components.aws.load_balancer import LoadBalancer
from components.aws.monitoring import Monitoring
from components.aws.network import Network, SecurityGroups, select_zones
from components.aws.options import GATEWAY_PROGRAM, AwsOptions
from components.aws.sizing import GATEWAY_SCRATCH_MIB, SERVICE_SCRATCH_MIB
from components.aws.waf import WebFirewall
from components.spec import StackSpec

# Zones in the "available" state that need no opt-in: regular zones, not Local or Wavelength ones.
ZONE_FILTERS = [{"name": "opt-in-status", "values": ["opt-in-not-required"]}]


class Platform(pulumi.ComponentResource):
    TYPE = "apigw:aws:Platform"

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        options: AwsOptions = spec.options
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        available = aws.get_availability_zones(state="available", filters=ZONE_FILTERS, region=spec.region,
                                               opts=invoke).names
        zones = select_zones(list(available), spec.region, options.zones)
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        self.network = Network(f"{name}-network", spec, zones, opts=child)
        self.security_groups = SecurityGroups(f"{name}-sg", spec, self.network.vpc.id, opts=child)

        bucket_name, logs_ready = None, []
        if options.access_logs and options.access_logs_bucket:
            bucket_name = options.access_logs_bucket  # an existing bucket: its policy is its owner's job
        elif options.access_logs:
            logs = AccessLogBucket(f"{name}-access-logs", spec, account_id, opts=child)
            bucket_name, logs_ready = logs.bucket_name, [logs.policy]
        self.load_balancer = LoadBalancer(
            f"{name}-lb", spec, self.network.vpc.id, self.network.public_subnet_ids, self.security_groups.alb.id,
            access_logs_bucket=bucket_name, access_logs_ready=logs_ready, opts=child)
        alb, target_group = self.load_balancer.alb, self.load_balancer.target_group
        self.firewall = WebFirewall(f"{name}-waf", spec, alb.arn, opts=child) if options.waf else None

        self.cluster = EcsCluster(f"{name}-cluster", spec, account_id, opts=child)
        ctx = ServiceContext(spec, self.cluster, self.network.task_subnet_ids, f"{spec.project}-{pulumi.get_stack()}")
        health = spec.load_balancer.health_check
        self.services = {
            s.name: FargateService(f"{name}-{s.name}", ctx, FargateServiceArgs(
                program=s.name, image=s.image, port=s.port, cpu_millicores=s.cpu_millicores,
                memory_mib=s.memory_mib, scratch_mib=SERVICE_SCRATCH_MIB, health=health,
                health_check_command=health_check_command(options, s.name, s.port, s.health_check_path),
                user=container_user(options, s.name), security_group_id=self.security_groups.services[s.name].id,
                scaling=ScalingArgs(s.instances, options.cpu_target_percent), environment=s.environment,
            ), opts=child)
            for s in spec.services
        }
        gateway = spec.gateway
        self.gateway = FargateService(f"{name}-{GATEWAY_PROGRAM}", ctx, FargateServiceArgs(
            program=GATEWAY_PROGRAM, image=gateway.image, port=gateway.port,
            cpu_millicores=gateway.cpu_millicores, memory_mib=gateway.memory_mib, scratch_mib=GATEWAY_SCRATCH_MIB,
            health=health,
            health_check_command=health_check_command(options, GATEWAY_PROGRAM, gateway.port,
                                                      gateway.health_check_path),
            user=container_user(options, GATEWAY_PROGRAM), security_group_id=self.security_groups.gateway.id,
            scaling=ScalingArgs(gateway.instances, options.cpu_target_percent,
                                request_count_label=pulumi.Output.concat(alb.arn_suffix, "/", target_group.arn_suffix),
                                requests_per_target=options.requests_per_target),
            environment={CONFIG_ENV: encoded_config(spec)}, entry_point=ENTRY_POINT, command=[BOOT_COMMAND],
            discoverable=False, target_group_arn=target_group.arn, component="gateway",
        ), depends_on=[
            # nginx resolves its upstream names once, at start: Service Connect only gives a task
            # the names of services that exist in the namespace when the task starts.
            *(svc.service for svc in self.services.values()),
            # ECS refuses a target group that no listener attaches to a load balancer yet.
            *self.load_balancer.listeners,
        ], opts=child)

        self.monitoring = None
        if spec.monitoring.enabled:
            self.monitoring = Monitoring(
                f"{name}-monitoring", spec, f"{spec.project}-{pulumi.get_stack()}", alb.arn_suffix,
                target_group.arn_suffix, self.cluster.cluster.name, self.gateway.service.name,
                {n: svc.service.name for n, svc in self.services.items()}, opts=child)
        self.register_outputs({"load_balancer_dns_name": alb.dns_name})


def default_tags(spec: StackSpec) -> dict[str, str]:
    return {**spec.labels, "project": spec.project, "phase": spec.phase, "stack": pulumi.get_stack(),
            "managed-by": "pulumi"}


def build(spec: StackSpec) -> dict:
    # An explicit provider: the region comes from the validated spec (one source of truth, no
    # separate aws:region to forget) and every resource gets the stack's tags.
    provider = aws.Provider(f"{spec.project}-aws", region=spec.region,
                            default_tags={"tags": default_tags(spec)})
    platform = Platform(spec.project, spec, opts=pulumi.ResourceOptions(providers=[provider]))
    lb = platform.load_balancer
    outputs: dict = {
        "load_balancer_dns_name": lb.alb.dns_name,
        "url": lb.url,
        "cluster": platform.cluster.cluster.name,
        "service_connect_namespace": platform.cluster.namespace.name,
    }
    if platform.monitoring is not None:
        outputs["dashboard_url"] = platform.monitoring.dashboard_url
    if lb.plain_http:
        message = ("serves plain HTTP: no load_balancer.tls_certificate (fine for dev only)"
                   if not spec.load_balancer.tls_certificate
                   else "also serves plain HTTP on port 80: load_balancer.http_to_https_redirect is false")
        outputs["warning"] = message
        pulumi.log.warn(f"{spec.project}: the load balancer {message}")
    return outputs
