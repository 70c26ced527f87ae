"""Application Auto Scaling for one ECS service: bounds from `instances`, target tracking policies.

ECS's desired count belongs to Application Auto Scaling once this exists; the service ignores
later changes to it (see ecs.FargateService), so `pulumi up` never fights a scale-out.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.spec import Instances

# Scale out quickly, scale in slowly: a too-eager scale-in during a lull costs a cold start
# (image pull, Service Connect registration, ALB health checks) when traffic returns.
SCALE_OUT_COOLDOWN_S = 60
SCALE_IN_COOLDOWN_S = 300


@dataclass(frozen=True)
class ScalingArgs:
    instances: Instances
    cpu_target_percent: int
    request_count_label: pulumi.Input[str] | None = None
    """`<alb arn suffix>/<target group arn suffix>`: also track ALBRequestCountPerTarget."""
    requests_per_target: int = 1000


def _tracking(metric: str, target: float, resource_label: pulumi.Input[str] | None = None) -> dict:
    spec: dict = {"predefined_metric_type": metric}
    if resource_label is not None:
        spec["resource_label"] = resource_label
    return {"predefined_metric_specification": spec, "target_value": target,
            "scale_in_cooldown": SCALE_IN_COOLDOWN_S, "scale_out_cooldown": SCALE_OUT_COOLDOWN_S}


class Autoscaling(pulumi.ComponentResource):
    TYPE = "apigw:aws:Autoscaling"

    def __init__(self, name: str, project: str, resource_id: pulumi.Input[str], args: ScalingArgs,
                 tags: dict[str, str] | None = None, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.target = aws.appautoscaling.Target(
            f"{name}-target", service_namespace="ecs", scalable_dimension="ecs:service:DesiredCount",
            resource_id=resource_id, min_capacity=args.instances.min, max_capacity=args.instances.max, tags=tags,
            opts=child)

        def policy(key: str, configuration: dict) -> aws.appautoscaling.Policy:
            return aws.appautoscaling.Policy(
                f"{name}-{key}", policy_type="TargetTrackingScaling", resource_id=self.target.resource_id,
                scalable_dimension=self.target.scalable_dimension, service_namespace=self.target.service_namespace,
                target_tracking_scaling_policy_configuration=configuration, opts=child)

        self.policies = [policy("cpu", _tracking("ECSServiceAverageCPUUtilization", args.cpu_target_percent))]
        if args.request_count_label is not None:
            self.policies.append(policy("requests", _tracking("ALBRequestCountPerTarget", args.requests_per_target,
                                                              args.request_count_label)))
        self.register_outputs({"min": args.instances.min, "max": args.instances.max})
