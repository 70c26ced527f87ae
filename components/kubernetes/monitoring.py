"""Monitoring on Kubernetes: Prometheus + Grafana (kube-prometheus-stack) and the platform's alerts.

The reference's essential metrics map to what the chart collects: resource utilisation per
instance (cAdvisor), health-check success (kube-state-metrics readiness), and request
distribution, latency and errors per instance from the ingress controller or the mesh.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .args import MonitoringArgs
from .workload import child_options, labels

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
        if args.install_stack:
            self.release = k8s.helm.v3.Release(
                f"{name}-prometheus-stack",
                name=args.release, chart=CHART, version=CHART_VERSION,
                repository_opts={"repo": CHART_REPO},
                namespace=args.namespace, create_namespace=True,
                values=chart_values(args),
                opts=child)
        rule_opts = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[self.release] if self.release else []))
        self.alerts = k8s.apiextensions.CustomResource(
            f"{name}-alerts", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata={"name": RULE_NAME, "namespace": args.watched_namespace,
                      "labels": labels(args.labels, args.part_of, "monitoring")},
            spec={"groups": [{"name": "apigw", "rules": alert_rules(args)}]},
            opts=rule_opts)
        self.register_outputs({})


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
    ]
