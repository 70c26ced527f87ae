"""The services' secret settings in Key Vault, read by each service's own identity through AKS's Key Vault provider
for the Secrets Store CSI driver (the add-on azureKeyvaultSecretsProvider) and workload identity.

    apigw:azure:KeyVaultSecrets  <name>
    ├── Vault                        kv-<project>...     (values) the stack's vault: Azure RBAC, soft delete
    ├── Secret                       <name>-<svc>-<KEY>  (values) a value, a Pulumi secret, as <svc>-<KEY with '-'>
    ├── UserAssignedIdentity         <name>-<svc>        per service with secrets: its identity
    ├── FederatedIdentityCredential  <name>-<svc>        trusts the cluster's tokens of system:serviceaccount:<ns>:<svc>
    └── RoleAssignment               <name>-<svc>-<KEY>  Key Vault Secrets User on that one secret, for that identity

A reference (`{secret_ref: <a Key Vault secret's resource id>}`) names a secret the stack does not own: the service's
identity is granted that secret only. Each service then mounts one SecretProviderClass per vault (the stack's
`key-vault`, and `kv-<vault>` per referenced vault) through the Kubernetes workloads component
(components/kubernetes/secret_delivery.py); the driver keeps a Kubernetes Secret in step with the files, which the
container reads as environment variables (`DB_PASSWORD`, as on the other targets). The stack's values are pinned to
the version it wrote: a new value is a new version, and the pods roll; references follow the latest version.
"""
from __future__ import annotations

import json
import re

import pulumi
import pulumi_azure_native as azure

from ..kubernetes.args import SecretStoreArgs, ServiceIdentityArgs
from ..kubernetes.secret_delivery import account_name
from .args import KeyVaultSecretsArgs
from .cluster import role_definition
from .options import KEY_VAULT_SECRETS_USER
from .secret_refs import parse_ref, vault_secret_name

TOKEN_AUDIENCE = "api://AzureADTokenExchange"
"""The audience of the tokens workload identity exchanges (AKS's and Entra ID's fixed value)."""
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
OWN_STORE = "key-vault"


def vault_resource_name(project: str) -> str:
    """The vault's Pulumi name: azure-native adds 8 random characters, and Key Vault allows 24 (a letter first)."""
    return f"kv-{re.sub(r'[^a-z0-9]', '', project.lower())[:12]}"


def key_vault_objects(objects: list[tuple[str, str, str]]) -> str:
    """(secret name, version or "", file) as the provider's `objects` parameter: an array of YAML documents."""
    lines = ["array:"]
    for name, version, alias in objects:
        lines += ["  - |", f"    objectName: {json.dumps(name)}", '    objectType: "secret"',
                  f"    objectVersion: {json.dumps(version)}", f"    objectAlias: {json.dumps(alias)}"]
    return "\n".join(lines) + "\n"


class KeyVaultSecrets(pulumi.ComponentResource):
    TYPE = "apigw:azure:KeyVaultSecrets"

    def __init__(self, name: str, args: KeyVaultSecretsArgs, project: str,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        where = args.placement
        common = {"resource_group_name": where.resource_group_name, "location": where.location, "tags": where.tags}
        self.vault = None
        if any(s.values for s in args.services):
            properties = {"tenant_id": args.tenant_id, "sku": {"family": "A", "name": "standard"},
                          "enable_rbac_authorization": True, "enable_soft_delete": True}
            if args.purge_protection:
                properties["enable_purge_protection"] = True  # Key Vault refuses `false`: left out instead
            self.vault = azure.keyvault.Vault(vault_resource_name(project), **common, properties=properties,
                                              opts=child)
        self.identities: dict[str, azure.managedidentity.UserAssignedIdentity] = {}
        self.credentials: list[azure.managedidentity.FederatedIdentityCredential] = []
        self.grants: list[azure.authorization.RoleAssignment] = []
        self.stores: dict[str, list[SecretStoreArgs]] = {}
        for service in args.services:
            self.stores[service.service] = self._service(name, args, service, common, child)
        self.register_outputs({"vault": self.vault.name if self.vault else None})

    def service_fields(self, service) -> dict:
        """A spec service's ServiceArgs fields (workloads_args's `secrets`): its stores and its own identity."""
        if service.name not in self.stores:
            return {}
        identity = self.identities[service.name]
        return {"store_secrets": self.stores[service.name],
                "identity": ServiceIdentityArgs(annotations={CLIENT_ID_ANNOTATION: identity.client_id})}

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What the pods need before they start: each identity's grants and federated credential."""
        return [*self.grants, *self.credentials]

    def _service(self, name: str, args: KeyVaultSecretsArgs, service, common: dict,
                 child: pulumi.ResourceOptions) -> list[SecretStoreArgs]:
        prefix = f"{name}-{service.service}"
        identity = azure.managedidentity.UserAssignedIdentity(prefix, **common, opts=child)
        self.identities[service.service] = identity
        credential = azure.managedidentity.FederatedIdentityCredential(
            prefix, resource_group_name=common["resource_group_name"], resource_name_=identity.name,
            issuer=args.oidc_issuer_url, audiences=[TOKEN_AUDIENCE],
            subject=f"system:serviceaccount:{args.namespace}:{account_name(service.service)}", opts=child)
        self.credentials.append(credential)
        reader = {"principal_id": identity.principal_id, "principal_type": "ServicePrincipal",
                  "role_definition_id": role_definition(args.subscription_id, KEY_VAULT_SECRETS_USER)}
        parameters = {"usePodIdentity": "false", "clientID": identity.client_id, "tenantID": args.tenant_id}
        stores = []
        if service.values:
            versions = []
            for key, value in sorted(service.values.items()):
                secret = azure.keyvault.Secret(
                    f"{prefix}-{key}", resource_group_name=common["resource_group_name"], vault_name=self.vault.name,
                    secret_name=vault_secret_name(service.service, key), tags=common["tags"],
                    properties={"value": pulumi.Output.secret(value)}, opts=child)
                self.grants.append(azure.authorization.RoleAssignment(f"{prefix}-{key}", scope=secret.id, **reader,
                                                                      opts=child))
                # The version id is no secret (the value it holds is): it pins the file and rolls the pods.
                versions.append(pulumi.Output.unsecret(secret.properties.apply(
                    lambda p: p.secret_uri_with_version.rstrip("/").rsplit("/", 1)[-1])))
            objects = pulumi.Output.all(*versions).apply(lambda pinned: key_vault_objects(
                [(vault_secret_name(service.service, key), version, key)
                 for key, version in zip(sorted(service.values), pinned, strict=True)]))
            stores.append(SecretStoreArgs(
                name=OWN_STORE, provider="azure", sync_secret=True, files={key: key for key in service.values},
                parameters={**parameters, "keyvaultName": self.vault.name, "objects": objects},
                revision=pulumi.Output.all(*versions).apply(lambda pinned: ",".join(pinned))))
        by_vault: dict[str, dict[str, str]] = {}
        for key, ref in sorted(service.refs.items()):
            parsed = parse_ref(ref)
            self.grants.append(azure.authorization.RoleAssignment(f"{prefix}-{key}", scope=parsed.id, **reader,
                                                                  opts=child))
            by_vault.setdefault(parsed.vault, {})[key] = parsed.secret
        for vault, secrets in sorted(by_vault.items()):
            stores.append(SecretStoreArgs(
                name=f"kv-{vault}", provider="azure", sync_secret=True, files={key: key for key in secrets},
                parameters={**parameters, "keyvaultName": vault,
                            "objects": key_vault_objects([(secret, "", key) for key, secret in secrets.items()])}))
        return stores
