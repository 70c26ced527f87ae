"""The Grafana dashboard: the reference's five metrics per instance, and each service's replicas
against its autoscaler's bounds. One row per program (the gateway and each service), its panels
written from components/kubernetes/metrics.py; provisioned through kube-prometheus-stack's Grafana
sidecar (a ConfigMap labelled grafana_dashboard)."""
from __future__ import annotations

from .metrics import query

UID = "apigw-instances"
PANELS = (
    # (title, query name, unit)
    ("Requests per instance", "requests", "reqps"),
    ("p99 response time per instance", "latency_p99", "s"),
    ("5xx share per instance", "error_ratio", "percentunit"),
    ("CPU per instance", "cpu_cores", "none"),
    ("Memory per instance (share of limit)", "memory_ratio", "percentunit"),
    ("Failed probes per instance", "probe_failures", "ops"),
)
WIDTH, HEIGHT = 8, 7
"""Grafana's grid is 24 wide: three panels per line."""


def _panel(panel_id: int, title: str, targets: list[dict], unit: str, x: int, y: int, w: int = WIDTH) -> dict:
    return {"id": panel_id, "type": "timeseries", "title": title,
            "datasource": {"type": "prometheus", "uid": "prometheus"},
            "gridPos": {"x": x, "y": y, "w": w, "h": HEIGHT},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": targets}


def dashboard(namespace: str, programs: list[str], mesh: str, gateway: str) -> dict:
    """`programs`: the gateway first, then the services. Per-instance request metrics of the services
    come from the gateway's exporter without a mesh (per upstream address), from the mesh with one."""
    panels, y, panel_id = [], 0, 1
    for program in programs:
        panels.append({"id": panel_id, "type": "row", "title": program, "collapsed": False,
                       "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
        panel_id, y = panel_id + 1, y + 1
        for i, (title, name, unit) in enumerate(PANELS):
            if program == gateway and name in ("requests", "latency_p99", "error_ratio"):
                name = f"gateway_{name}"   # per gateway instance, from its exporter
            expression = query(name, mesh, namespace, program)
            legend = "{{upstream}}" if "by (upstream" in expression else "{{pod}}"
            panels.append(_panel(panel_id, f"{program}: {title}", [{"refId": "A", "expr": expression,
                                                                     "legendFormat": legend}], unit,
                                 (i % 3) * WIDTH, y + (i // 3) * HEIGHT))
            panel_id += 1
        y += 2 * HEIGHT
        bounds = [{"refId": ref, "expr": query(name, mesh, namespace, program), "legendFormat": legend}
                  for ref, name, legend in (("A", "replicas", "replicas"), ("B", "replicas_min", "min"),
                                            ("C", "replicas_max", "max"))]
        panels.append(_panel(panel_id, f"{program}: replicas against the autoscaler's bounds", bounds, "none",
                             0, y, 24))
        panel_id, y = panel_id + 1, y + HEIGHT
    return {"uid": UID, "title": f"apigw: instances ({namespace})", "schemaVersion": 39, "editable": False,
            "time": {"from": "now-1h", "to": "now"}, "refresh": "30s", "tags": ["apigw"], "panels": panels}


def queries(board: dict) -> list[str]:
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
