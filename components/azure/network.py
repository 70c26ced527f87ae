"""The network: a virtual network with the Application Gateway's subnet (and its NSG) and AKS's.

    apigw:azure:Network  <name>
    ├── NetworkSecurityGroup  <name>-appgw-nsg   clients on 80/443, GatewayManager 65200-65535, AzureLoadBalancer
    ├── VirtualNetwork        <name>-vnet
    ├── Subnet                <name>-appgw
    └── Subnet                <name>-aks
"""
from __future__ import annotations

import pulumi
import pulumi_azure_native as azure

from .args import NetworkArgs

GATEWAY_MANAGER_PORTS = "65200-65535"
"""Application Gateway v2's infrastructure ports: Azure's GatewayManager service must reach them."""


def security_rules(client_ports: list[int]) -> list[dict]:
    """What Application Gateway v2's subnet needs, and nothing wider: clients on the listener ports,
    Azure's control plane on its infrastructure ports, and Azure's load balancer probes. Everything
    else from outside the virtual network hits the default DenyAllInBound."""
    def allow(name: str, priority: int, source: str, ports: list[str], protocol: str) -> dict:
        return {"name": name, "priority": priority, "direction": "Inbound", "access": "Allow", "protocol": protocol,
                "source_address_prefix": source, "source_port_range": "*", "destination_address_prefix": "*",
                "destination_port_ranges": ports}
    return [
        allow("allow-clients", 100, "Internet", [str(port) for port in sorted(client_ports)], "Tcp"),
        allow("allow-gateway-manager", 110, "GatewayManager", [GATEWAY_MANAGER_PORTS], "Tcp"),
        allow("allow-azure-load-balancer", 120, "AzureLoadBalancer", ["*"], "*"),
    ]


class Network(pulumi.ComponentResource):
    TYPE = "apigw:azure:Network"

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        where = args.placement
        common = {"resource_group_name": where.resource_group_name}
        child = pulumi.ResourceOptions(parent=self)
        self.nsg = azure.network.NetworkSecurityGroup(
            f"{name}-appgw-nsg", **common, location=where.location, tags=where.tags,
            security_rules=security_rules(args.client_ports), opts=child)
        self.vnet = azure.network.VirtualNetwork(
            f"{name}-vnet", **common, location=where.location, tags=where.tags,
            address_space={"address_prefixes": [args.vnet_cidr]},
            # The subnets are resources of their own and none is inline: azure-native keeps a
            # network's existing subnets when it updates it (mixing the two styles would not).
            opts=child)
        vnet = {**common, "virtual_network_name": self.vnet.name}
        self.application_gateway_subnet = azure.network.Subnet(
            f"{name}-appgw", **vnet, subnet_name="appgw", address_prefix=args.application_gateway_subnet_cidr,
            network_security_group={"id": self.nsg.id}, opts=child)
        # Sequential: Azure refuses two concurrent changes of one virtual network's subnets.
        self.aks_subnet = azure.network.Subnet(
            f"{name}-aks", **vnet, subnet_name="aks", address_prefix=args.aks_subnet_cidr,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.application_gateway_subnet]))
        self.register_outputs({"application_gateway_subnet_id": self.application_gateway_subnet.id,
                               "aks_subnet_id": self.aks_subnet.id})
