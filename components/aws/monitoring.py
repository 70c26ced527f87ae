"""CloudWatch: a dashboard with the reference's essential metrics, and alarms to an SNS topic.

The reference asks for request distribution per instance, response times, error rates,
resource utilisation and health-check success. The gateway's side comes from the ALB target
group; each backend's from Service Connect (AWS/ECS, per discovery name), as the gateway sees it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .args import MonitoringArgs

PERIOD_S = 60


@dataclass(frozen=True)
class MetricNames:
    """The plain names the dashboard needs, once the resources exist."""

    region: str
    load_balancer: str
    """The ALB's ARN suffix (app/<name>/<id>): the LoadBalancer dimension."""
    target_group: str
    """The target group's ARN suffix (targetgroup/<name>/<id>): the TargetGroup dimension."""
    cluster: str
    gateway_service: str
    services: dict[str, str]
    """Backend service (discovery) name -> ECS service name."""


def _widget(title: str, metrics: list, stat: str, names: MetricNames, x: int, y: int, **extra) -> dict:
    return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
            "properties": {"title": title, "region": names.region, "view": "timeSeries", "stacked": False,
                           "stat": stat, "period": PERIOD_S, "metrics": metrics, **extra}}


def dashboard_body(names: MetricNames) -> dict:
    elb = "AWS/ApplicationELB"
    lb_tg = ["LoadBalancer", names.load_balancer, "TargetGroup", names.target_group]
    programs = {"gateway": names.gateway_service, **names.services}
    widgets = [
        _widget("Requests per gateway task (RequestCountPerTarget)",
                [[elb, "RequestCountPerTarget", "TargetGroup", names.target_group]], "Sum", names, 0, 0),
        _widget("Gateway target response time p50 / p99 (s)",
                [[elb, "TargetResponseTime", *lb_tg, {"stat": "p50", "label": "p50"}],
                 [elb, "TargetResponseTime", *lb_tg, {"stat": "p99", "label": "p99"}]], "p99", names, 12, 0),
        _widget("5xx per target group",
                [[elb, "HTTPCode_Target_5XX_Count", *lb_tg, {"label": "gateway targets 5xx"}],
                 [elb, "HTTPCode_ELB_5XX_Count", "LoadBalancer", names.load_balancer, {"label": "load balancer 5xx"}]],
                "Sum", names, 0, 6),
        _widget("Healthy / unhealthy gateway tasks",
                [[elb, "HealthyHostCount", *lb_tg, {"stat": "Minimum", "label": "healthy"}],
                 [elb, "UnHealthyHostCount", *lb_tg, {"stat": "Maximum", "label": "unhealthy"}]],
                "Maximum", names, 12, 6),
        _widget("CPU utilization per service (%)",
                [["AWS/ECS", "CPUUtilization", "ClusterName", names.cluster, "ServiceName", service, {"label": program}]
                 for program, service in programs.items()], "Average", names, 0, 12),
        _widget("Memory utilization per service (%)",
                [["AWS/ECS", "MemoryUtilization", "ClusterName", names.cluster, "ServiceName", service,
                  {"label": program}] for program, service in programs.items()], "Average", names, 12, 12),
        _widget("Requests per backend (Service Connect)",
                [["AWS/ECS", "RequestCount", "ClusterName", names.cluster, "ServiceName", service,
                  "DiscoveryName", program, {"label": program}] for program, service in names.services.items()],
                "Sum", names, 0, 18),
        _widget("Backend 5xx and p99 as the gateway sees them (Service Connect)",
                [metric for program in names.services for metric in (
                    ["AWS/ECS", "HTTPCode_Target_5XX_Count", "ClusterName", names.cluster, "ServiceName",
                     names.gateway_service, "TargetDiscoveryName", program, {"label": f"{program} 5xx"}],
                    ["AWS/ECS", "TargetResponseTime", "ClusterName", names.cluster, "ServiceName",
                     names.gateway_service, "TargetDiscoveryName", program,
                     {"stat": "p99", "label": f"{program} p99 (ms)", "yAxis": "right"}])],
                "Sum", names, 12, 18),
    ]
    return {"widgets": widgets}


def dashboard_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}"


class Monitoring(pulumi.ComponentResource):
    TYPE = "apigw:aws:Monitoring"

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        service_names = list(args.service_names)
        body = pulumi.Output.all(args.load_balancer_arn_suffix, args.target_group_arn_suffix, args.cluster_name,
                                 args.gateway_service_name, *args.service_names.values()).apply(
            lambda v: json.dumps(dashboard_body(MetricNames(args.region, v[0], v[1], v[2], v[3],
                                                            dict(zip(service_names, v[4:])))), sort_keys=True))
        self.dashboard = aws.cloudwatch.Dashboard(f"{name}-dashboard", dashboard_name=args.dashboard_name,
                                                  dashboard_body=body, opts=child)
        self.dashboard_url = dashboard_url(args.region, args.dashboard_name)

        topic = args.alarm_topic_arn
        actions = [topic] if topic else []
        if not topic:
            pulumi.log.warn(f"{name}: no alarm_topic_arn: alarms change state on the dashboard but notify nobody",
                            resource=self)
        dimensions = {"LoadBalancer": args.load_balancer_arn_suffix, "TargetGroup": args.target_group_arn_suffix}
        common = {"alarm_actions": actions, "ok_actions": actions, "opts": child}
        elb = "AWS/ApplicationELB"

        def metric(query_id: str, metric_name: str) -> dict:
            return {"id": query_id, "return_data": False, "metric": {
                "namespace": elb, "metric_name": metric_name, "dimensions": dimensions,
                "period": PERIOD_S, "stat": "Sum"}}

        self.alarms = {
            "gateway-5xx-rate": aws.cloudwatch.MetricAlarm(
                f"{name}-gateway-5xx-rate",
                alarm_description=f"Gateway targets answered more than {args.alarm_5xx_percent}% 5xx "
                                  "in 3 of the last 5 minutes",
                comparison_operator="GreaterThanThreshold", threshold=args.alarm_5xx_percent,
                evaluation_periods=5, datapoints_to_alarm=3, treat_missing_data="notBreaching",
                metric_queries=[
                    metric("errors", "HTTPCode_Target_5XX_Count"),
                    metric("requests", "RequestCount"),
                    {"id": "rate", "label": "5xx % of requests", "return_data": True,
                     "expression": "IF(requests > 0, 100 * errors / requests, 0)"},
                ], **common),
            "gateway-unhealthy-hosts": aws.cloudwatch.MetricAlarm(
                f"{name}-gateway-unhealthy-hosts",
                alarm_description="A gateway task failed the load balancer's health check for 2 minutes",
                namespace=elb, metric_name="UnHealthyHostCount", dimensions=dimensions, statistic="Maximum",
                period=PERIOD_S, evaluation_periods=2, comparison_operator="GreaterThanThreshold", threshold=0,
                treat_missing_data="notBreaching", **common),
            "gateway-p99-latency": aws.cloudwatch.MetricAlarm(
                f"{name}-gateway-p99-latency",
                alarm_description=f"p99 target response time above {args.alarm_p99_ms} ms "
                                  "in 3 of the last 5 minutes",
                namespace=elb, metric_name="TargetResponseTime", dimensions=dimensions, extended_statistic="p99",
                period=PERIOD_S, evaluation_periods=5, datapoints_to_alarm=3,
                comparison_operator="GreaterThanThreshold", threshold=args.alarm_p99_ms / 1000,
                evaluate_low_sample_count_percentiles="ignore", treat_missing_data="notBreaching", **common),
        }
        self.register_outputs({"dashboard_url": self.dashboard_url})
