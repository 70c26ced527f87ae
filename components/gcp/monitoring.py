"""Cloud Monitoring: alert policies on the load balancer's 5xx ratio and backend latency, and an
uptime check on the public URL.

    apigw:gcp:Alerts  <name>
    ├── monitoring.AlertPolicy        <name>-5xx
    ├── monitoring.AlertPolicy        <name>-latency
    ├── monitoring.UptimeCheckConfig  <name>-uptime
    └── monitoring.AlertPolicy        <name>-uptime   the check fails from more than one region
"""
from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from .args import AlertsArgs

REQUESTS = "loadbalancing.googleapis.com/https/request_count"
BACKEND_LATENCY = "loadbalancing.googleapis.com/https/backend_latencies"
WINDOW = "300s"


def lb_filter(metric: str, url_map_name: str, extra: str = "") -> str:
    """A filter on the load balancer's own metrics (resource https_lb_rule, this URL map only)."""
    return (f'resource.type = "https_lb_rule" AND metric.type = "{metric}" AND '
            f'resource.labels.url_map_name = "{url_map_name}"{extra}')


class Alerts(pulumi.ComponentResource):
    TYPE = "apigw:gcp:Alerts"

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        url_map_name = pulumi.Output.from_input(args.url_map_name)
        common = {"project": args.project, "combiner": "OR", "notification_channels": list(args.notification_channels),
                  "severity": "ERROR"}
        rate = [{"alignment_period": WINDOW, "per_series_aligner": "ALIGN_RATE", "cross_series_reducer": "REDUCE_SUM"}]
        self.errors = gcp.monitoring.AlertPolicy(
            f"{name}-5xx", **common, display_name=f"{args.name}: 5xx above {args.error_percent}%",
            conditions=[{"display_name": "5xx share of requests", "condition_threshold": {
                "filter": url_map_name.apply(lambda url_map: lb_filter(
                    REQUESTS, url_map, ' AND metric.labels.response_code_class = 500')),
                "denominator_filter": url_map_name.apply(lambda url_map: lb_filter(REQUESTS, url_map)),
                "aggregations": rate, "denominator_aggregations": rate, "comparison": "COMPARISON_GT",
                "threshold_value": args.error_percent / 100, "duration": WINDOW}}],
            documentation={"mime_type": "text/markdown", "content": "The load balancer answers 5xx to more than "
                           f"{args.error_percent}% of requests: check the gateway pods and the services behind them."},
            opts=child)
        self.latency = gcp.monitoring.AlertPolicy(
            f"{name}-latency", **common, display_name=f"{args.name}: p99 backend latency above {args.latency_ms} ms",
            conditions=[{"display_name": "p99 backend latency", "condition_threshold": {
                "filter": url_map_name.apply(lambda url_map: lb_filter(BACKEND_LATENCY, url_map)),
                "aggregations": [{"alignment_period": WINDOW, "per_series_aligner": "ALIGN_PERCENTILE_99",
                                  "cross_series_reducer": "REDUCE_MAX"}],
                "comparison": "COMPARISON_GT", "threshold_value": args.latency_ms, "duration": WINDOW}}],
            documentation={"mime_type": "text/markdown", "content": "The gateway answers slowly: check its pods' "
                           "CPU and the services' latency."},
            opts=child)
        self.uptime = gcp.monitoring.UptimeCheckConfig(
            f"{name}-uptime", project=args.project, display_name=f"{args.name}: {args.health_check_path}",
            timeout="10s", period="60s",
            http_check={"path": args.health_check_path, "port": 443 if args.https else 80, "use_ssl": args.https,
                        "validate_ssl": args.https},
            monitored_resource={"type": "uptime_url", "labels": {"project_id": args.project, "host": args.host}},
            opts=child)
        # Google's documented uptime alert: more than one checker region failing over 20 minutes.
        self.uptime_alert = gcp.monitoring.AlertPolicy(
            f"{name}-uptime", **common, display_name=f"{args.name}: {args.health_check_path} unreachable",
            conditions=[{"display_name": "uptime check failing", "condition_threshold": {
                "filter": self.uptime.uptime_check_id.apply(lambda check: (
                    'metric.type = "monitoring.googleapis.com/uptime_check/check_passed" AND '
                    f'metric.labels.check_id = "{check}" AND resource.type = "uptime_url"')),
                "aggregations": [{"alignment_period": "1200s", "per_series_aligner": "ALIGN_NEXT_OLDER",
                                  "cross_series_reducer": "REDUCE_COUNT_FALSE",
                                  "group_by_fields": ["resource.label.*"]}],
                "comparison": "COMPARISON_GT", "threshold_value": 1, "duration": "60s"}}],
            documentation={"mime_type": "text/markdown", "content": "The public URL fails its uptime check: the "
                           "load balancer, its certificate or every gateway pod is down."},
            opts=child)
        self.register_outputs({})
