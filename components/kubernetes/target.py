"""The kubernetes target's contract: the workloads on an existing cluster (the current kubeconfig)."""
from __future__ import annotations

from ..phases import PHASES
from ..secrets import check_refs, kubernetes_ref
from ..targets import NEUTRAL_KEYS, Target
from ..validation import Problems
from .options import check_kubernetes_spec, parse_kubernetes_options

# Istio's names for the spec's algorithms (DestinationRule trafficPolicy.loadBalancer), which
# components/kubernetes/workloads.py writes: the algorithms honoured with istio are its keys.
ISTIO_LB = {"round_robin": {"simple": "ROUND_ROBIN"}, "least_connections": {"simple": "LEAST_REQUEST"},
            "random": {"simple": "RANDOM"}, "source_ip_hash": {"consistentHash": {"useSourceIp": True}}}
ISTIO_ALGORITHMS = tuple(ISTIO_LB)
# kube-proxy spreads connections and cannot be tuned; a mesh can (Linkerd always balances by EWMA).
MESH_ALGORITHMS = {"none": ("round_robin",), "istio": ISTIO_ALGORITHMS, "linkerd": ("ewma",)}
MESH_NOTES = {"linkerd": "Linkerd balances by latency (EWMA) and has no algorithm setting: leave "
                         "load_balancer.algorithm out",
              "istio": "Istio's DestinationRule load balancers"}
"""Why each mesh allows the algorithms it does (every Kubernetes-based target shows these)."""

NOT_HONOURED = {
    "region": "a cluster has no region here: the kubeconfig context says where it runs",
    "services.*.command": "Kubernetes runs the image's own command; `command` is for the local target",
    "load_balancer.health_check.matcher": "kubelet probes count any status from 200 to 399 as healthy",
    "monitoring.alarm_topic": "alerts go to the cluster's Alertmanager, configured outside this stack",
}

def check_spec(spec, p: Problems) -> None:
    check_kubernetes_spec(spec, p)
    check_refs(p, spec, kubernetes_ref, "<Secret name>/<key>: a key of a Secret that exists in the workloads' "
                                        "namespace (kubernetes.namespace)")


TARGET = Target(
    name="kubernetes",
    default_region="",
    phases=PHASES,
    phase_reason="",
    algorithms=MESH_ALGORITHMS,
    algorithm_notes=MESH_NOTES,
    metrics_backends=("kube-prometheus-stack",),
    option_blocks=("kubernetes",),
    parse_options=lambda blocks, p, spec: parse_kubernetes_options(blocks["kubernetes"], p, spec),
    check_spec=check_spec,
    builder=".kubernetes.platform",
    offline_mocks="tools.mocks.kubernetes",
    honoured_keys=tuple(key for key in NEUTRAL_KEYS if key not in NOT_HONOURED),
    notes=NOT_HONOURED,
)
