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
GATEWAY_NAMESPACE = "apigw/gateway"
"""Where the gateway log's metric filters publish, per gateway task (dimension Instance: its host name)."""
INSTANCE_FILTERS = {
    # metric -> (filter pattern on the JSON access log, value)
    "Requests": ("{ $.status = * }", "1"),
    "Errors5xx": ('{ $.status = "5*" }', "1"),
    "ResponseTime": ("{ $.request_time = * }", "$.request_time"),
}
"""The per-instance metrics the gateway's access log gives on AWS (components/gateway/nginx.py's LOG_FORMAT)."""


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
    minimum_tasks: dict[str, int] = None
    """Program -> its autoscaling minimum (the running-tasks widget draws it)."""


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
    return {"widgets": widgets + instance_widgets(names, programs, y=24)}


def _search(expression: str, stat: str, label: str) -> list:
    return [{"expression": f"SEARCH('{expression}', '{stat}', {PERIOD_S})", "label": label, "id": "e1"}]


def instance_widgets(names: MetricNames, programs: dict[str, str], y: int) -> list[dict]:
    """Per instance: each gateway task from its access log; each service task from Container Insights."""
    gateway = f"{{{GATEWAY_NAMESPACE},Instance}}"
    insights = "{ECS/ContainerInsights,ClusterName,ServiceName,TaskId}"
    widgets = [
        _widget("Requests per gateway task (access log)", [_search(f'{gateway} MetricName="Requests"', "Sum", "")],
                "Sum", names, 0, y),
        _widget("p99 response time per gateway task (s)",
                [_search(f'{gateway} MetricName="ResponseTime"', "p99", "")], "p99", names, 12, y),
        _widget("5xx per gateway task", [_search(f'{gateway} MetricName="Errors5xx"', "Sum", "")], "Sum", names, 0,
                y + 6),
        _widget("Running tasks against the minimum",
                [["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", names.cluster, "ServiceName", service,
                  {"label": f"{program} (min {(names.minimum_tasks or {}).get(program, '?')})"}]
                 for program, service in programs.items()], "Minimum", names, 12, y + 6),
    ]
    for i, (program, service) in enumerate(programs.items()):
        where = f'ClusterName="{names.cluster}" ServiceName="{service}"'
        widgets.append(_widget(f"{program}: CPU and memory per task (Container Insights)", [
            _search(f'{insights} MetricName="CpuUtilized" {where}', "Average", "CPU units"),
            [{"expression": f"SEARCH('{insights} MetricName=\"MemoryUtilized\" {where}', 'Average', {PERIOD_S})",
              "label": "MiB", "id": "e2", "yAxis": "right"}]], "Average", names, (i % 2) * 12, y + 12 + (i // 2) * 6))
    return widgets


def query(query_id: str, namespace: str, metric_name: str, dimensions: dict) -> dict:
    """A metric alarm's input series: the per-minute sum of `metric_name`, not returned itself."""
    return {"id": query_id, "return_data": False, "metric": {
        "namespace": namespace, "metric_name": metric_name, "dimensions": dimensions, "period": PERIOD_S,
        "stat": "Sum"}}


def rollback_alarm_names(dashboard_name: str, services: list[str]) -> dict[str, list[str]]:
    """Program -> the alarms its ECS deployment rolls back on: the fixed names Monitoring gives them (an ECS
    service names its alarms before they exist, so both sides compute them here)."""
    return {"gateway": [f"{dashboard_name}-load-balancer-5xx-rate"],
            **{service: [f"{dashboard_name}-{service}-5xx-rate"] for service in services}}


def dashboard_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}"


class Monitoring(pulumi.ComponentResource):
    TYPE = "apigw:aws:Monitoring"

    def _outage_alarms(self, name: str, args: MonitoringArgs, common: dict) -> None:
        """What a full outage looks like: 5xx the load balancer makes itself (no target answered, so
        RequestCount does not count them), fewer healthy gateway tasks than the minimum (none registered:
        no data, which counts), and each service's 5xx as the gateway's Service Connect proxy sees them."""
        elb, lb = "AWS/ApplicationELB", {"LoadBalancer": args.load_balancer_arn_suffix}
        names = rollback_alarm_names(args.dashboard_name, list(args.service_names))

        rate = {"comparison_operator": "GreaterThanThreshold", "threshold": args.alarm_5xx_percent,
                "evaluation_periods": 5, "datapoints_to_alarm": 3, "treat_missing_data": "notBreaching"}
        self.alarms["load-balancer-5xx-rate"] = aws.cloudwatch.MetricAlarm(
            f"{name}-load-balancer-5xx-rate", name=names["gateway"][0],
            alarm_description=f"The load balancer itself answered more than {args.alarm_5xx_percent}% 5xx "
                              "(no healthy target, timeouts) in 3 of the last 5 minutes",
            metric_queries=[query("elb", elb, "HTTPCode_ELB_5XX_Count", lb), query("requests", elb, "RequestCount", lb),
                            {"id": "rate", "label": "load balancer 5xx %", "return_data": True,
                             "expression": "IF(requests + elb > 0, 100 * elb / (requests + elb), 0)"}],
            **rate, **common)
        target_group = {**lb, "TargetGroup": args.target_group_arn_suffix}

        def healthy_below(key: str, threshold: int, dimensions: dict, description: str) -> None:
            # No target registered gives no data, which counts as breaching.
            self.alarms[key] = aws.cloudwatch.MetricAlarm(
                f"{name}-{key}", alarm_description=description,
                namespace=elb, metric_name="HealthyHostCount", statistic="Minimum", period=PERIOD_S,
                dimensions=dimensions, evaluation_periods=3,
                comparison_operator="LessThanThreshold", threshold=threshold, treat_missing_data="breaching", **common)
        minimum = args.minimum_tasks.get("gateway")
        if minimum:
            healthy_below("gateway-healthy-below-minimum", minimum, target_group,
                          f"Fewer healthy gateway targets than the minimum ({minimum}) for 3 minutes")
        for key, zone in args.zones.items():   # one zone's outage: a zonal shift moves traffic off it
            healthy_below(f"gateway-healthy-in-{key}", 1, {**target_group, "AvailabilityZone": zone},
                          f"No healthy gateway target in {zone} for 3 minutes (a zonal shift can move traffic off it)")
        for service in args.service_names:
            client = {"ClusterName": args.cluster_name, "ServiceName": args.gateway_service_name,
                      "TargetDiscoveryName": service}
            self.alarms[f"{service}-5xx-rate"] = aws.cloudwatch.MetricAlarm(
                f"{name}-{service}-5xx-rate", name=names[service][0],
                alarm_description=f"{service} answered the gateway more than {args.alarm_5xx_percent}% 5xx "
                                  "(Service Connect) in 3 of the last 5 minutes",
                metric_queries=[query("errors", "AWS/ECS", "HTTPCode_Target_5XX_Count", client),
                                query("requests", "AWS/ECS", "RequestCount", client),
                                {"id": "rate", "label": f"{service} 5xx %", "return_data": True,
                                 "expression": "IF(requests > 0, 100 * errors / requests, 0)"}],
                **rate, **common)

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        service_names = list(args.service_names)
        body = pulumi.Output.all(args.load_balancer_arn_suffix, args.target_group_arn_suffix, args.cluster_name,
                                 args.gateway_service_name, *args.service_names.values()).apply(
            lambda v: json.dumps(dashboard_body(MetricNames(args.region, v[0], v[1], v[2], v[3],
                                                            dict(zip(service_names, v[4:], strict=True)),
                                                            dict(args.minimum_tasks))), sort_keys=True))
        self.metric_filters = [] if args.gateway_log_group is None else [
            aws.cloudwatch.LogMetricFilter(
                f"{name}-gateway-{metric_name.lower()}", name=f"{args.dashboard_name}-gateway-{metric_name}",
                log_group_name=args.gateway_log_group, pattern=pattern,
                metric_transformation={"name": metric_name, "namespace": GATEWAY_NAMESPACE, "value": value,
                                       "dimensions": {"Instance": "$.instance"},
                                       "unit": "Seconds" if metric_name == "ResponseTime" else "Count"},
                opts=child)
            for metric_name, (pattern, value) in INSTANCE_FILTERS.items()]
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
            return query(query_id, elb, metric_name, dimensions)

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
        self._outage_alarms(name, args, common)
        programs = {"gateway": args.gateway_service_name, **args.service_names}
        for program, minimum in args.minimum_tasks.items():
            self.alarms[f"{program}-below-minimum"] = aws.cloudwatch.MetricAlarm(
                f"{name}-{program}-below-minimum",
                alarm_description=f"{program} runs fewer tasks than its minimum ({minimum}) for 5 minutes",
                namespace="ECS/ContainerInsights", metric_name="RunningTaskCount", statistic="Minimum",
                dimensions={"ClusterName": args.cluster_name, "ServiceName": programs[program]},
                period=PERIOD_S, evaluation_periods=5, comparison_operator="LessThanThreshold", threshold=minimum,
                treat_missing_data="breaching", **common)
        if args.gateway_log_group is not None:
            # Metrics Insights: the busiest and the quietest gateway task, without knowing the tasks in advance.
            def insights(query_id: str, function: str) -> dict:
                return {"id": query_id, "return_data": False, "period": PERIOD_S * 5, "expression": (
                    f'SELECT {function}(Requests) FROM SCHEMA("{GATEWAY_NAMESPACE}", Instance)')}
            self.alarms["gateway-imbalance"] = aws.cloudwatch.MetricAlarm(
                f"{name}-gateway-imbalance",
                alarm_description="One gateway task answers more than twice the requests of another, for 15 minutes",
                comparison_operator="GreaterThanThreshold", threshold=2, evaluation_periods=3,
                treat_missing_data="notBreaching",
                metric_queries=[insights("busiest", "MAX"), insights("quietest", "MIN"),
                                {"id": "ratio", "label": "busiest / quietest gateway task", "return_data": True,
                                 "expression": "IF(quietest > 0, busiest / quietest, 0)"}], **common)
        self.register_outputs({"dashboard_url": self.dashboard_url})
