"""Application Auto Scaling for one ECS service: bounds from `task_count`, target tracking policies.

ECS's desired count belongs to Application Auto Scaling once this exists; the service ignores
later changes to it (see ecs.FargateService), so `pulumi up` never fights a scale-out.
"""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .args import AutoscalingArgs
from .checks import check_autoscaling

# Scale out quickly, scale in slowly: a too-eager scale-in during a lull costs a cold start
# (image pull, Service Connect registration, ALB health checks) when traffic returns.
SCALE_OUT_COOLDOWN_S = 60
SCALE_IN_COOLDOWN_S = 300


def _tracking(metric: str, target: float, resource_label: pulumi.Input[str] | None = None) -> dict:
    spec: dict = {"predefined_metric_type": metric}
    if resource_label is not None:
        spec["resource_label"] = resource_label
    return {"predefined_metric_specification": spec, "target_value": target,
            "scale_in_cooldown": SCALE_IN_COOLDOWN_S, "scale_out_cooldown": SCALE_OUT_COOLDOWN_S}


class Autoscaling(pulumi.ComponentResource):
    TYPE = "apigw:aws:Autoscaling"

    def __init__(self, name: str, args: AutoscalingArgs, opts: pulumi.ResourceOptions | None = None):
        check_autoscaling(args)
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        scaling = args.scaling
        self.target = aws.appautoscaling.Target(
            f"{name}-target", service_namespace="ecs", scalable_dimension="ecs:service:DesiredCount",
            resource_id=args.resource_id, min_capacity=scaling.task_count.min, max_capacity=scaling.task_count.max,
            tags=args.tags or None, opts=child)

        def policy(key: str, configuration: dict) -> aws.appautoscaling.Policy:
            return aws.appautoscaling.Policy(
                f"{name}-{key}", policy_type="TargetTrackingScaling", resource_id=self.target.resource_id,
                scalable_dimension=self.target.scalable_dimension, service_namespace=self.target.service_namespace,
                target_tracking_scaling_policy_configuration=configuration, opts=child)

        self.policies = [policy("cpu", _tracking("ECSServiceAverageCPUUtilization", scaling.cpu_target_percent))]
        if scaling.request_count_label is not None:
            self.policies.append(policy("requests", _tracking(
                "ALBRequestCountPerTarget", scaling.requests_per_target_per_min, scaling.request_count_label)))
        self.register_outputs({"min": scaling.task_count.min, "max": scaling.task_count.max})
