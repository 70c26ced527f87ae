"""The VPC: public and private subnets per zone, NAT, routes, and least-privilege security groups.

Subnets, NAT gateways and route tables are keyed by zone letter (`apigw-network-private-a`),
and each zone's CIDR slot follows its letter too, so adding or removing a zone never renames
or renumbers the others.
"""
from __future__ import annotations

import ipaddress

import pulumi
import pulumi_aws as aws

from .args import NetworkArgs, SecurityGroupsArgs, Zone
from .checks import MAX_ZONE_SLOTS, check_network

ANYWHERE = "0.0.0.0/0"


def select_zones(available: list[str], region: str, count: int) -> list[Zone]:
    """The first `count` zones of the region by name (all of them when it has fewer)."""
    zones = []
    for name in sorted(available):
        key = name[len(region):] if name.startswith(region) else name
        if len(key) != 1 or not "a" <= key <= chr(ord("a") + MAX_ZONE_SLOTS - 1):
            continue  # not a plain regional zone letter (Local or Wavelength zones are filtered out anyway)
        zones.append(Zone(name, key, ord(key) - ord("a")))
    if len(zones) < 2:
        raise ValueError(f"region {region} offers {len(zones)} usable availability zone(s) ({available}); "
                         "an Application Load Balancer needs at least 2")
    return zones[:count]


def subnet_cidrs(vpc_cidr: str, zone: Zone) -> tuple[str, str]:
    """(public, private) CIDR of a zone: each a sixteenth of the VPC, placed by the zone's letter."""
    blocks = list(ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=4))
    return str(blocks[MAX_ZONE_SLOTS + zone.slot]), str(blocks[zone.slot])


class Network(pulumi.ComponentResource):
    """VPC with an internet gateway, a public and a private subnet per zone and NAT egress."""

    TYPE = "apigw:aws:Network"

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        check_network(args)
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zones = self.zones = list(args.zones)
        self.vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.vpc_cidr, enable_dns_support=True,
                               enable_dns_hostnames=True, tags={"Name": name}, opts=child)
        # Adopting the VPC's default security group with no rules strips AWS's allow-all
        # defaults, so nothing placed in the VPC without a group of its own is reachable.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=self.vpc.id, tags={"Name": f"{name}-default"},
                                     opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags={"Name": name}, opts=child)
        public_routes = aws.ec2.RouteTable(f"{name}-public", vpc_id=self.vpc.id,
                                           tags={"Name": f"{name}-public"}, opts=child)
        aws.ec2.Route(f"{name}-public-default", route_table_id=public_routes.id, destination_cidr_block=ANYWHERE,
                      gateway_id=igw.id, opts=child)

        self.public_subnets: dict[str, aws.ec2.Subnet] = {}
        self.private_subnets: dict[str, aws.ec2.Subnet] = {}
        for zone in zones:
            public_cidr, private_cidr = subnet_cidrs(args.vpc_cidr, zone)
            # Nothing launched here needs a public IP by default: the ALB and NAT gateways get theirs.
            self.public_subnets[zone.key] = aws.ec2.Subnet(
                f"{name}-public-{zone.key}", vpc_id=self.vpc.id, cidr_block=public_cidr,
                availability_zone=zone.name, map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{zone.key}", "tier": "public"}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone.key}", subnet_id=self.public_subnets[zone.key].id,
                                          route_table_id=public_routes.id, opts=child)
            self.private_subnets[zone.key] = aws.ec2.Subnet(
                f"{name}-private-{zone.key}", vpc_id=self.vpc.id, cidr_block=private_cidr,
                availability_zone=zone.name, map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{zone.key}", "tier": "private"}, opts=child)

        # per_zone: each zone's tasks leave through their own zone's NAT, so one zone's outage
        # never cuts the others' egress (image pulls, logs). single: one NAT in the first zone.
        nat_zones = zones if args.nat_gateways == "per_zone" else zones[:1]
        self.nat_gateways: dict[str, aws.ec2.NatGateway] = {}
        self.private_route_tables: dict[str, aws.ec2.RouteTable] = {}
        for zone in nat_zones:
            eip = aws.ec2.Eip(f"{name}-nat-{zone.key}", domain="vpc", tags={"Name": f"{name}-nat-{zone.key}"},
                              opts=child)
            self.nat_gateways[zone.key] = aws.ec2.NatGateway(
                f"{name}-nat-{zone.key}", allocation_id=eip.id, subnet_id=self.public_subnets[zone.key].id,
                connectivity_type="public", tags={"Name": f"{name}-nat-{zone.key}"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]))
        for zone in zones:
            nat = self.nat_gateways.get(zone.key) or self.nat_gateways[nat_zones[0].key]
            routes = self.private_route_tables[zone.key] = aws.ec2.RouteTable(
                f"{name}-private-{zone.key}", vpc_id=self.vpc.id, tags={"Name": f"{name}-private-{zone.key}"},
                opts=child)
            aws.ec2.Route(f"{name}-private-{zone.key}-default", route_table_id=routes.id,
                          destination_cidr_block=ANYWHERE, nat_gateway_id=nat.id, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone.key}", subnet_id=self.private_subnets[zone.key].id,
                                          route_table_id=routes.id, opts=child)

        # dev (task_zones: one): tasks stay in the NAT gateway's zone, so no cross-zone data charges.
        task_zones = zones if args.task_zones == "all" else nat_zones[:1]
        self.public_subnet_ids = [self.public_subnets[z.key].id for z in zones]
        self.task_subnet_ids = [self.private_subnets[z.key].id for z in task_zones]
        self.task_zones = task_zones
        self.task_route_table_ids = [self.private_route_tables[z.key].id for z in task_zones]
        self.register_outputs({"vpc_id": self.vpc.id, "public_subnet_ids": self.public_subnet_ids,
                               "task_subnet_ids": self.task_subnet_ids})


class SecurityGroups(pulumi.ComponentResource):
    """internet -> ALB (80/443) -> gateway (its port) -> each service (its port); nothing else in.

    Egress is as narrow: the ALB reaches only the gateway; the gateway only the services and
    HTTPS; the services only HTTPS. Tasks need HTTPS out (through NAT) to pull images and reach
    the ECS, CloudWatch Logs and Service Connect endpoints. DNS to the VPC resolver is not
    subject to security groups.
    """

    TYPE = "apigw:aws:SecurityGroups"

    def __init__(self, name: str, args: SecurityGroupsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        vpc_id = args.vpc_id

        def group(key: str, description: str) -> aws.ec2.SecurityGroup:
            # Rules live in their own resources below; the group itself carries none.
            return aws.ec2.SecurityGroup(f"{name}-{key}", vpc_id=vpc_id, description=description,
                                         tags={"Name": f"{name}-{key}"}, opts=child)

        self.alb = group("alb", "Application Load Balancer: HTTP(S) from the internet")
        self.gateway = group("gateway", "API gateway tasks: from the load balancer only")
        self.services = {s: group(s, f"{s} tasks: from the API gateway only") for s in args.service_ports}

        public_ports = {"http": 80, **({"https": 443} if args.https else {})}
        for key, port in public_ports.items():
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-alb-in-{key}", security_group_id=self.alb.id, ip_protocol="tcp", from_port=port,
                to_port=port, cidr_ipv4=ANYWHERE, description=f"{key.upper()} from the internet", opts=child)
        gateway_port = args.gateway_port
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-out-gateway", security_group_id=self.alb.id, ip_protocol="tcp", from_port=gateway_port,
            to_port=gateway_port, referenced_security_group_id=self.gateway.id,
            description="requests and health checks to the gateway tasks", opts=child)
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-gateway-in-alb", security_group_id=self.gateway.id, ip_protocol="tcp", from_port=gateway_port,
            to_port=gateway_port, referenced_security_group_id=self.alb.id,
            description="from the load balancer", opts=child)
        for service, port in args.service_ports.items():
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-gateway-out-{service}", security_group_id=self.gateway.id, ip_protocol="tcp",
                from_port=port, to_port=port, referenced_security_group_id=self.services[service].id,
                description=f"to {service} (Service Connect)", opts=child)
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{service}-in-gateway", security_group_id=self.services[service].id,
                ip_protocol="tcp", from_port=port, to_port=port,
                referenced_security_group_id=self.gateway.id, description="from the API gateway", opts=child)
        for key, sg in {"gateway": self.gateway, **self.services}.items():
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{key}-out-https", security_group_id=sg.id, ip_protocol="tcp", from_port=443, to_port=443,
                cidr_ipv4=ANYWHERE, description="HTTPS via NAT: image pulls, ECS, CloudWatch Logs", opts=child)
        self.register_outputs({"alb": self.alb.id, "gateway": self.gateway.id})
