"""Fake answers for the offline plan of the Kubernetes workloads (every Kubernetes-based target):
what the `tls` provider computes for Linkerd's trust anchor and issuer. The PEMs are placeholders
shaped like real ones; nothing here is a usable key or certificate."""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable


def _pem(kind: str, seed: str) -> str:
    body = base64.b64encode(hashlib.sha256(f"{kind}:{seed}".encode()).digest() * 2).decode()
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


def autoname(resource_name: str) -> str:
    """A stand-in for the name Pulumi gives an object without metadata.name at `up`: <resource name>-<8
    characters> (random there, derived from the resource name here so plans and manifests are stable)."""
    return f"{resource_name}-{hashlib.sha256(resource_name.encode()).hexdigest()[:8]}"


def _autonamed(args) -> dict:
    metadata = dict(args.inputs.get("metadata") or {})
    metadata["name"] = metadata.get("name") or autoname(args.name)
    return {"metadata": metadata}


MOCK_OUTPUTS: dict[str, Callable] = {
    "kubernetes:core/v1:Secret": _autonamed,
    "tls:index/privateKey:PrivateKey": lambda args: {
        "privateKeyPem": _pem("EC PRIVATE KEY", args.name), "publicKeyPem": _pem("PUBLIC KEY", args.name)},
    "tls:index/selfSignedCert:SelfSignedCert": lambda args: {"certPem": _pem("CERTIFICATE", args.name)},
    "tls:index/certRequest:CertRequest": lambda args: {"certRequestPem": _pem("CERTIFICATE REQUEST", args.name)},
    "tls:index/locallySignedCert:LocallySignedCert": lambda args: {"certPem": _pem("CERTIFICATE", args.name)},
}
MOCK_CALLS: dict[str, Callable] = {}
