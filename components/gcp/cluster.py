"""GKE: private, shielded nodes in one separately managed pool, workload identity, Dataplane V2.

    apigw:gcp:Cluster  <name>
    ├── serviceaccount.Account      <name>-nodes        the nodes' own identity (not the Compute default)
    ├── projects.IAMMember          <name>-nodes-...    the roles GKE nodes need, nothing more
    ├── container.Cluster           <name>              default pool removed; regional or zonal
    ├── container.NodePool          <name>-workloads    autoscaled per zone, BALANCED, auto-repair/upgrade
    └── pulumi:providers:kubernetes <name>-kubernetes   the cluster's endpoint and CA, secret

The Kubernetes provider signs in with `gke-gcloud-auth-plugin`, which must be on PATH where
`pulumi up` runs (see the README's GCP section).
"""
from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from .args import ClusterArgs

NODE_ROLE = "roles/container.defaultNodeServiceAccount"
"""Google's minimal role for a GKE node service account (logging, monitoring, metadata)."""
POOL = "workloads"


def kubeconfig(name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig for the cluster that signs in through gke-gcloud-auth-plugin (Application Default Credentials)."""
    return "\n".join([
        "apiVersion: v1", "kind: Config", f"current-context: {name}",
        "clusters:", f"- name: {name}", "  cluster:", f"    server: https://{endpoint}",
        f"    certificate-authority-data: {ca_certificate}",
        "contexts:", f"- name: {name}", "  context:", f"    cluster: {name}", f"    user: {name}",
        "users:", f"- name: {name}", "  user:", "    exec:", "      apiVersion: client.authentication.k8s.io/v1beta1",
        "      command: gke-gcloud-auth-plugin", "      provideClusterInfo: true",
        "      installHint: Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin)", ""])


class Cluster(pulumi.ComponentResource):
    TYPE = "apigw:gcp:Cluster"

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project = {"project": args.project}
        self.node_account = gcp.serviceaccount.Account(
            f"{name}-nodes", **project, account_id=f"{args.name}-nodes"[:30].rstrip("-"),
            display_name=f"GKE nodes of {args.name}", opts=child)
        self.node_role = gcp.projects.IAMMember(
            f"{name}-nodes-role", **project, role=NODE_ROLE,
            member=self.node_account.email.apply(lambda email: f"serviceAccount:{email}"), opts=child)
        self.cluster = gcp.container.Cluster(
            name, **project, name=args.name, location=args.location,
            # A zonal cluster lists only extra zones here (GKE refuses its own zone in the list).
            node_locations=args.node_locations if args.regional else None,
            # The default pool is removed at once: the pool below is managed on its own.
            remove_default_node_pool=True, initial_node_count=1,
            network=args.network, subnetwork=args.subnetwork, networking_mode="VPC_NATIVE",
            ip_allocation_policy={"cluster_secondary_range_name": args.pods_range_name,
                                  "services_secondary_range_name": args.services_range_name},
            private_cluster_config={"enable_private_nodes": True, "enable_private_endpoint": False},
            master_authorized_networks_config=({"cidr_blocks": [{"cidr_block": cidr} for cidr in
                                                                args.master_authorized_cidrs]}
                                               if args.master_authorized_cidrs else None),
            release_channel={"channel": args.release_channel},
            workload_identity_config={"workload_pool": f"{args.project}.svc.id.goog"},
            datapath_provider="ADVANCED_DATAPATH",  # Dataplane V2: enforces the NetworkPolicies
            monitoring_config={"enable_components": ["SYSTEM_COMPONENTS"], "managed_prometheus": {"enabled": True}},
            # The NEG controller (standalone NEGs of the gateway Service) is part of HTTP load balancing.
            addons_config={"http_load_balancing": {"disabled": False}},
            # The services' secret settings: Secret Manager secrets mounted as files, read as each pod's own
            # ServiceAccount (components/gcp/secrets.py).
            secret_manager_config={"enabled": True} if args.secret_manager else None,
            enable_shielded_nodes=True, deletion_protection=args.deletion_protection,
            resource_labels=dict(args.labels),
            # The removed default pool's settings; the nodes use the pool below.
            node_config={"service_account": self.node_account.email, "shielded_instance_config": {
                "enable_secure_boot": True, "enable_integrity_monitoring": True}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_role], ignore_changes=["nodeConfig"]))
        pool = args.node_pool
        self.node_pool = gcp.container.NodePool(
            f"{name}-{POOL}", **project, name=POOL, cluster=self.cluster.id, location=args.location,
            node_locations=args.node_locations,
            initial_node_count=pool.min_per_zone or 1,
            autoscaling={"min_node_count": pool.min_per_zone, "max_node_count": pool.max_per_zone,
                         "location_policy": "BALANCED"},
            management={"auto_repair": True, "auto_upgrade": True},
            upgrade_settings={"strategy": "SURGE", "max_surge": 1, "max_unavailable": 0},
            node_config={
                "machine_type": pool.machine_type, "service_account": self.node_account.email,
                "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
                "workload_metadata_config": {"mode": "GKE_METADATA"},
                "tags": [args.node_tag], "labels": dict(args.labels), "resource_labels": dict(args.labels),
            },
            # The autoscaler owns the node count once the pool runs.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]))
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            self.cluster.endpoint, self.cluster.master_auth.cluster_ca_certificate).apply(
            lambda values: kubeconfig(args.name, values[0], values[1])))
        self.provider = k8s.Provider(f"{name}-kubernetes", kubeconfig=self.kubeconfig,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_pool]))
        self.register_outputs({"name": self.cluster.name})
