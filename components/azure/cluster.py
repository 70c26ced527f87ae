"""AKS: Standard tier, Entra ID with Azure RBAC only, Azure CNI overlay with Cilium, a system and a user pool.

    apigw:azure:Cluster  <name>
    ├── ManagedCluster              <name>               the system pool inline (tainted CriticalAddonsOnly)
    ├── AgentPool                   <name>-workloads     the user pool the workloads run on
    ├── RoleAssignment              <name>-network       cluster identity: Network Contributor on the node subnet
    ├── RoleAssignment              <name>-admin         the deploying identity: AKS RBAC Cluster Admin
    └── pulumi:providers:kubernetes <name>-kubernetes    the user credentials in exec format (kubelogin), secret

Local accounts are off, so only Entra ID signs in: the Kubernetes provider runs `kubelogin`, which
must be on PATH where `pulumi up` runs (see the README's Azure section).
"""
from __future__ import annotations

import base64

import pulumi
import pulumi_azure_native as azure
import pulumi_kubernetes as k8s
import yaml

from .args import ClusterArgs, NodePoolArgs
from .options import AKS_RBAC_CLUSTER_ADMIN, KUBELOGIN_MODES, NETWORK_CONTRIBUTOR

SYSTEM_POOL, USER_POOL = "system", "workloads"
KEY_VAULT_ADDON = "azureKeyvaultSecretsProvider"


def role_definition(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("/subscriptions/", subscription_id,
                                "/providers/Microsoft.Authorization/roleDefinitions/", role)


def pool_profile(pool: NodePoolArgs, subnet_id: pulumi.Input[str], mode: str) -> dict:
    """A node pool's settings (snake_case: the ManagedCluster's inline pool and AgentPool share them)."""
    profile = {
        "mode": mode, "vm_size": pool.vm_size, "os_type": "Linux", "os_sku": "AzureLinux",
        "type": "VirtualMachineScaleSets", "vnet_subnet_id": subnet_id, "enable_node_public_ip": False,
        "enable_auto_scaling": True, "min_count": pool.min, "max_count": pool.max, "count": pool.min,
        # One extra node at a time during upgrades, so capacity never drops below the minimum.
        "upgrade_settings": {"max_surge": "1"},
    }
    if pool.zones:
        profile["availability_zones"] = list(pool.zones)
    if mode == "System":
        profile["node_taints"] = ["CriticalAddonsOnly=true:NoSchedule"]
    return profile


def exec_kubeconfig(encoded: str, login: str) -> str:
    """The user credentials AKS returns (base64, exec format: kubelogin with --login devicecode),
    with the login a non-interactive run can use (what `kubelogin convert-kubeconfig -l <login>` writes)."""
    if login not in KUBELOGIN_MODES:
        raise ValueError(f"kubelogin_mode: {login!r} is not one of {', '.join(KUBELOGIN_MODES)}")
    config = yaml.safe_load(base64.b64decode(encoded))
    if login != "devicecode":
        for user in config.get("users") or []:
            command = (user.get("user") or {}).get("exec") or {}
            args = list(command.get("args") or [])
            if command.get("command") == "kubelogin" and "--server-id" in args:
                server_id = args[args.index("--server-id") + 1]
                command["args"] = ["get-token", "--login", login, "--server-id", server_id]
    return yaml.safe_dump(config, sort_keys=False)


class Cluster(pulumi.ComponentResource):
    TYPE = "apigw:azure:Cluster"

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        where = args.placement
        child = pulumi.ResourceOptions(parent=self)
        addons = {}
        if args.log_analytics_workspace_id is not None:
            # Container Insights, authenticating with the cluster's managed identity.
            addons["omsagent"] = {"enabled": True, "config": {
                "logAnalyticsWorkspaceResourceID": args.log_analytics_workspace_id, "useAADAuth": "true"}}
        if args.key_vault_secrets_provider:
            # The Secrets Store CSI driver with the Key Vault provider: the services' secret settings, read with each
            # service's own identity (components/azure/secrets.py); mounted files follow new versions every 2 minutes.
            addons[KEY_VAULT_ADDON] = {"enabled": True, "config": {"enableSecretRotation": "true",
                                                                   "rotationPollInterval": "2m"}}
        system = {"name": SYSTEM_POOL, **pool_profile(args.system_pool, args.subnet_id, "System")}
        self.cluster = azure.containerservice.ManagedCluster(
            name, resource_group_name=where.resource_group_name, location=where.location, tags=where.tags,
            resource_name_=args.name, dns_prefix=args.name, kubernetes_version=args.kubernetes_version,
            sku={"name": "Base", "tier": "Standard"}, identity={"type": "SystemAssigned"},
            agent_pool_profiles=[system],
            enable_rbac=True, disable_local_accounts=True,
            aad_profile={"managed": True, "enable_azure_rbac": True, "tenant_id": args.tenant_id,
                         "admin_group_object_ids": list(args.admin_group_ids)},
            network_profile={"network_plugin": "azure", "network_plugin_mode": "overlay",
                             "network_dataplane": "cilium", "network_policy": "cilium",
                             "pod_cidr": args.pod_cidr, "service_cidr": args.service_cidr,
                             "dns_service_ip": args.dns_service_ip, "load_balancer_sku": "standard",
                             "outbound_type": "loadBalancer"},
            oidc_issuer_profile={"enabled": True},
            security_profile={"workload_identity": {"enabled": True}},
            auto_upgrade_profile={"upgrade_channel": "patch", "node_os_upgrade_channel": "NodeImage"},
            azure_monitor_profile={"metrics": {"enabled": args.managed_prometheus}},
            service_mesh_profile=({"mode": "Istio", "istio": {"revisions": [args.istio_revision]}}
                                  if args.istio_revision else None),
            addon_profiles=addons,
            # The autoscaler owns the node count once the cluster runs.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["agentPoolProfiles[0].count"]))
        cluster_name = self.cluster.name
        self.user_pool = azure.containerservice.AgentPool(
            f"{name}-{USER_POOL}", resource_group_name=where.resource_group_name, resource_name_=cluster_name,
            agent_pool_name=USER_POOL, tags=where.tags, **pool_profile(args.user_pool, args.subnet_id, "User"),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["count"]))
        subscription_id = self.cluster.id.apply(lambda arm_id: arm_id.split("/")[2])
        # The cluster's identity creates the gateway's internal load balancer in the node subnet.
        self.network_role = azure.authorization.RoleAssignment(
            f"{name}-network", scope=args.subnet_id, principal_type="ServicePrincipal",
            principal_id=self.cluster.identity.apply(lambda identity: identity.principal_id),
            role_definition_id=role_definition(subscription_id, NETWORK_CONTRIBUTOR), opts=child)
        self.admin_role = azure.authorization.RoleAssignment(
            f"{name}-admin", scope=self.cluster.id, principal_id=args.admin_principal_id,
            principal_type=args.admin_principal_type,
            role_definition_id=role_definition(subscription_id, AKS_RBAC_CLUSTER_ADMIN), opts=child)
        credentials = azure.containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=where.resource_group_name, resource_name=cluster_name, format="exec",
            opts=pulumi.InvokeOutputOptions(parent=self))
        self.kubeconfig = pulumi.Output.secret(credentials.kubeconfigs[0].value.apply(
            lambda encoded: exec_kubeconfig(encoded, args.kubelogin_mode)))
        self.provider = k8s.Provider(
            f"{name}-kubernetes", kubeconfig=self.kubeconfig,
            # Azure RBAC grants the admin role within minutes: the workloads wait for the assignment.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.admin_role, self.user_pool]))
        self.register_outputs({"name": cluster_name})
