"""The service mesh: its control plane (pinned Helm charts), and each service's routing in it.

    apigw:kubernetes:MeshControlPlane  <name>-mesh
    istio:   Release base, istiod (sidecars through the Istio CNI: restricted Pod Security holds),
             Release cni (kube-system), PeerAuthentication default STRICT (mesh-wide mTLS)
    linkerd: Namespaces linkerd, linkerd-cni; tls PrivateKey/SelfSignedCert (trust anchor),
             PrivateKey/CertRequest/LocallySignedCert (issuer); Release linkerd-crds, linkerd2-cni,
             linkerd-control-plane

Per service (`routing`): istio: a DestinationRule (the spec's algorithm, outlier detection,
connection-pool limits) and a VirtualService (timeout; retries on idempotent methods only);
linkerd: two HTTPRoutes on the Service (timeout; retries on idempotent methods only). With a mesh
the gateway's nginx calls each Service by name and does not retry: the mesh balances and retries.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from ..gateway.nginx import PROXY_READ_TIMEOUT_S
from .args import MeshArgs
from .target import ISTIO_LB

ISTIO_VERSION = "1.30.3"
ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts"
ISTIO_NAMESPACE = "istio-system"
ISTIOD_PORT = 15012
"""Sidecars fetch their config and certificates from istiod on this port."""
LINKERD_VERSION = "2026.8.3"
"""The charts of Linkerd edge-26.8.3 (Linkerd publishes open-source charts on its edge channel)."""
LINKERD_REPO = "https://helm.linkerd.io/edge"
LINKERD_NAMESPACE, LINKERD_CNI_NAMESPACE = "linkerd", "linkerd-cni"
LINKERD_CONTROL_PORTS = (8080, 8086, 8090)
"""identity, destination and policy: what every meshed pod's proxy reaches in the linkerd namespace."""
LINKERD_INBOUND_PORT = 4143
"""Meshed traffic arrives at the proxy's inbound port: NetworkPolicies must admit it between meshed pods."""
GKE_CNI_BIN_DIR = "/home/kubernetes/bin"
"""Where GKE keeps CNI plugins (both meshes' CNI default to /opt/cni/bin)."""
IDEMPOTENT_METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
MESH_TIMEOUT_S = PROXY_READ_TIMEOUT_S - 2
"""The mesh gives up on a service before the gateway does, so the gateway answers with the mesh's 504."""
RETRY_ATTEMPTS, PER_TRY_TIMEOUT_S = 2, 10


def istio_values(args: MeshArgs) -> dict[str, dict]:
    """Chart -> values. Sidecar injection uses the CNI (no NET_ADMIN init container) and RuntimeDefault
    seccomp, so injected pods keep to the `restricted` Pod Security the namespace enforces."""
    cni: dict = {"cni": {"cniBinDir": GKE_CNI_BIN_DIR}, "global": {"platform": "gke"}} if args.platform == "gke" else {}
    return {
        "base": {"defaultRevision": "default"},
        "istiod": {"pilot": {"cni": {"enabled": True}},
                   "global": {"proxy": {"seccompProfile": {"type": "RuntimeDefault"}}},
                   "meshConfig": {"enablePrometheusMerge": True}},
        "cni": cni,
    }


def linkerd_values(args: MeshArgs, trust_anchor_pem, issuer_crt_pem, issuer_key_pem) -> dict[str, dict]:
    return {
        # Linkerd needs the Gateway API route CRDs (its HTTPRoutes carry the retries and timeouts).
        "linkerd-crds": {"installGatewayAPI": True},
        "linkerd2-cni": {"destCNIBinDir": GKE_CNI_BIN_DIR} if args.platform == "gke" else {},
        "linkerd-control-plane": {
            "cniEnabled": True, "identityTrustAnchorsPEM": trust_anchor_pem,
            "identity": {"issuer": {"tls": {"crtPEM": issuer_crt_pem, "keyPEM": issuer_key_pem}}},
            "proxy": {"capabilities": {"drop": ["ALL"]}}},
    }


class MeshControlPlane(pulumi.ComponentResource):
    TYPE = "apigw:kubernetes:MeshControlPlane"

    def __init__(self, name: str, args: MeshArgs, opts: pulumi.ResourceOptions | None = None):
        if args.kind not in ("istio", "linkerd"):
            raise ValueError(f"MeshArgs: kind {args.kind!r} is not one of istio, linkerd")
        super().__init__(self.TYPE, name, None, opts)
        self.releases: dict[str, k8s.helm.v3.Release] = {}
        if args.kind == "istio":
            self._istio(name, args)
        else:
            self._linkerd(name, args)
        self.register_outputs({})

    def _release(self, name: str, chart: str, version: str, repo: str, namespace: str, values, depends_on=(),
                 create_namespace: bool = False) -> k8s.helm.v3.Release:
        release = k8s.helm.v3.Release(
            f"{name}-{chart}", name=chart, chart=chart, version=version, repository_opts={"repo": repo},
            namespace=namespace, create_namespace=create_namespace, values=values,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)))
        self.releases[chart] = release
        return release

    def _istio(self, name: str, args: MeshArgs) -> None:
        values = istio_values(args)
        base = self._release(name, "base", ISTIO_VERSION, ISTIO_REPO, ISTIO_NAMESPACE, values["base"],
                             create_namespace=True)
        # The node agent must run before meshed pods start on a node.
        cni = self._release(name, "cni", ISTIO_VERSION, ISTIO_REPO, "kube-system", values["cni"], [base])
        istiod = self._release(name, "istiod", ISTIO_VERSION, ISTIO_REPO, ISTIO_NAMESPACE, values["istiod"],
                               [base, cni])
        self.strict_mtls = k8s.apiextensions.CustomResource(
            f"{name}-strict-mtls", api_version="security.istio.io/v1", kind="PeerAuthentication",
            metadata={"name": "default", "namespace": ISTIO_NAMESPACE, "labels": dict(args.labels)},
            spec={"mtls": {"mode": "STRICT"}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[istiod]))
        self.ready = [istiod, cni]

    def _linkerd(self, name: str, args: MeshArgs) -> None:
        import pulumi_tls as tls
        child = pulumi.ResourceOptions(parent=self)
        namespaces = [k8s.core.v1.Namespace(f"{name}-{namespace}", opts=child,
                                            metadata={"name": namespace, "labels": {**args.labels, **labels}})
                      for namespace, labels in (
                          (LINKERD_NAMESPACE, {"linkerd.io/is-control-plane": "true",
                                               "config.linkerd.io/admission-webhooks": "disabled",
                                               "pod-security.kubernetes.io/enforce": "restricted"}),
                          # The CNI agent installs plugins on each node: a host path, so privileged.
                          (LINKERD_CNI_NAMESPACE, {"config.linkerd.io/admission-webhooks": "disabled",
                                                   "linkerd.io/cni-resource": "true",
                                                   "pod-security.kubernetes.io/enforce": "privileged"}))]
        # The trust anchor and the issuer are resources, never pasted-in PEMs: Linkerd requires ECDSA P-256.
        anchor_key = tls.PrivateKey(f"{name}-trust-anchor-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        self.trust_anchor = tls.SelfSignedCert(
            f"{name}-trust-anchor", private_key_pem=anchor_key.private_key_pem, is_ca_certificate=True,
            subject={"common_name": "root.linkerd.cluster.local"}, set_subject_key_id=True,
            validity_period_hours=args.trust_anchor_validity_hours,
            allowed_uses=["cert_signing", "crl_signing"], opts=child)
        issuer_key = tls.PrivateKey(f"{name}-issuer-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        request = tls.CertRequest(f"{name}-issuer-request", private_key_pem=issuer_key.private_key_pem,
                                  subject={"common_name": "identity.linkerd.cluster.local"}, opts=child)
        self.issuer = tls.LocallySignedCert(
            f"{name}-issuer", cert_request_pem=request.cert_request_pem, ca_cert_pem=self.trust_anchor.cert_pem,
            ca_private_key_pem=anchor_key.private_key_pem, is_ca_certificate=True, set_subject_key_id=True,
            validity_period_hours=args.issuer_validity_hours,
            allowed_uses=["cert_signing", "crl_signing"], opts=child)
        values = linkerd_values(args, self.trust_anchor.cert_pem, self.issuer.cert_pem,
                                pulumi.Output.secret(issuer_key.private_key_pem))
        crds = self._release(name, "linkerd-crds", LINKERD_VERSION, LINKERD_REPO, LINKERD_NAMESPACE,
                             values["linkerd-crds"], namespaces)
        cni = self._release(name, "linkerd2-cni", LINKERD_VERSION, LINKERD_REPO, LINKERD_CNI_NAMESPACE,
                            values["linkerd2-cni"], namespaces)
        control_plane = self._release(name, "linkerd-control-plane", LINKERD_VERSION, LINKERD_REPO,
                                      LINKERD_NAMESPACE, values["linkerd-control-plane"], [crds, cni])
        self.ready = [control_plane, cni]


def routing(name: str, mesh: str, service: str, namespace: str, port: int, algorithm: str, labels: dict,
            outlier_failures: int, outlier_interval_s: int, opts: pulumi.ResourceOptions) -> list:
    """A service's routing in the mesh (see the module docstring); `port` is its ClusterIP Service's."""
    host = f"{service}.{namespace}.svc.cluster.local"
    meta = {"namespace": namespace, "labels": labels}
    timeout = f"{MESH_TIMEOUT_S}s"
    if mesh == "istio":
        destination = {"host": host, "port": {"number": port}}
        retry = {"attempts": RETRY_ATTEMPTS, "perTryTimeout": f"{PER_TRY_TIMEOUT_S}s"}
        return [
            k8s.apiextensions.CustomResource(
                f"{name}-{service}-destination-rule", api_version="networking.istio.io/v1", kind="DestinationRule",
                metadata={"name": service, **meta},
                spec={"host": host, "trafficPolicy": {
                    "loadBalancer": ISTIO_LB[algorithm],
                    "connectionPool": {"tcp": {"maxConnections": 1024, "connectTimeout": "2s"},
                                       "http": {"http1MaxPendingRequests": 1024, "http2MaxRequests": 1024}},
                    # An instance that keeps failing leaves the rotation, as the probes would take it out.
                    "outlierDetection": {"consecutive5xxErrors": outlier_failures,
                                         "interval": f"{outlier_interval_s}s", "baseEjectionTime": "30s",
                                         "maxEjectionPercent": 50}}},
                opts=opts),
            k8s.apiextensions.CustomResource(
                f"{name}-{service}-virtual-service", api_version="networking.istio.io/v1", kind="VirtualService",
                metadata={"name": service, **meta},
                spec={"hosts": [host], "http": [
                    # Only idempotent requests are retried on a 5xx: the first attempt may have acted.
                    {"name": "idempotent", "match": [{"method": {"exact": m}} for m in IDEMPOTENT_METHODS],
                     "route": [{"destination": destination}], "timeout": timeout,
                     "retries": {**retry, "retryOn": "connect-failure,refused-stream,unavailable,5xx"}},
                    # Others only when the request never reached the service.
                    {"name": "other", "route": [{"destination": destination}], "timeout": timeout,
                     "retries": {**retry, "retryOn": "connect-failure,refused-stream"}}]},
                opts=opts),
        ]
    parent = [{"group": "", "kind": "Service", "name": service, "port": port}]  # GAMMA: a route on a Service
    rule = {"backendRefs": [{"name": service, "port": port}], "timeouts": {"request": timeout}}
    return [
        k8s.apiextensions.CustomResource(
            f"{name}-{service}-idempotent-route", api_version="gateway.networking.k8s.io/v1", kind="HTTPRoute",
            metadata={"name": f"{service}-idempotent", **meta, "annotations": {
                "retry.linkerd.io/http": "5xx", "retry.linkerd.io/limit": str(RETRY_ATTEMPTS),
                "retry.linkerd.io/timeout": f"{PER_TRY_TIMEOUT_S}s"}},
            spec={"parentRefs": parent, "rules": [{**rule, "matches": [{"method": m} for m in IDEMPOTENT_METHODS]}]},
            opts=opts),
        k8s.apiextensions.CustomResource(
            f"{name}-{service}-route", api_version="gateway.networking.k8s.io/v1", kind="HTTPRoute",
            metadata={"name": service, **meta}, spec={"parentRefs": parent, "rules": [rule]}, opts=opts),
    ]
