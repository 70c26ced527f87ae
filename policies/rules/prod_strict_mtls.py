"""prod-strict-mtls: with Istio, the workloads accept mutual TLS only (STRICT), never plain text.

Istio's default is PERMISSIVE: a sidecar also accepts plain text, so a pod outside the mesh (or
one that opted out) still reaches the services unauthenticated. A stack with Istio (a Namespace
labelled `istio-injection: enabled` or `istio.io/rev`, or an AKS ManagedCluster with the Istio
add-on, `serviceMeshProfile.mode: Istio`) needs a selector-less PeerAuthentication with
`spec.mtls.mode: STRICT` in the root namespace (`istio-system`; `aks-istio-system` for the AKS
add-on), conventionally named `default`, or one in each injected namespace. No PeerAuthentication
may set PERMISSIVE or DISABLE (`spec.mtls.mode` or `spec.portLevelMtls[*].mode`), and no
DestinationRule may turn client TLS off (`tls.mode: DISABLE` in `spec.trafficPolicy`, its
`portLevelSettings` or a subset's). Without Istio there is nothing to check; values unknown during a
preview count as compliant.
"""
from __future__ import annotations

from collections.abc import Iterator

from .common import Stack, dig, listed, message, show, stack_policy, target, unknown
from .kube import (
    AKS_ISTIO_ROOT_NAMESPACE,
    ISTIO_INJECTION,
    ISTIO_REVISION,
    ISTIO_ROOT_NAMESPACE,
    istio_injected,
    labels,
)
from .types import AZ_MANAGED_CLUSTER, K8S_DESTINATION_RULES, K8S_NAMESPACE, K8S_PEER_AUTHENTICATIONS

NAME = "prod-strict-mtls"
TOKENS: dict[str, tuple[str, ...]] = {
    K8S_NAMESPACE: ("metadata",), AZ_MANAGED_CLUSTER: ("serviceMeshProfile",),
    **{t: ("metadata", "spec") for t in (*K8S_PEER_AUTHENTICATIONS, *K8S_DESTINATION_RULES)}}
PLAIN_TEXT_MODES = ("PERMISSIVE", "DISABLE")
"""PeerAuthentication modes that let plain text in."""


def _mode(value) -> str | None:
    """A TLS mode as Istio reads it (upper case); None when not set or unknown."""
    return value.upper() if isinstance(value, str) and not unknown(value) else None


def _aks_istio(stack: Stack) -> list:
    return [c for c in stack.of_type(AZ_MANAGED_CLUSTER)
            if _mode(dig(stack.props[c.urn], "serviceMeshProfile.mode")) == "ISTIO"]


def _strict_for_namespace(props: dict) -> bool | None:
    """Is a PeerAuthentication namespace-wide (no selector) and STRICT? None when unknown (a preview)."""
    selector = dig(props, "spec.selector")
    mode = dig(props, "spec.mtls.mode")
    if unknown(selector) or unknown(mode) or unknown(dig(props, "metadata.namespace")):
        return None
    if isinstance(selector, dict) and (selector.get("matchLabels") or {}):
        return False  # a workload policy: it covers the selected pods only
    return _mode(mode) == "STRICT"


def _plain_text_pa(props: dict) -> Iterator[tuple[str, str]]:
    """(path, mode) of each PERMISSIVE or DISABLE mode of a PeerAuthentication."""
    if _mode(dig(props, "spec.mtls.mode")) in PLAIN_TEXT_MODES:
        yield "spec.mtls.mode", dig(props, "spec.mtls.mode")
    ports = dig(props, "spec.portLevelMtls")
    pairs = ports.items() if isinstance(ports, dict) else enumerate(listed(ports))
    for port, setting in pairs:
        if isinstance(setting, dict) and _mode(setting.get("mode")) in PLAIN_TEXT_MODES:
            yield f"spec.portLevelMtls[{port}].mode", setting["mode"]


def _tls_disabled(policy, path: str) -> Iterator[tuple[str, str]]:
    """(path, mode) of each `tls.mode: DISABLE` in a DestinationRule traffic policy and its port settings."""
    if not isinstance(policy, dict):
        return
    if _mode(dig(policy, "tls.mode")) == "DISABLE":
        yield f"{path}.tls.mode", dig(policy, "tls.mode")
    for index, setting in enumerate(listed(policy.get("portLevelSettings"))):
        port = dig(setting, "port.number", index) if isinstance(setting, dict) else index
        if isinstance(setting, dict) and _mode(dig(setting, "tls.mode")) == "DISABLE":
            yield f"{path}.portLevelSettings[{show(port)}].tls.mode", dig(setting, "tls.mode")


def _plain_text_dr(props: dict) -> Iterator[tuple[str, str]]:
    yield from _tls_disabled(dig(props, "spec.trafficPolicy"), "spec.trafficPolicy")
    for index, subset in enumerate(listed(dig(props, "spec.subsets"))):
        if isinstance(subset, dict):
            yield from _tls_disabled(subset.get("trafficPolicy"),
                                     f"spec.subsets[{subset.get('name') or index}].trafficPolicy")


def validate(args, report):
    stack = Stack(args.resources)
    clusters = _aks_istio(stack)
    roots = (ISTIO_ROOT_NAMESPACE, AKS_ISTIO_ROOT_NAMESPACE) if clusters or target() == "azure" \
        else (ISTIO_ROOT_NAMESPACE,)
    where_root = " or ".join(roots)
    policies = stack.of_type(*K8S_PEER_AUTHENTICATIONS)
    # Namespaces (by name) that a namespace-wide STRICT PeerAuthentication covers; None: one we can't place yet.
    strict = {(None if unknown(dig(stack.props[p.urn], "metadata.namespace"))
               else dig(stack.props[p.urn], "metadata.namespace") or "default")
              for p in policies if _strict_for_namespace(stack.props[p.urn]) is not False}
    mesh_wide = None in strict or bool(strict & set(roots))
    injected = [n for n in stack.of_type(K8S_NAMESPACE) if istio_injected(stack.props[n.urn])]
    for ns in injected:
        props = stack.props[ns.urn]
        name = dig(props, "metadata.name")
        if mesh_wide or unknown(name) or name in strict:
            continue
        key = ISTIO_INJECTION if labels(props).get(ISTIO_INJECTION) is not None else ISTIO_REVISION
        report(message(ns.name, ns.resource_type, f"metadata.labels[{key}]", labels(props)[key],
                       f"Istio injects namespace {show(name)} and no PeerAuthentication of the stack makes its mutual "
                       f"TLS STRICT (Istio's default, PERMISSIVE, also accepts plain text); prod needs a "
                       f"PeerAuthentication named default in the root namespace {where_root} with spec.mtls.mode: "
                       f"STRICT and no selector, or one in namespace {show(name)}", NAME), ns.urn)
    if not injected and not mesh_wide:
        for cluster in clusters:
            report(message(cluster.name, cluster.resource_type, "serviceMeshProfile.mode",
                           dig(stack.props[cluster.urn], "serviceMeshProfile.mode"),
                           "the AKS Istio add-on runs and no PeerAuthentication of the stack makes mutual TLS STRICT "
                           "(Istio's default, PERMISSIVE, also accepts plain text); prod needs a PeerAuthentication "
                           f"named default in the root namespace {AKS_ISTIO_ROOT_NAMESPACE} with spec.mtls.mode: "
                           "STRICT and no selector", NAME), cluster.urn)
    for policy in policies:
        for path, mode in _plain_text_pa(stack.props[policy.urn]):
            report(message(policy.name, policy.resource_type, path, mode,
                           "prod needs mutual TLS only: STRICT, or UNSET to inherit the mesh-wide STRICT", NAME),
                   policy.urn)
    for rule in stack.of_type(*K8S_DESTINATION_RULES):
        for path, mode in _plain_text_dr(stack.props[rule.urn]):
            report(message(rule.name, rule.resource_type, path, mode,
                           "prod needs mutual TLS to every host in the mesh: ISTIO_MUTUAL, or no tls setting (Istio "
                           "then uses mutual TLS on its own)", NAME), rule.urn)


POLICY = stack_policy(
    NAME,
    "With Istio, mutual TLS is STRICT: a mesh-wide (or per-namespace) STRICT PeerAuthentication, no PERMISSIVE or "
    "DISABLE PeerAuthentication, no DestinationRule with tls.mode DISABLE.",
    validate,
    "With `mesh: istio` keep the program's STRICT PeerAuthentication in the root namespace (istio-system, or "
    "aks-istio-system for the AKS add-on); remove PERMISSIVE/DISABLE modes and DestinationRule tls.mode DISABLE.",
)
