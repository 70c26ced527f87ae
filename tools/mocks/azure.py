"""Fake Azure answers for the offline plan: the azure target's contract names this module, and
tools/offline.py loads its MOCK_OUTPUTS and MOCK_CALLS.

Under mocks a resource's outputs are its inputs; what Azure computes is filled in here, shaped
like the real values: ARM resource ids (which other inputs embed: subnet ids, scopes), the public
IP's address and FQDN, the cluster's identity, and the user credentials as a base64 kubeconfig in
exec format (kubelogin). Nothing here is real: the ids are zero GUIDs, the address a documentation one.
"""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import yaml

SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
TENANT_ID = "11111111-1111-1111-1111-111111111111"
OBJECT_ID = "22222222-2222-2222-2222-222222222222"
PUBLIC_IP = "203.0.113.10"  # TEST-NET-3
SECRET_SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
"""Pulumi's marker of a secret value in a resource's inputs (tools/offline.py)."""
AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
"""The Entra ID application every AKS cluster's kubelogin asks a token for (the same in every tenant)."""


def _guid(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _group_id(args) -> str:
    return f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{args.inputs.get('resourceGroupName') or 'offline'}"


def _arm(kind: str, name_key: str, under: str | None = None) -> Callable:
    """An ARM-shaped id for a resource of `kind` (Microsoft.Network/virtualNetworks) named by the input
    `name_key` (Azure autonames it from the resource name otherwise); `under` names the input of
    its parent resource's name (a subnet's virtualNetworkName)."""
    provider, _, collection = kind.rpartition("/")

    def outputs(args) -> dict:
        name = args.inputs.get(name_key) or f"{args.name}{_guid(args.name)[:8]}"
        parent = f"/{args.inputs.get(under)}" if under else ""
        return {"id": f"{_group_id(args)}/providers/{provider}{parent}/{collection}/{name}", "name": name}
    return outputs


def _resource_group(args) -> dict:
    name = args.inputs.get("resourceGroupName") or args.name
    return {"id": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{name}", "name": name}


def _public_ip(args) -> dict:
    label = (args.inputs.get("dnsSettings") or {}).get("domainNameLabel")
    location = args.inputs.get("location") or "westeurope"
    fqdn = f"{label}.{_guid(TENANT_ID)[:12].replace('-', '')}.{location}.cloudapp.azure.com" if label else None
    return {**_arm("Microsoft.Network/publicIPAddresses", "publicIpAddressName")(args), "ipAddress": PUBLIC_IP,
            "dnsSettings": {**(args.inputs.get("dnsSettings") or {}), **({"fqdn": fqdn} if fqdn else {})}}


def _cluster(args) -> dict:
    return {**_arm("Microsoft.ContainerService/managedClusters", "resourceName")(args),
            "identity": {"type": "SystemAssigned", "principalId": _guid(f"{args.name}-identity"),
                         "tenantId": TENANT_ID},
            "fqdn": f"{args.inputs.get('dnsPrefix')}-offline.hcp.westeurope.azmk8s.io",
            "oidcIssuerProfile": {**(args.inputs.get("oidcIssuerProfile") or {}), "issuerURL": oidc_issuer(args.name)}}


def oidc_issuer(cluster: str) -> str:
    """The cluster's OIDC issuer, which workload identity's federated credentials trust."""
    return f"https://westeurope.oic.prod-aks.azure.com/{TENANT_ID}/{_guid(f'{cluster}-oidc')}/"


def secret_version(name: str) -> str:
    """The version id Key Vault gives a secret's value (32 hex characters)."""
    return _guid(f"{name}-version").replace("-", "")


def _key_vault_secret(args) -> dict:
    """A Key Vault secret: its ARM id under its vault, and its URIs (the version pins what pods read). Azure never
    answers with the value."""
    outputs = _arm("Microsoft.KeyVault/vaults/secrets", "secretName", under="vaultName")(args)
    uri = f"https://{args.inputs.get('vaultName')}.vault.azure.net/secrets/{outputs['name']}"
    properties = args.inputs.get("properties") or {}
    if properties.get(SECRET_SIG_KEY) == SECRET_SIG:  # the value is secret, so the SDK marks all of `properties`
        properties = properties.get("value") or {}
    properties = {k: v for k, v in properties.items() if k != "value"}
    return {**outputs, "properties": {**properties, "secretUri": uri,
                                      "secretUriWithVersion": f"{uri}/{secret_version(args.name)}"}}


def _identity(args) -> dict:
    return {**_arm("Microsoft.ManagedIdentity/userAssignedIdentities", "resourceName")(args),
            "principalId": _guid(f"{args.name}-principal"), "clientId": _guid(f"{args.name}-client"),
            "tenantId": TENANT_ID}


def _app_gateway(args) -> dict:
    outputs = _arm("Microsoft.Network/applicationGateways", "applicationGatewayName")(args)
    identity = args.inputs.get("identity")
    if identity:
        # The input lists identity ids; Azure answers with a map of id -> the identity's ids.
        outputs["identity"] = {**identity, "userAssignedIdentities": {
            ident: {"principalId": _guid(ident), "clientId": _guid(f"{ident}-client")}
            for ident in identity.get("userAssignedIdentities") or []}}
    return outputs


def _scoped(kind: str, name_key: str) -> Callable:
    """Extension resources (role assignments, locks, diagnostic settings): their id is under their scope."""
    def outputs(args) -> dict:
        name = args.inputs.get(name_key) or _guid(args.name)
        scope = args.inputs.get("scope") or args.inputs.get("resourceUri") or f"/subscriptions/{SUBSCRIPTION_ID}"
        return {"id": f"{scope}/providers/{kind}/{name}", "name": name}
    return outputs


MOCK_OUTPUTS: dict[str, Callable] = {
    "azure-native:resources:ResourceGroup": _resource_group,
    "azure-native:network:NetworkSecurityGroup": _arm("Microsoft.Network/networkSecurityGroups",
                                                      "networkSecurityGroupName"),
    "azure-native:network:VirtualNetwork": _arm("Microsoft.Network/virtualNetworks", "virtualNetworkName"),
    "azure-native:network:Subnet": _arm("Microsoft.Network/virtualNetworks/subnets", "subnetName",
                                        under="virtualNetworkName"),
    "azure-native:network:PublicIPAddress": _public_ip,
    "azure-native:network:ApplicationGateway": _app_gateway,
    "azure-native:network:WebApplicationFirewallPolicy": _arm(
        "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies", "policyName"),
    "azure-native:containerservice:ManagedCluster": _cluster,
    "azure-native:containerservice:AgentPool": _arm("Microsoft.ContainerService/managedClusters/agentPools",
                                                    "agentPoolName", under="resourceName"),
    "azure-native:managedidentity:UserAssignedIdentity": _identity,
    "azure-native:keyvault:Vault": lambda args: {
        **_arm("Microsoft.KeyVault/vaults", "vaultName")(args),
        "properties": {**(args.inputs.get("properties") or {}),
                       "vaultUri": f"https://{_arm('Microsoft.KeyVault/vaults', 'vaultName')(args)['name']}"
                                   ".vault.azure.net/"}},
    "azure-native:keyvault:Secret": _key_vault_secret,
    "azure-native:authorization:RoleAssignment": _scoped("Microsoft.Authorization/roleAssignments",
                                                         "roleAssignmentName"),
    "azure-native:authorization:ManagementLockByScope": _scoped("Microsoft.Authorization/locks", "lockName"),
    "azure-native:operationalinsights:Workspace": lambda args: {
        **_arm("Microsoft.OperationalInsights/workspaces", "workspaceName")(args), "customerId": _guid(args.name)},
    "azure-native:applicationinsights:Component": lambda args: {
        **_arm("Microsoft.Insights/components", "resourceName")(args),
        "connectionString": f"InstrumentationKey={_guid(args.name)}"},
    "azure-native:monitor:DiagnosticSetting": _scoped("Microsoft.Insights/diagnosticSettings", "name"),
    "azure-native:monitor:MetricAlert": _arm("Microsoft.Insights/metricAlerts", "ruleName"),
    "azure-native:monitor:DataCollectionRule": _arm("Microsoft.Insights/dataCollectionRules", "dataCollectionRuleName"),
    "azure-native:monitor:DataCollectionEndpoint": _arm("Microsoft.Insights/dataCollectionEndpoints",
                                                        "dataCollectionEndpointName"),
    "azure-native:monitor:DataCollectionRuleAssociation": _scoped("Microsoft.Insights/dataCollectionRuleAssociations",
                                                                  "associationName"),
    "azure-native:monitor:AzureMonitorWorkspace": _arm("Microsoft.Monitor/accounts", "azureMonitorWorkspaceName"),
    "azure-native:alertsmanagement:PrometheusRuleGroup": _arm("Microsoft.AlertsManagement/prometheusRuleGroups",
                                                              "ruleGroupName"),
}


def exec_kubeconfig(cluster: str) -> str:
    """The base64 kubeconfig AKS returns for user credentials in exec format (kubelogin, device code)."""
    user = f"clusterUser_{cluster}"
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": cluster,
        "clusters": [{"name": cluster, "cluster": {
            "server": f"https://{cluster}-offline.hcp.westeurope.azmk8s.io:443",
            "certificate-authority-data": base64.b64encode(b"offline").decode()}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "users": [{"name": user, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin",
            "args": ["get-token", "--environment", "AzurePublicCloud", "--server-id", AKS_SERVER_ID, "--client-id",
                     "80faf920-1908-4b52-b5ef-a8e7bedfc67a", "--tenant-id", TENANT_ID, "--login", "devicecode"],
            "env": None, "provideClusterInfo": False,
            "installHint": "kubelogin is not installed: https://azure.github.io/kubelogin/install.html"}}}],
    }
    return base64.b64encode(yaml.safe_dump(config).encode()).decode()


MOCK_CALLS: dict[str, Callable] = {
    "azure-native:authorization:getClientConfig": lambda args: {
        "clientId": _guid("client"), "objectId": OBJECT_ID, "subscriptionId": SUBSCRIPTION_ID, "tenantId": TENANT_ID},
    "azure-native:containerservice:listManagedClusterUserCredentials": lambda args: {
        "kubeconfigs": [{"name": "clusterUser", "value": exec_kubeconfig(args.args.get("resourceName") or "aks")}]},
}
