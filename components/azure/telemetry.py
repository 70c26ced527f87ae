"""What the cluster's monitoring agents need to deliver anything: the addons only install agents.

    apigw:azure:ClusterTelemetry  <name>
    ├── DataCollectionRule             <name>-container-insights   ContainerInsights extension -> Log Analytics
    ├── DataCollectionRuleAssociation  <name>-container-insights   ... on the cluster
    ├── AzureMonitorWorkspace          <name>-prometheus           managed Prometheus' metric store
    ├── DataCollectionEndpoint         <name>-prometheus
    ├── DataCollectionRule             <name>-prometheus           Microsoft-PrometheusMetrics -> the workspace
    ├── DataCollectionRuleAssociation  <name>-prometheus           ... on the cluster
    └── DataCollectionRuleAssociation  <name>-endpoint             the cluster's configurationAccessEndpoint

The Azure CLI creates these when it enables monitoring; an ARM or Pulumi deployment must itself
(Container Insights with managed identity authentication, and Azure Monitor managed Prometheus).
"""
from __future__ import annotations

import pulumi
import pulumi_azure_native as azure

from .args import TelemetryArgs

CONTAINER_INSIGHTS_STREAM = "Microsoft-ContainerInsights-Group-Default"
PROMETHEUS_STREAM = "Microsoft-PrometheusMetrics"
ENDPOINT_ASSOCIATION = "configurationAccessEndpoint"
"""The name Azure requires for the association of a data collection endpoint with a cluster."""


class ClusterTelemetry(pulumi.ComponentResource):
    TYPE = "apigw:azure:ClusterTelemetry"

    def __init__(self, name: str, args: TelemetryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        where = args.placement
        common = {"resource_group_name": where.resource_group_name, "location": where.location, "tags": where.tags}
        child = pulumi.ResourceOptions(parent=self)
        insights = azure.monitor.DataCollectionRule(
            f"{name}-container-insights", **common, kind="Linux",
            description="Container Insights: container logs, inventory and performance of the AKS cluster",
            data_sources={"extensions": [{
                "name": "ContainerInsightsExtension", "extension_name": "ContainerInsights",
                "streams": [CONTAINER_INSIGHTS_STREAM],
                "extension_settings": {"dataCollectionSettings": {"interval": "1m", "namespaceFilteringMode": "Off",
                                                                  "enableContainerLogV2": True}}}]},
            destinations={"log_analytics": [{"name": "workspace", "workspace_resource_id": args.workspace_id}]},
            data_flows=[{"streams": [CONTAINER_INSIGHTS_STREAM], "destinations": ["workspace"]}], opts=child)
        self.container_insights = azure.monitor.DataCollectionRuleAssociation(
            f"{name}-container-insights", resource_uri=args.cluster_id, association_name="ContainerInsightsExtension",
            data_collection_rule_id=insights.id, opts=child)

        self.prometheus_workspace = azure.monitor.AzureMonitorWorkspace(f"{name}-prometheus", **common, opts=child)
        endpoint = azure.monitor.DataCollectionEndpoint(f"{name}-prometheus", **common, kind="Linux", opts=child)
        prometheus = azure.monitor.DataCollectionRule(
            f"{name}-prometheus", **common, kind="Linux", data_collection_endpoint_id=endpoint.id,
            description="Azure Monitor managed Prometheus: the cluster's metrics",
            data_sources={"prometheus_forwarder": [{"name": "PrometheusDataSource", "streams": [PROMETHEUS_STREAM],
                                                    "label_include_filter": {}}]},
            destinations={"monitoring_accounts": [{"name": "MonitoringAccount",
                                                   "account_resource_id": self.prometheus_workspace.id}]},
            data_flows=[{"streams": [PROMETHEUS_STREAM], "destinations": ["MonitoringAccount"]}], opts=child)
        self.prometheus = azure.monitor.DataCollectionRuleAssociation(
            f"{name}-prometheus", resource_uri=args.cluster_id, association_name="prometheus",
            data_collection_rule_id=prometheus.id, opts=child)
        self.endpoint = azure.monitor.DataCollectionRuleAssociation(
            f"{name}-endpoint", resource_uri=args.cluster_id, association_name=ENDPOINT_ASSOCIATION,
            data_collection_endpoint_id=endpoint.id, opts=child)
        self.register_outputs({"prometheus_workspace_id": self.prometheus_workspace.id})
