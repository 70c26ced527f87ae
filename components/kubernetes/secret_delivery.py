"""Settings a service reads from an external secret store, through a Secrets Store CSI driver, as its own
ServiceAccount: the pieces BackendService adds to a service with `store_secrets` or an `identity`.

    apigw:kubernetes:BackendService <name>
    ├── ServiceAccount       <name>-account          (identity) named after the service; no token mounted
    └── SecretProviderClass  <name>-<store>          per store: which secrets the driver fetches, as which files

Each store is a read-only CSI volume at /var/run/secrets/store/<store>, one file per setting, fetched when a
pod starts, with the pod's ServiceAccount (the CSI driver asks the kubelet for its token: the container
itself gets none). The container reads each setting as an environment variable: from a Kubernetes Secret
`<service>-<store>` that the driver keeps in step with the files (`sync_secret`, the class's secretObjects;
the driver makes it when a pod mounts the volume, before the container starts), or, where the driver cannot
(GKE's Secret Manager add-on), `<KEY>_FILE` names the file. The target (components/azure/secrets.py,
components/gcp/secrets.py) gives the provider's parameters and grants the identity its secrets only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .args import PodSettings, SecretStoreArgs, ServiceArgs
from .options import SECRET_FILE_SUFFIX
from .workload import metadata

STORE_MOUNT = "/var/run/secrets/store"
STORE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
"""A store's name: its volume is `store-<name>`, a DNS label."""
CLASS_API = "secrets-store.csi.x-k8s.io/v1"
REVISION_ANNOTATION = "secret-versions/"


def account_name(service: str) -> str:
    """The service's own ServiceAccount: what the store's identity trusts (its subject is
    system:serviceaccount:<namespace>:<service>)."""
    return service


def class_name(service: str, store: str) -> str:
    """The SecretProviderClass, and the Kubernetes Secret the driver keeps in step with it (sync_secret)."""
    return f"{service}-{store}"


def file_path(store: str, file: str) -> str:
    return f"{STORE_MOUNT}/{store}/{file}"


def file_variable(key: str) -> str:
    """The environment variable naming the file of `key` when the driver cannot make it a variable itself."""
    return f"{key}{SECRET_FILE_SUFFIX}"


@dataclass
class Delivery:
    """What the service's pod gets: its ServiceAccount, volumes, mounts, environment and annotations."""

    account: k8s.core.v1.ServiceAccount | None = None
    account_name: str = ""
    classes: list[k8s.apiextensions.CustomResource] = field(default_factory=list)
    env: list[dict] = field(default_factory=list)
    volumes: list[dict] = field(default_factory=list)
    mounts: list[dict] = field(default_factory=list)
    pod_annotations: dict = field(default_factory=dict)

    @property
    def resources(self) -> list[pulumi.Resource]:
        """What the pods need before they start (the Deployment waits for them)."""
        return [r for r in (self.account, *self.classes) if r is not None]

    def pod(self, spec: dict) -> dict:
        """The pod spec with the service's own ServiceAccount (unchanged without one)."""
        return {**spec, "serviceAccountName": self.account_name} if self.account is not None else spec


def deliver(name: str, service: ServiceArgs, pods: PodSettings, child: pulumi.ResourceOptions) -> Delivery:
    """The ServiceAccount (identity) and one SecretProviderClass per store; nothing without either."""
    out = Delivery()
    if service.identity is not None:
        meta = metadata(pods, account_name(service.name), service.name, "service")
        out.account_name = account_name(service.name)
        if service.identity.annotations:
            meta["annotations"] = dict(service.identity.annotations)
        out.account = k8s.core.v1.ServiceAccount(f"{name}-account", metadata=meta,
                                                 automount_service_account_token=False, opts=child)
    for store in service.store_secrets:
        out.classes.append(_provider_class(name, service.name, store, pods, child))
        volume = f"store-{store.name}"
        out.volumes.append({"name": volume, "csi": {"driver": store.driver, "readOnly": True,
                                                    "volumeAttributes": {"secretProviderClass":
                                                                         class_name(service.name, store.name)}}})
        out.mounts.append({"name": volume, "mountPath": f"{STORE_MOUNT}/{store.name}", "readOnly": True})
        out.env += [_variable(service.name, store, key, file) for key, file in sorted(store.files.items())]
        if store.revision is not None:
            out.pod_annotations[f"{REVISION_ANNOTATION}{store.name}"] = store.revision
    return out


def store_problems(service: ServiceArgs) -> list[str]:
    """What `deliver` cannot honour: a store name that is no short DNS label or is used twice, an environment
    variable set twice (plain, secret or from a store)."""
    prefix = f"services[{service.name}].store_secrets"
    names = [store.name for store in service.store_secrets]
    problems = [f"{prefix}: {name!r} is not a DNS label of at most 40 characters" for name in names
                if not STORE_NAME.match(name)]
    problems += [f"{prefix}: {name!r} twice" for name in sorted({n for n in names if names.count(n) > 1})]
    variables = [*service.environment, *service.secrets, *service.secret_refs,
                 *(key if store.sync_secret else file_variable(key) for store in service.store_secrets
                   for key in store.files)]
    problems += [f"services[{service.name}]: environment variable {key} set twice"
                 for key in sorted({k for k in variables if variables.count(k) > 1})]
    return problems


def _variable(service: str, store: SecretStoreArgs, key: str, file: str) -> dict:
    if store.sync_secret:
        return {"name": key, "valueFrom": {"secretKeyRef": {"name": class_name(service, store.name), "key": key}}}
    return {"name": file_variable(key), "value": file_path(store.name, file)}


def _provider_class(name: str, service: str, store: SecretStoreArgs, pods: PodSettings,
                    child: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    spec: dict = {"provider": store.provider, "parameters": dict(store.parameters)}
    if store.sync_secret:
        meta = metadata(pods, "", service, "service")
        spec["secretObjects"] = [{
            "secretName": class_name(service, store.name), "type": "Opaque", "labels": meta["labels"],
            "data": [{"objectName": file, "key": key} for key, file in sorted(store.files.items())]}]
    return k8s.apiextensions.CustomResource(
        f"{name}-{store.name}", api_version=CLASS_API, kind="SecretProviderClass",
        metadata=metadata(pods, class_name(service, store.name), service, "service"), spec=spec, opts=child)
