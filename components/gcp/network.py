"""The network: a VPC-native subnet with secondary ranges, Cloud NAT for the private nodes, and the
one firewall rule the load balancer needs.

    apigw:gcp:Network  <name>
    ├── Network      <name>-vpc       custom subnets only
    ├── Subnetwork   <name>-subnet    nodes; secondary ranges `pods` and `services`; Private Google Access
    ├── Router       <name>-router
    ├── RouterNat    <name>-nat       egress for nodes without public addresses (image pulls)
    └── Firewall     <name>-lb        Google's health checks and proxies -> the gateway port, on the nodes only

With an existing network (Shared VPC) only the firewall rule is created.
"""
from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from .args import NetworkArgs
from .options import HEALTH_CHECK_SOURCES

PODS_RANGE, SERVICES_RANGE = "pods", "services"


class Network(pulumi.ComponentResource):
    TYPE = "apigw:gcp:Network"

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project = {"project": args.project}
        if args.network:
            self.network_id, self.subnetwork_id = args.network, args.subnetwork
            self.vpc = self.subnet = self.nat = None
        else:
            self.vpc = gcp.compute.Network(f"{name}-vpc", **project, auto_create_subnetworks=False,
                                           routing_mode="REGIONAL", opts=child)
            self.subnet = gcp.compute.Subnetwork(
                f"{name}-subnet", **project, region=args.region, network=self.vpc.id, ip_cidr_range=args.subnet_cidr,
                private_ip_google_access=True,
                secondary_ip_ranges=[{"range_name": PODS_RANGE, "ip_cidr_range": args.pods_cidr},
                                     {"range_name": SERVICES_RANGE, "ip_cidr_range": args.services_cidr}],
                opts=child)
            router = gcp.compute.Router(f"{name}-router", **project, region=args.region, network=self.vpc.id,
                                        opts=child)
            self.nat = gcp.compute.RouterNat(
                f"{name}-nat", **project, region=args.region, router=router.name,
                nat_ip_allocate_option="AUTO_ONLY", source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
                subnetworks=[{"name": self.subnet.id, "source_ip_ranges_to_nats": ["ALL_IP_RANGES"]}],
                log_config={"enable": True, "filter": "ERRORS_ONLY"}, opts=child)
            self.network_id, self.subnetwork_id = self.vpc.id, self.subnet.id
        # The NEG endpoints are pod addresses on the gateway's container port; Google's health
        # checks and the load balancer's proxies come from these ranges and nowhere else.
        # A Shared VPC's firewall rules live in its host project, the one its network path names.
        host = {"project": args.network.split("/")[args.network.split("/").index("projects") + 1]} \
            if args.network else project
        self.firewall = gcp.compute.Firewall(
            f"{name}-lb", **host, network=self.network_id, direction="INGRESS", priority=1000,
            source_ranges=list(HEALTH_CHECK_SOURCES), allows=[{"protocol": "tcp", "ports": [str(args.gateway_port)]}],
            target_tags=[args.node_tag],
            description="Google health checks and load balancer proxies to the gateway pods", opts=child)
        self.register_outputs({"network": self.network_id, "subnetwork": self.subnetwork_id})
