"""Monitoring on Kubernetes: Prometheus + Grafana (kube-prometheus-stack) and the platform's alerts.

The reference's essential metrics map to what the chart collects: resource utilisation per
instance (cAdvisor), health-check success (kube-state-metrics readiness), and request
distribution, latency and errors per instance from the ingress controller or the mesh.
"""
from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

from ..gateway.log_exporter import REQUESTS, RESPONSE_SECONDS
from .args import MonitoringArgs
from .dashboard import dashboard
from .workload import child_options, labels

METRICS_PORT_NAME = "metrics"
"""The gateway exporter's port name (components/kubernetes/gateway.py)."""

CHART = "kube-prometheus-stack"
CHART_REPO = "https://prometheus-community.github.io/helm-charts"
CHART_VERSION = "65.1.1"  # pinned: a chart upgrade is a reviewed change, never a side effect of `up`
RULE_NAME = "apigw-alerts"


class Monitoring(pulumi.ComponentResource):
    TYPE = "apigw:kubernetes:Monitoring"

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = child_options(self, opts)
        self.release = None
        if args.install_stack and args.backend == KPS:
            self.release = k8s.helm.v3.Release(
                f"{name}-prometheus-stack",
                name=args.release, chart=CHART, version=CHART_VERSION,
                repository_opts={"repo": CHART_REPO},
                namespace=args.namespace, create_namespace=True,
                values=chart_values(args),
                opts=child)
        after = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[self.release] if self.release else []))
        meta = {"namespace": args.watched_namespace, "labels": labels(args.labels, args.part_of, "monitoring")}
        self.rule_groups = rule_groups(args)
        self.alerts = None
        if RULES_API[args.backend] is not None:
            api, rule_kind = RULES_API[args.backend]
            self.alerts = k8s.apiextensions.CustomResource(
                f"{name}-alerts", api_version=api, kind=rule_kind, metadata={"name": RULE_NAME, **meta},
                spec={"groups": self.rule_groups}, opts=after)
        api, monitor_kind = MONITOR_API[args.backend]
        self.monitors = [k8s.apiextensions.CustomResource(
            f"{name}-{key}-monitor", api_version=api, kind=monitor_kind, metadata={"name": f"apigw-{key}", **meta},
            spec=monitor_spec(args.backend, selector, port, path), opts=after)
            for key, (selector, port, path) in scrape_targets(args).items()]
        self.dashboard = None
        if self.release is not None:
            board = dashboard(args.watched_namespace, args.apps, args.mesh, args.apps[0])
            self.dashboard = k8s.core.v1.ConfigMap(
                f"{name}-dashboard", metadata={"name": "apigw-instances-dashboard", "namespace": args.namespace,
                                               "labels": {**labels(args.labels, args.part_of, "monitoring"),
                                                          "grafana_dashboard": "1"}},
                data={"apigw-instances.json": json.dumps(board, indent=1, sort_keys=True)}, opts=after)
        self.register_outputs({})


KPS, GKE, AZURE = "kube-prometheus-stack", "gke-managed-prometheus", "azure-managed-prometheus"
RULES_API = {KPS: ("monitoring.coreos.com/v1", "PrometheusRule"), GKE: ("monitoring.googleapis.com/v1", "Rules"),
             AZURE: None}
"""The in-cluster rule object each backend reads; Azure Monitor's rules are Azure resources (the azure builder's)."""
MONITOR_API = {KPS: ("monitoring.coreos.com/v1", "PodMonitor"), GKE: ("monitoring.googleapis.com/v1", "PodMonitoring"),
               AZURE: ("azmonitoring.coreos.com/v1", "PodMonitor")}
MESH_METRICS = {"istio": ("http-envoy-prom", "/stats/prometheus"), "linkerd": ("linkerd-admin", "/metrics")}
"""The port (by name, on the injected proxy) and path of each mesh's per-pod metrics."""


def scrape_targets(args: MonitoringArgs) -> dict[str, tuple[dict, str, str]]:
    """Monitor name -> (pod selector, port name, path): the gateway's exporter, and the mesh's proxies."""
    targets = {"gateway": ({"matchLabels": {"app": args.apps[0]}}, METRICS_PORT_NAME, "/metrics")}
    if args.mesh in MESH_METRICS:
        targets["mesh"] = ({"matchExpressions": [{"key": "app", "operator": "In", "values": list(args.apps)}]},
                           *MESH_METRICS[args.mesh])
    return targets


def monitor_spec(backend: str, selector: dict, port: str, path: str) -> dict:
    endpoint = {"port": port, "path": path, "interval": "15s"}
    if backend == GKE:
        return {"selector": selector, "endpoints": [endpoint]}
    return {"selector": selector, "podMetricsEndpoints": [endpoint]}


def chart_values(args: MonitoringArgs) -> dict:
    """kube-prometheus-stack scoped to this stack, so staging and prod can share a cluster: its
    operator watches only its own and the workloads' namespaces, and its Prometheus reads rules and
    monitors from those only (whatever their labels); names of cluster-wide objects follow the
    release (fullnameOverride); one release per cluster runs the node exporter."""
    watched = sorted({args.namespace, args.watched_namespace} - {""})
    in_watched = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": watched}]}
    return {
        "fullnameOverride": args.release,
        "prometheusOperator": {"namespaces": {"releaseNamespace": True, "additional": [args.watched_namespace]}},
        "nodeExporter": {"enabled": args.node_exporter},
        "prometheus": {"prometheusSpec": {
            "ruleSelectorNilUsesHelmValues": False,
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "ruleNamespaceSelector": in_watched,
            "serviceMonitorNamespaceSelector": in_watched,
            "podMonitorNamespaceSelector": in_watched}},
    }


def recording_rules(args: MonitoringArgs) -> list[dict]:
    """Per instance, with the labels `service` and `instance` whatever the source (exporter or mesh)."""
    ns = args.watched_namespace
    instance = {"none": ("upstream", "service"), "istio": ("pod", "destination_workload"), "linkerd": ("pod", "pod")}
    by_instance, by_service = instance.get(args.mesh, instance["none"])
    name_of = '"service", "$1", "pod", "(.*)-[a-z0-9]+-[a-z0-9]+"' if by_service == "pod" \
        else f'"service", "$1", "{by_service}", "(.*)"'

    def relabel(expression: str) -> str:
        return f'label_replace(label_replace({expression}, {name_of}), "instance", "$1", "{by_instance}", "(.*)")'

    keep = "" if by_service == "pod" else f"{by_service}, "
    selectors = {
        "none": (f'{REQUESTS}{{namespace="{ns}", upstream!="gateway"}}',
                 f'{REQUESTS}{{namespace="{ns}", upstream!="gateway", status_class="5xx"}}',
                 f'{RESPONSE_SECONDS}_bucket{{namespace="{ns}", upstream!="gateway"}}', 1),
        "istio": (f'istio_requests_total{{reporter="destination", namespace="{ns}"}}',
                  f'istio_requests_total{{reporter="destination", namespace="{ns}", response_code=~"5.."}}',
                  f'istio_request_duration_milliseconds_bucket{{reporter="destination", namespace="{ns}"}}', 1000),
        "linkerd": (f'request_total{{direction="inbound", namespace="{ns}"}}',
                    f'response_total{{direction="inbound", namespace="{ns}", classification="failure"}}',
                    f'response_latency_ms_bucket{{direction="inbound", namespace="{ns}"}}', 1000),
    }
    requests, errors, latency, scale = selectors.get(args.mesh, selectors["none"])
    group = f"{keep}{by_instance}"
    p99 = f"histogram_quantile(0.99, sum by ({group}, le) (rate({latency}[5m])))"
    return [
        {"record": "apigw:instance_requests:rate5m", "expr": relabel(f"sum by ({group}) (rate({requests}[5m]))")},
        {"record": "apigw:instance_errors:rate5m", "expr": relabel(f"sum by ({group}) (rate({errors}[5m]))")},
        {"record": "apigw:instance_latency_p99:seconds", "expr": relabel(p99 if scale == 1 else f"{p99} / {scale}")},
    ]


def alert_rules(args: MonitoringArgs) -> list[dict]:
    namespace = args.watched_namespace
    selector = f'namespace="{namespace}", deployment=~"{"|".join(args.apps)}"'
    return [
        {"alert": "ApigwInstancesUnavailable",
         "expr": f"kube_deployment_status_replicas_unavailable{{{selector}}} > 0",
         "for": "5m", "labels": {"severity": "warning"},
         "annotations": {"summary": "{{ $labels.deployment }} has instances failing their health checks"}},
        {"alert": "ApigwSingleInstance",
         "expr": f"kube_deployment_status_replicas_available{{{selector}}} < 2",
         "for": "5m", "labels": {"severity": args.single_instance_severity},
         "annotations": {"summary": "{{ $labels.deployment }} runs on fewer than 2 instances"}},
        {"alert": "ApigwAutoscalerAtMax",
         "expr": (f'kube_horizontalpodautoscaler_status_current_replicas{{namespace="{namespace}"}}'
                  f' >= kube_horizontalpodautoscaler_spec_max_replicas{{namespace="{namespace}"}}'),
         "for": "15m", "labels": {"severity": "warning"},
         "annotations": {"summary": "{{ $labels.horizontalpodautoscaler }} is at its maximum instances"}},
        {"alert": "ApigwErrorRateHigh",
         "expr": (f"sum by (service) (apigw:instance_errors:rate5m) / sum by (service) "
                  f"(apigw:instance_requests:rate5m) > {args.error_ratio}"),
         "for": "5m", "labels": {"severity": "critical"},
         "annotations": {"summary": f"{{{{ $labels.service }}}}: more than {args.error_ratio:.0%} of requests "
                                    "fail (5xx)",
                         "runbook": "docs/metrics.md#apigwerrorratehigh"}},
        {"alert": "ApigwLatencyP99High",
         "expr": f"max by (service, instance) (apigw:instance_latency_p99:seconds) > {args.latency_p99_s}",
         "for": "10m", "labels": {"severity": "warning"},
         "annotations": {"summary": f"{{{{ $labels.instance }}}} of {{{{ $labels.service }}}} answers in more than "
                                    f"{args.latency_p99_s} s at the 99th percentile",
                         "runbook": "docs/metrics.md#apigwlatencyp99high"}},
        {"alert": "ApigwFewerReadyThanMinimum",
         "expr": (f"kube_deployment_status_replicas_available{{{selector}}} < on (namespace, deployment) "
                  f'label_replace(kube_horizontalpodautoscaler_spec_min_replicas{{namespace="{namespace}"}}, '
                  '"deployment", "$1", "horizontalpodautoscaler", "(.*)")'),
         "for": "5m", "labels": {"severity": "critical"},
         "annotations": {"summary": "{{ $labels.deployment }} has fewer ready instances than its minimum",
                         "runbook": "docs/metrics.md#apigwfewerreadythanminimum"}},
        {"alert": "ApigwInstanceImbalance",
         "expr": ("max by (service) (apigw:instance_requests:rate5m) / min by (service) "
                  "(apigw:instance_requests:rate5m) > 2 and sum by (service) (apigw:instance_requests:rate5m) > 1"),
         "for": "15m", "labels": {"severity": "warning"},
         "annotations": {"summary": "{{ $labels.service }}: one instance gets more than twice the requests of another",
                         "runbook": "docs/metrics.md#apigwinstanceimbalance"}},
    ]


def rule_groups(args: MonitoringArgs) -> list[dict]:
    """Recording rules first (the alerts read them), then the alerts."""
    return [{"name": "apigw-recording", "interval": "30s", "rules": recording_rules(args)},
            {"name": "apigw", "rules": alert_rules(args)}]
