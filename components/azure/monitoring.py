"""Azure Monitor: a Log Analytics workspace with Application Insights (before the cluster, whose
Container Insights writes there), and the Application Gateway's diagnostics and alerts (after it).

    apigw:azure:LogAnalytics   <name>         Workspace, Component (workspace-based Application Insights)
    apigw:azure:GatewayAlerts  <name>-alerts  DiagnosticSetting, MetricAlert x3
"""
from __future__ import annotations

import pulumi
import pulumi_azure_native as azure

from .args import AlertsArgs, LogAnalyticsArgs

APP_GATEWAY_METRICS = "Microsoft.Network/applicationGateways"


class LogAnalytics(pulumi.ComponentResource):
    TYPE = "apigw:azure:LogAnalytics"

    def __init__(self, name: str, args: LogAnalyticsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        placement, retention_days = args.placement, args.retention_days
        common = {"resource_group_name": placement.resource_group_name, "location": placement.location,
                  "tags": placement.tags}
        child = pulumi.ResourceOptions(parent=self)
        self.workspace = azure.operationalinsights.Workspace(
            f"{name}-workspace", **common, sku={"name": "PerGB2018"}, retention_in_days=retention_days, opts=child)
        self.insights = azure.applicationinsights.Component(
            f"{name}-insights", **common, kind="web", application_type="web", ingestion_mode="LogAnalytics",
            workspace_resource_id=self.workspace.id, retention_in_days=retention_days, opts=child)
        self.register_outputs({"workspace_id": self.workspace.id})


def metric_alerts(args: AlertsArgs) -> dict[str, dict]:
    """Alert name -> (description, metric, aggregation, operator, threshold, severity): what an operator
    acts on first. Unhealthy hosts means the gateway's internal load balancer failed its probe."""
    return {
        "unhealthy-hosts": {"description": "The Application Gateway's backend (the gateway fleet) fails its probe",
                            "metric_name": "UnhealthyHostCount", "time_aggregation": "Average",
                            "operator": "GreaterThan", "threshold": 0, "severity": 1},
        "failed-requests": {"description": f"More than {args.failed_requests} failed requests in 5 minutes",
                            "metric_name": "FailedRequests", "time_aggregation": "Total",
                            "operator": "GreaterThan", "threshold": args.failed_requests, "severity": 2},
        "response-time": {"description": f"Average backend response time above {args.response_time_ms} ms",
                          "metric_name": "BackendLastByteResponseTime", "time_aggregation": "Average",
                          "operator": "GreaterThan", "threshold": args.response_time_ms, "severity": 2},
    }


class GatewayAlerts(pulumi.ComponentResource):
    TYPE = "apigw:azure:GatewayAlerts"

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        where = args.placement
        child = pulumi.ResourceOptions(parent=self)
        self.diagnostics = azure.monitor.DiagnosticSetting(
            f"{name}-diagnostics", resource_uri=args.application_gateway_id, workspace_id=args.workspace_id,
            log_analytics_destination_type="Dedicated",
            logs=[{"category_group": "allLogs", "enabled": True}],
            metrics=[{"category": "AllMetrics", "enabled": True}], opts=child)
        actions = [{"action_group_id": args.action_group_id}] if args.action_group_id else []
        self.alerts = {}
        for key, alert in metric_alerts(args).items():
            criterion = {key_: alert[key_] for key_ in ("metric_name", "time_aggregation", "operator", "threshold")}
            self.alerts[key] = azure.monitor.MetricAlert(
                f"{name}-{key}", resource_group_name=where.resource_group_name, location="global", tags=where.tags,
                description=alert["description"], severity=alert["severity"], enabled=True, auto_mitigate=True,
                scopes=[args.application_gateway_id], evaluation_frequency="PT1M", window_size="PT5M",
                target_resource_type=APP_GATEWAY_METRICS,
                # Args classes, not dicts: `criteria` is a union of criteria types, and a plain dict
                # would reach Azure with Python's snake_case names.
                criteria=azure.monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                    odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                    all_of=[azure.monitor.MetricCriteriaArgs(criterion_type="StaticThresholdCriterion", name=key,
                                                             metric_namespace=APP_GATEWAY_METRICS, **criterion)]),
                actions=actions, opts=child)
        self.register_outputs({})
