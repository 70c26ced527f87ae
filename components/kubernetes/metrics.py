"""The reference's five metrics, per instance: one list, with where each comes from.

Every dashboard panel and alert is written from these queries (tests check that no query names a
metric outside SOURCES). `$namespace` and `$service` are filled in per stack and per service.

| metric | without a mesh | istio | linkerd |
|---|---|---|---|
| request distribution | gateway log exporter, per upstream | istio_requests_total, per pod | request_total, per pod |
| response time (p99) | gateway log exporter histogram | istio_request_duration_milliseconds | response_latency_ms |
| error rate | gateway log exporter, 5xx share | istio_requests_total 5xx share | response_total failures |
| resource utilisation | cAdvisor (kubelet): CPU and memory per pod | same | same |
| health-check success | kubelet's probe results per pod (prober_probe_total) | same | same |
"""
from __future__ import annotations

import re

from ..gateway.log_exporter import REQUESTS, RESPONSE_SECONDS

SOURCES: dict[str, str] = {
    REQUESTS: "gateway log exporter (components/gateway/log_exporter.py), a sidecar of each gateway pod",
    f"{RESPONSE_SECONDS}_bucket": "gateway log exporter",
    "istio_requests_total": "Istio sidecars (reporter=destination: the instance that answered)",
    "istio_request_duration_milliseconds_bucket": "Istio sidecars",
    "request_total": "Linkerd proxies (direction=inbound)",
    "response_total": "Linkerd proxies (direction=inbound; classification success or failure)",
    "response_latency_ms_bucket": "Linkerd proxies",
    "container_cpu_usage_seconds_total": "cAdvisor, through the kubelet",
    "container_memory_working_set_bytes": "cAdvisor, through the kubelet",
    "container_spec_memory_limit_bytes": "cAdvisor, through the kubelet",
    "prober_probe_total": "the kubelet's probe results (readiness and liveness)",
    "kube_deployment_status_replicas_available": "kube-state-metrics",
    "kube_deployment_status_replicas_unavailable": "kube-state-metrics",
    "kube_horizontalpodautoscaler_status_current_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_min_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_max_replicas": "kube-state-metrics",
}
"""Every metric a panel, recording rule or alert may read, and where it comes from."""

_POD = 'namespace="$namespace", pod=~"$service-[a-z0-9]+-[a-z0-9]+"'

QUERIES: dict[str, dict[str, str]] = {
    "requests": {
        "none": f'sum by (upstream) (rate({REQUESTS}{{namespace="$namespace", service="$service"}}[5m]))',
        "istio": ('sum by (pod) (rate(istio_requests_total{reporter="destination", namespace="$namespace", '
                  'destination_workload="$service"}[5m]))'),
        "linkerd": f'sum by (pod) (rate(request_total{{direction="inbound", {_POD}}}[5m]))',
    },
    "latency_p99": {
        "none": (f'histogram_quantile(0.99, sum by (upstream, le) (rate({RESPONSE_SECONDS}_bucket'
                 '{namespace="$namespace", service="$service"}[5m])))'),
        "istio": ('histogram_quantile(0.99, sum by (pod, le) (rate(istio_request_duration_milliseconds_bucket'
                  '{reporter="destination", namespace="$namespace", destination_workload="$service"}[5m]))) / 1000'),
        "linkerd": (f'histogram_quantile(0.99, sum by (pod, le) (rate(response_latency_ms_bucket{{direction="inbound", '
                    f'{_POD}}}[5m]))) / 1000'),
    },
    "error_ratio": {
        "none": (f'sum by (upstream) (rate({REQUESTS}{{namespace="$namespace", service="$service", status_class="5xx"}}'
                 f'[5m])) / sum by (upstream) (rate({REQUESTS}{{namespace="$namespace", service="$service"}}[5m]))'),
        "istio": ('sum by (pod) (rate(istio_requests_total{reporter="destination", namespace="$namespace", '
                  'destination_workload="$service", response_code=~"5.."}[5m])) / sum by (pod) (rate('
                  'istio_requests_total{reporter="destination", namespace="$namespace", '
                  'destination_workload="$service"}[5m]))'),
        "linkerd": (f'sum by (pod) (rate(response_total{{direction="inbound", classification="failure", {_POD}}}[5m])) '
                    f'/ sum by (pod) (rate(response_total{{direction="inbound", {_POD}}}[5m]))'),
    },
    # The gateway's own instances: its exporter runs in every gateway pod, so Prometheus's `pod` label is the
    # gateway instance, whatever the mesh.
    "gateway_requests": {"any": f'sum by (pod) (rate({REQUESTS}{{namespace="$namespace"}}[5m]))'},
    "gateway_latency_p99": {"any": (f'histogram_quantile(0.99, sum by (pod, le) (rate({RESPONSE_SECONDS}_bucket'
                                    '{namespace="$namespace"}[5m])))')},
    "gateway_error_ratio": {"any": (f'sum by (pod) (rate({REQUESTS}{{namespace="$namespace", status_class="5xx"}}[5m]))'
                                    f' / sum by (pod) (rate({REQUESTS}{{namespace="$namespace"}}[5m]))')},
    "cpu_cores": {"any": f'sum by (pod) (rate(container_cpu_usage_seconds_total{{{_POD}, container!=""}}[5m]))'},
    "memory_ratio": {"any": (f'sum by (pod) (container_memory_working_set_bytes{{{_POD}, container!=""}}) / '
                             f'sum by (pod) (container_spec_memory_limit_bytes{{{_POD}, container!=""}})')},
    "probe_failures": {"any": (f'sum by (pod, probe_type) (rate(prober_probe_total{{{_POD}, result!="successful"}}'
                               '[5m]))')},
    "replicas": {"any": ('kube_horizontalpodautoscaler_status_current_replicas{namespace="$namespace", '
                         'horizontalpodautoscaler="$service"}')},
    "replicas_min": {"any": ('kube_horizontalpodautoscaler_spec_min_replicas{namespace="$namespace", '
                             'horizontalpodautoscaler="$service"}')},
    "replicas_max": {"any": ('kube_horizontalpodautoscaler_spec_max_replicas{namespace="$namespace", '
                             'horizontalpodautoscaler="$service"}')},
}
"""Query name -> mesh (or "any") -> PromQL. The instance label is `upstream` without a mesh, `pod` with one."""


def query(name: str, mesh: str, namespace: str, service: str) -> str:
    by_mesh = QUERIES[name]
    template = by_mesh.get(mesh, by_mesh.get("any"))
    if template is None:
        raise KeyError(f"no {name} query for mesh {mesh!r}")
    return template.replace("$namespace", namespace).replace("$service", service)


_NAME = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[)")
_FUNCTIONS = {"rate", "sum", "by", "histogram_quantile", "max", "min", "avg", "count", "irate", "increase"}


def metric_names(expression: str) -> set[str]:
    """The metrics a PromQL expression reads (selectors before `{` or `[`; recording rules start with apigw:)."""
    return {name for name in _NAME.findall(expression) if name not in _FUNCTIONS and ":" not in name}
