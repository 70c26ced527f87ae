"""Custom resources checked against the CRD schemas the pinned charts ship (components/kubernetes/crds/).

Kubernetes' own kinds are checked by kubernetes-validate; custom resources (Istio's DestinationRule,
VirtualService, PeerAuthentication) only by their CRDs. The CRDs of the pinned Istio charts are kept
in the repository (copied verbatim, their source on each file's first line); a kind without one is
skipped, and the reason is said. Strict like a structural schema: a field the schema does not
declare is an error, not silently pruned by the API server.
"""
from __future__ import annotations

import functools
import pathlib
from collections import Counter
from dataclasses import dataclass, field

import jsonschema
import yaml

CRD_DIR = pathlib.Path(__file__).resolve().parents[1] / "components" / "kubernetes" / "crds"
SKIPPED = {
    "monitoring.coreos.com": "its CRD comes with kube-prometheus-stack's operator, not vendored here",
    "gateway.networking.k8s.io": "Gateway API CRDs come with linkerd-crds (installGatewayAPI), not vendored here",
    "secrets-store.csi.x-k8s.io": "its CRD comes with the cluster's Secrets Store CSI driver (AKS's and GKE's "
                                  "add-ons), not vendored here",
}


@functools.cache
def schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> the version's openAPIV3Schema, from every CRD file."""
    found = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                found[(f"{group}/{version['name']}", kind)] = strict(version["schema"]["openAPIV3Schema"])
    return found


def strict(schema: dict) -> dict:
    """The schema with `additionalProperties: false` wherever it lists properties and does not keep unknown fields."""
    if not isinstance(schema, dict):
        return schema
    out = {k: ([strict(v) for v in value] if isinstance(value, list) else strict(value) if isinstance(value, dict)
               else value) for k, value in schema.items()}
    if "properties" in out:
        out["properties"] = {k: strict(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    return out


@dataclass
class CrdReport:
    checked: list[str] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    """(kind, reason) -> count."""
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"custom resources: {len(self.checked)} checked against their CRD schemas ({CRD_DIR.name}/), "
               f"{len(self.errors)} invalid"]
        out += [f"  invalid: {error}" for error in self.errors]
        out += [f"  skipped {count} {kind}: {reason}" for (kind, reason), count in sorted(self.skipped.items())]
        return out


def check(resources) -> CrdReport:
    """Check every custom resource of a plan (CapturedResource list)."""
    report = CrdReport()
    for resource in resources:
        body = resource.inputs
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if not resource.type.startswith("kubernetes:") or not api_version or "." not in api_version.split("/")[0]:
            continue  # not a custom resource (core and k8s.io kinds are kubernetes-validate's)
        group = api_version.split("/")[0]
        if group.endswith(".k8s.io") and group != "gateway.networking.k8s.io":
            continue
        schema = schemas().get((api_version, kind))
        if schema is None:
            report.skipped[(kind, SKIPPED.get(group, f"no CRD for {api_version} in {CRD_DIR.name}/"))] += 1
            continue
        document = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata")}
        problems = sorted(jsonschema.Draft7Validator({k: v for k, v in schema.items() if k != "properties"} | {
            "properties": {k: v for k, v in schema.get("properties", {}).items()
                           if k not in ("apiVersion", "kind", "metadata")}}).iter_errors(document),
            key=lambda e: list(e.absolute_path))
        for problem in problems:
            path = ".".join(str(p) for p in problem.absolute_path) or "(top)"
            report.errors.append(f"{resource.name} ({kind}): {path}: {problem.message}")
        report.checked.append(resource.name)
    return report
