"""The services' secret settings in Secret Manager, read by each service's own Kubernetes ServiceAccount through
workload identity and GKE's Secret Manager add-on (the cluster's secret_manager_config).

    apigw:gcp:SecretManagerSecrets  <name>
    ├── secretmanager.Secret           <name>-<svc>-<KEY>  (values) <project>-<stack>-<svc>-<KEY>, replicated by Google
    ├── secretmanager.SecretVersion    <name>-<svc>-<KEY>  (values) the value, a Pulumi secret
    └── secretmanager.SecretIamMember  <name>-<svc>-<KEY>  roles/secretmanager.secretAccessor on that one secret, for
                                                            principal://.../subject/ns/<namespace>/sa/<svc> only

A reference (`{secret_ref: projects/<p>/secrets/<name>[/versions/<v>]}`) names a secret the stack does not own: the
service's ServiceAccount is granted that secret only (the deploying identity needs secretmanager.secrets.setIamPolicy
on it). The add-on writes files only (it cannot sync a Kubernetes Secret): each service mounts one SecretProviderClass
`<svc>-secret-manager` (provider gke) at /var/run/secrets/store/secret-manager, one file per setting named after it,
and `<KEY>_FILE` names the file (components/kubernetes/secret_delivery.py). The stack's values are pinned to the
version it wrote: a new value is a new version, and the pods roll; references mount the version they name (latest
by default), read when a pod starts.
"""
from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import yaml

from ..kubernetes.args import SecretStoreArgs, ServiceIdentityArgs
from ..kubernetes.secret_delivery import account_name
from .args import SecretManagerSecretsArgs
from .secret_refs import parse_ref, secret_id

ACCESSOR = "roles/secretmanager.secretAccessor"
STORE = "secret-manager"
PROVIDER, DRIVER = "gke", "secrets-store-gke.csi.k8s.io"
"""GKE's Secret Manager add-on: its SecretProviderClass provider and its CSI driver."""


def principal(project_number: str, project: str, namespace: str, service: str) -> str:
    """The service's Kubernetes ServiceAccount as an IAM principal (workload identity federation for GKE)."""
    return (f"principal://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/"
            f"{project}.svc.id.goog/subject/ns/{namespace}/sa/{account_name(service)}")


def provider_secrets(secrets: list[tuple[str, str]]) -> str:
    """(resource name with its version, file) as the add-on's `secrets` parameter (a YAML list)."""
    return yaml.safe_dump([{"resourceName": name, "path": file} for name, file in secrets], sort_keys=False)


class SecretManagerSecrets(pulumi.ComponentResource):
    TYPE = "apigw:gcp:SecretManagerSecrets"

    def __init__(self, name: str, args: SecretManagerSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.grants: list[gcp.secretmanager.SecretIamMember] = []
        self.stores: dict[str, SecretStoreArgs] = {}
        for service in args.services:
            self.stores[service.service] = self._service(name, args, service, child)
        self.register_outputs({})

    def service_fields(self, service) -> dict:
        """A spec service's ServiceArgs fields (workloads_args's `secrets`): its store and its own ServiceAccount."""
        if service.name not in self.stores:
            return {}
        return {"store_secrets": [self.stores[service.name]], "identity": ServiceIdentityArgs()}

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What the pods need before they start: each ServiceAccount's grants."""
        return list(self.grants)

    def _service(self, name: str, args: SecretManagerSecretsArgs, service,
                 child: pulumi.ResourceOptions) -> SecretStoreArgs:
        prefix = f"{name}-{service.service}"
        member = pulumi.Output.from_input(args.project_number).apply(
            lambda number: principal(number, args.project, args.namespace, service.service))
        files: list[tuple[pulumi.Input[str], str]] = []
        pinned = []
        for key, value in sorted(service.values.items()):
            secret = gcp.secretmanager.Secret(
                f"{prefix}-{key}", project=args.project, secret_id=secret_id(args.secret_prefix, service.service, key),
                replication={"auto": {}}, opts=child)
            version = gcp.secretmanager.SecretVersion(f"{prefix}-{key}", secret=secret.id,
                                                      secret_data=pulumi.Output.secret(value), opts=child)
            self.grants.append(gcp.secretmanager.SecretIamMember(
                f"{prefix}-{key}", project=args.project, secret_id=secret.secret_id, role=ACCESSOR, member=member,
                opts=child))
            files.append((version.name, key))
            pinned.append(version.name)
        for key, ref in sorted(service.refs.items()):
            parsed = parse_ref(ref)
            self.grants.append(gcp.secretmanager.SecretIamMember(
                f"{prefix}-{key}", project=parsed.project, secret_id=parsed.secret, role=ACCESSOR, member=member,
                opts=child))
            files.append((parsed.resource_name, key))
        names = pulumi.Output.all(*(resource for resource, _ in files))
        return SecretStoreArgs(
            name=STORE, provider=PROVIDER, driver=DRIVER, files={key: key for _, key in files},
            parameters={"secrets": names.apply(lambda resolved: provider_secrets(
                [(resource, key) for resource, (_, key) in zip(resolved, files, strict=True)]))},
            revision=pulumi.Output.all(*pinned).apply(",".join) if pinned else None)
