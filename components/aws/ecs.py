"""ECS on Fargate: the cluster with its Service Connect namespace, and one reusable
`FargateService` that runs the gateway fleet and every backend service alike.

A FargateService is a task definition (one hardened container), an ECS service in private
subnets without public IPs, its log group, an empty task role and its autoscaling. Service
Connect makes each backend reachable as `<service name>:<port>` from every task in the
namespace; the gateway joins as a client only.
"""
from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from ..gateway.nginx import SERVICE_PROXY_IDLE_S, SERVICE_PROXY_TIMEOUT_S
from .args import AutoscalingArgs, EcsClusterArgs, FargateServiceArgs, ServiceClusterArgs
from .autoscaling import Autoscaling
from .checks import check_cluster, check_fargate_service
from .iam import service_trust_policy
from .options import partition
from .sizing import cpu_units, program_task_size
from .task_secrets import RECOVERY_WINDOW_DAYS, container_secrets, read_policy

PORT_NAME = "http"
SCRATCH_PATH = "/tmp"
CONTAINER_START_PERIOD_S = 30
"""Container health-check failures in a task's first seconds do not count (image warm-up)."""
HEALTH_CHECK_GRACE_S = 60
"""ALB health-check failures of a new gateway task are ignored this long after it starts."""
EXECUTION_POLICY = "iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


def ecs_tasks_trust_policy(region: str, account_id: str) -> str:
    """Only ECS tasks of this account and region may assume the role (confused-deputy guard)."""
    return service_trust_policy("ecs-tasks.amazonaws.com", account_id,
                                f"arn:{partition(region)}:ecs:{region}:{account_id}:*")


class EcsCluster(pulumi.ComponentResource):
    """The cluster, the Cloud Map namespace Service Connect uses and the shared execution role."""

    TYPE = "apigw:aws:Cluster"

    def __init__(self, name: str, args: EcsClusterArgs, opts: pulumi.ResourceOptions | None = None):
        check_cluster(args)
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = aws.servicediscovery.HttpNamespace(
            f"{name}-namespace", name=args.namespace, description=args.namespace_description, opts=child)
        self.cluster = aws.ecs.Cluster(
            f"{name}-ecs", settings=[{"name": "containerInsights", "value": args.container_insights}],
            service_connect_defaults={"namespace": self.namespace.arn}, opts=child)
        # Pulls images and writes logs on the tasks' behalf; the managed policy grants exactly that.
        self.execution_role = aws.iam.Role(
            f"{name}-execution", description="ECS task execution: image pulls and CloudWatch Logs",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: ecs_tasks_trust_policy(args.region, account)),
            opts=child)
        self.execution_policy = aws.iam.RolePolicyAttachment(
            f"{name}-execution", role=self.execution_role.name,
            policy_arn=f"arn:{partition(args.region)}:{EXECUTION_POLICY}", opts=child)
        # What each FargateService needs of the cluster; its ECS service must also wait for
        # `execution_policy` (through its opts.depends_on).
        self.service_cluster = ServiceClusterArgs(
            cluster_arn=self.cluster.arn, namespace_arn=self.namespace.arn,
            execution_role_arn=self.execution_role.arn, account_id=args.account_id, region=args.region)
        self.register_outputs({"cluster": self.cluster.name, "namespace": self.namespace.name})


def container_definition(args: FargateServiceArgs, image: str, log_group: str, region: str,
                         secrets: list[dict] | None = None) -> dict:
    """The container in ECS's own field names, so what a reviewer reads is what ECS shows; `image`
    is args.image resolved (a cached image's reference names the account); `secrets` ECS's references
    to the secret settings (task_secrets.container_secrets), never their values."""
    container: dict = {
        "name": args.program,
        "image": image,
        "essential": True,
        "cpu": cpu_units(args.cpu_millicores),
        # Hard limit includes the tmpfs: its pages are charged to the container.
        "memory": args.memory_mib + args.scratch_mib,
        "memoryReservation": args.memory_mib,
        "portMappings": [{"name": PORT_NAME, "containerPort": args.port, "protocol": "tcp", "appProtocol": "http"}],
        "environment": [{"name": k, "value": v} for k, v in sorted(args.environment.items())],
        "readonlyRootFilesystem": True,
        "linuxParameters": {
            "initProcessEnabled": True,  # reaps zombies and forwards SIGTERM for a clean drain
            "capabilities": {"drop": ["ALL"]},
            # Fargate accepts tmpfs since 2026-01-06 (AWS What's New "amazon-ecs-tmpfs-mounts-aws-
            # fargate-managed-instances"; aws/containers-roadmap#736, Shipped). Older ECS pages still
            # say "not supported on Fargate": they predate it. Announced for commercial regions; not
            # verified for GovCloud/China. A tmpfs is mode 1777, so uids 101/65532 can write it, unlike
            # a task `volume` bind mount, which Fargate creates root-owned (containers-roadmap#938).
            "tmpfs": [{"containerPath": SCRATCH_PATH, "size": args.scratch_mib,
                       "mountOptions": ["nosuid", "nodev", "noexec"]}],
        },
        "logConfiguration": {
            "logDriver": "awslogs",
            # non-blocking: when CloudWatch Logs throttles, lines are dropped from a bounded
            # buffer instead of stalling the program's writes (and its requests).
            "options": {"awslogs-group": log_group, "awslogs-region": region,
                        "awslogs-stream-prefix": args.program, "mode": "non-blocking", "max-buffer-size": "4m"},
        },
    }
    if secrets:
        container["secrets"] = secrets
    if args.user is not None:
        container["user"] = args.user
    if args.entry_point is not None:
        container["entryPoint"] = args.entry_point
    if args.command is not None:
        container["command"] = args.command
    check = args.health_check
    if check is not None:
        container["healthCheck"] = {
            "command": ["CMD-SHELL", check.command],
            "interval": check.interval_s,
            "timeout": min(check.timeout_s, 60),  # ECS allows 2-60 s
            "retries": check.retries,
            "startPeriod": CONTAINER_START_PERIOD_S,
        }
    return container


class FargateService(pulumi.ComponentResource):
    TYPE = "apigw:aws:FargateService"

    def __init__(self, name: str, args: FargateServiceArgs, opts: pulumi.ResourceOptions | None = None):
        """`opts.depends_on`: what the ECS service itself must wait for, e.g. the execution role's
        policy, the listeners of its target group (a component's dependencies do not pass to its
        children)."""
        check_fargate_service(args)
        super().__init__(self.TYPE, name, None, opts)
        cluster = args.cluster
        child = pulumi.ResourceOptions(parent=self)
        tags = {"app": args.program, "component": args.component}
        log_group_name = args.log_group_name
        self.log_group = aws.cloudwatch.LogGroup(f"{name}-logs", name=log_group_name,
                                                 retention_in_days=args.log_retention_days, opts=child)
        # The programs call no AWS APIs: their role has no permissions at all.
        self.task_role = aws.iam.Role(
            f"{name}-task", description=f"{args.program} tasks: no AWS permissions",
            assume_role_policy=pulumi.Output.from_input(cluster.account_id).apply(
                lambda account: ecs_tasks_trust_policy(cluster.region, account)),
            opts=child)
        self.secret, self.execution_role_arn, self.execution_ready = None, cluster.execution_role_arn, []
        if args.secret_values or args.secret_refs:
            self._own_secrets(name, args, child)
        task_cpu, task_memory = program_task_size(args.cpu_millicores, args.memory_mib, args.scratch_mib)
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=args.task_family,
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(task_cpu),
            memory=str(task_memory),
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": args.cpu_architecture},
            execution_role_arn=self.execution_role_arn,
            task_role_arn=self.task_role.arn,
            container_definitions=pulumi.Output.all(args.image, self.secret.arn if self.secret else None).apply(
                lambda resolved: json.dumps([container_definition(
                    args, resolved[0], log_group_name, cluster.region,
                    container_secrets(resolved[1], list(args.secret_values), dict(args.secret_refs)))])),
            tags=tags,
            opts=child,
        )
        service_connect: dict = {
            "enabled": True,
            "namespace": cluster.namespace_arn,
            "log_configuration": {"log_driver": "awslogs", "options": {
                "awslogs-group": log_group_name, "awslogs-region": cluster.region,
                "awslogs-stream-prefix": "service-connect"}},
        }
        if args.discoverable:
            service_connect["services"] = [{
                "port_name": PORT_NAME, "discovery_name": args.program,
                "client_alias": [{"dns_name": args.program, "port": args.port}],
                # Service Connect's proxy cuts requests at 15 s by default, while the gateway waits 30 s.
                "timeout": {"per_request_timeout_seconds": SERVICE_PROXY_TIMEOUT_S,
                            "idle_timeout_seconds": SERVICE_PROXY_IDLE_S}}]
        load_balancers = None
        if args.target_group_arn is not None:
            load_balancers = [{"target_group_arn": args.target_group_arn, "container_name": args.program,
                               "container_port": args.port}]
        spread = len(args.subnet_ids) > 1
        self.service = aws.ecs.Service(
            f"{name}-service",
            cluster=cluster.cluster_arn,
            task_definition=self.task_definition.arn,
            launch_type="FARGATE",
            platform_version="LATEST",
            # Application Auto Scaling owns the count after creation; ignoring it below keeps a
            # later `pulumi up` from scaling a busy fleet back down to its minimum.
            desired_count=args.scaling.task_count.min,
            deployment_minimum_healthy_percent=100,  # never below the running count during a rollout
            deployment_maximum_percent=200,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            network_configuration={"subnets": args.subnet_ids, "security_groups": [args.security_group_id],
                                   "assign_public_ip": False},
            load_balancers=load_balancers,
            health_check_grace_period_seconds=HEALTH_CHECK_GRACE_S if load_balancers else None,
            service_connect_configuration=service_connect,
            alarms=({"alarm_names": list(args.rollback_alarms), "enable": True, "rollback": True}
                    if args.rollback_alarms else None),
            wait_for_steady_state=args.wait_for_steady_state,
            availability_zone_rebalancing="ENABLED" if spread else "DISABLED",
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            enable_execute_command=False,
            tags=tags,
            opts=pulumi.ResourceOptions.merge(
                pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                    ignore_changes=["desired_count"], depends_on=[self.log_group, *self.execution_ready],
                    custom_timeouts=pulumi.CustomTimeouts(create=f"{-(-args.steady_state_timeout_s // 60)}m",
                                                          update=f"{-(-args.steady_state_timeout_s // 60)}m")
                    if args.wait_for_steady_state else None)),
                pulumi.ResourceOptions(depends_on=opts.depends_on if opts else None)),
        )
        self.service_name = self.service.name
        # The cluster's name is the last part of its ARN (arn:<partition>:ecs:<region>:<account>:cluster/<name>).
        cluster_name = pulumi.Output.from_input(cluster.cluster_arn).apply(lambda arn: arn.rsplit("/", 1)[-1])
        self.autoscaling = Autoscaling(
            f"{name}-scaling", AutoscalingArgs(
                resource_id=pulumi.Output.concat("service/", cluster_name, "/", self.service.name),
                scaling=args.scaling, tags=tags),
            opts=child)
        self.register_outputs({"service": self.service.name, "log_group": self.log_group.name})

    def _own_secrets(self, name: str, args: FargateServiceArgs, child: pulumi.ResourceOptions) -> None:
        """The service's Secrets Manager secret (its values as JSON keys) and an execution role that may
        read its secrets and no other service's (components/aws/task_secrets.py)."""
        cluster = args.cluster
        if args.secret_values:
            self.secret = aws.secretsmanager.Secret(
                f"{name}-secrets", name=args.task_family, recovery_window_in_days=RECOVERY_WINDOW_DAYS,
                description=f"{args.program}: its secret settings (environment variables)", opts=child)
            self.secret_version = aws.secretsmanager.SecretVersion(
                f"{name}-secrets", secret_id=self.secret.id,
                secret_string=pulumi.Output.secret(pulumi.Output.all(**args.secret_values).apply(
                    lambda values: json.dumps(dict(sorted(values.items()))))),
                opts=child)
        self.execution_role = aws.iam.Role(
            f"{name}-execution", description=f"{args.program} tasks' execution: image pulls, logs and its own secrets",
            assume_role_policy=pulumi.Output.from_input(cluster.account_id).apply(
                lambda account: ecs_tasks_trust_policy(cluster.region, account)),
            opts=child)
        # The ECS service waits for these (execution_ready): its first tasks pull and read with this role.
        self.execution_ready = [
            aws.iam.RolePolicyAttachment(f"{name}-execution", role=self.execution_role.name,
                                         policy_arn=f"arn:{partition(cluster.region)}:{EXECUTION_POLICY}", opts=child),
            aws.iam.RolePolicy(
                f"{name}-secrets-read", role=self.execution_role.name,
                policy=pulumi.Output.from_input(self.secret.arn if self.secret else None).apply(
                    lambda arn: read_policy(arn, dict(args.secret_refs))),
                opts=child),
            *(aws.iam.RolePolicy(f"{name}-execution-{i}", role=self.execution_role.name, policy=document, opts=child)
              for i, document in enumerate(args.execution_policies)),
        ]
        self.execution_role_arn = self.execution_role.arn
