"""The azure target's contract: Application Gateway v2 -> AKS (the Kubernetes workloads)."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..kubernetes.options import KubernetesOptions, check_kubernetes_spec, parse_external_workloads
from ..kubernetes.target import MESH_ALGORITHMS, MESH_NOTES
from ..phases import PHASES
from ..targets import NEUTRAL_KEYS, Target
from ..validation import Problems
from .options import AzureOptions, check_azure_spec, parse_azure_options
from .secret_refs import check_secrets


def parse_options(blocks: dict, p: Problems, spec):
    workloads = parse_external_workloads(blocks["kubernetes"], p, spec, "azure", "the Application Gateway reaches the "
                                         "gateway through an internal load balancer (see the azure block)")
    return AzureStackOptions(parse_azure_options(blocks["azure"], p, spec), workloads)


@dataclass(frozen=True)
class AzureStackOptions:
    """The azure block, and the kubernetes block for the workloads on AKS."""

    azure: AzureOptions
    kubernetes: KubernetesOptions


def check_spec(spec, p: Problems) -> None:
    options: AzureStackOptions = spec.options
    check_azure_spec(replace(spec, options=options.azure), p)
    check_kubernetes_spec(replace(spec, options=options.kubernetes), p)
    check_secrets(p, spec)


TARGET = Target(
    name="azure",
    default_region="westeurope",
    phases=PHASES,
    phase_reason="",
    algorithms=MESH_ALGORITHMS,
    algorithm_notes={**MESH_NOTES,
                     "none": "Application Gateway balances round robin only; with mesh istio or linkerd "
                             "the algorithm applies inside the mesh, between the gateway and the services"},
    option_blocks=("azure", "kubernetes"),
    # Azure Monitor's managed Prometheus (components/azure/telemetry.py) reads azmonitoring.coreos.com
    # monitors; the rules are then Prometheus rule groups in Azure (components/azure/platform.py).
    metrics_backends=("kube-prometheus-stack", "azure-managed-prometheus"),
    parse_options=parse_options,
    check_spec=check_spec,
    builder=".azure.platform",
    honoured_keys=tuple(key for key in NEUTRAL_KEYS if key != "services.*.command"),
    offline_mocks="tools.mocks.azure",
    notes={"services.*.command": "Kubernetes runs the image's own command; `command` is for the local target"},
)
