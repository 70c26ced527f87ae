"""The gcp target's contract: global external Application Load Balancer -> GKE (the Kubernetes workloads)."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..kubernetes.options import KubernetesOptions, check_kubernetes_spec, parse_external_workloads
from ..kubernetes.target import MESH_ALGORITHMS, MESH_NOTES
from ..phases import PHASES
from ..targets import NEUTRAL_KEYS, Target
from ..validation import Problems
from .options import GCP_ALGORITHMS, LOCALITY_POLICIES, GcpOptions, check_gcp_spec, parse_gcp_options
from .secret_refs import check_secrets


def parse_options(blocks: dict, p: Problems, spec):
    workloads = parse_external_workloads(blocks["kubernetes"], p, spec, "gcp", "the load balancer reaches the gateway "
                                         "through a standalone NEG (see the gcp block)")
    return GcpStackOptions(parse_gcp_options(blocks["gcp"], p, spec), workloads)


@dataclass(frozen=True)
class GcpStackOptions:
    """The gcp block, and the kubernetes block for the workloads on GKE."""

    gcp: GcpOptions
    kubernetes: KubernetesOptions


def check_spec(spec, p: Problems) -> None:
    options: GcpStackOptions = spec.options
    check_gcp_spec(replace(spec, options=options.gcp), p)
    check_kubernetes_spec(replace(spec, options=options.kubernetes), p)
    check_secrets(p, spec)


TARGET = Target(
    name="gcp",
    default_region="europe-west1",
    phases=PHASES,
    phase_reason="",
    # Without a mesh the load balancer applies the algorithm over the gateway pods; with one, the mesh
    # applies it between the gateway and the services.
    algorithms={**MESH_ALGORITHMS, "none": GCP_ALGORITHMS},
    algorithm_notes={**MESH_NOTES, "none": "the global external Application Load Balancer's locality policies: "
                     + ", ".join(f"{name} ({policy})" for name, policy in LOCALITY_POLICIES.items())
                     + "; with mesh istio or linkerd the algorithm applies inside the mesh"},
    option_blocks=("gcp", "kubernetes"),
    metrics_backends=("kube-prometheus-stack", "gke-managed-prometheus"),
    parse_options=parse_options,
    check_spec=check_spec,
    builder=".gcp.platform",
    honoured_keys=tuple(key for key in NEUTRAL_KEYS if key != "services.*.command"),
    offline_mocks="tools.mocks.gcp",
    notes={"services.*.command": "Kubernetes runs the image's own command; `command` is for the local target"},
)
