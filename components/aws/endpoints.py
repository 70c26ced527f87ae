"""VPC endpoints: the tasks reach S3, ECR and CloudWatch Logs without NAT or the internet.

- S3 as a gateway endpoint (free): a route on each task subnet's route table. ECR serves image layers
  from S3, so image pulls through ECR stop paying NAT's per-GB charge for them.
- Interface endpoints (billed per hour and zone, and per GB) with private DNS in the task subnets, for
  the services a Fargate task needs: the ECR API and registry, and CloudWatch Logs. Their group admits
  HTTPS from the tasks' security groups only; the tasks' HTTPS egress already reaches them.
Images from other registries (Docker Hub, or an ECR pull-through cache's first pull) still leave through NAT.
"""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .args import VpcEndpointsArgs

HTTPS = 443


def _key(service: str) -> str:
    return service.replace(".", "-")


class VpcEndpoints(pulumi.ComponentResource):
    TYPE = "apigw:aws:VpcEndpoints"

    def __init__(self, name: str, args: VpcEndpointsArgs, opts: pulumi.ResourceOptions | None = None):
        if args.interface_services and not (args.subnet_ids and args.client_security_group_ids):
            raise ValueError("VpcEndpointsArgs: interface_services need subnet_ids and client_security_group_ids")
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def service_name(service: str, kind: str) -> pulumi.Output[str]:
            # The region's own name for the service (com.amazonaws.<region>.<service> in most partitions).
            return aws.ec2.get_vpc_endpoint_service_output(
                service=service, service_type=kind, opts=pulumi.InvokeOutputOptions(parent=self)).service_name

        self.s3 = aws.ec2.VpcEndpoint(
            f"{name}-s3-gateway", vpc_id=args.vpc_id, service_name=service_name("s3", "Gateway"),
            vpc_endpoint_type="Gateway", route_table_ids=args.route_table_ids, tags={"Name": f"{name}-s3-gateway"},
            opts=child)
        self.security_group = None
        self.interface: dict[str, aws.ec2.VpcEndpoint] = {}
        if args.interface_services:
            self.security_group = aws.ec2.SecurityGroup(
                f"{name}-sg", vpc_id=args.vpc_id, description="VPC interface endpoints: HTTPS from the tasks only",
                tags={"Name": f"{name}-sg"}, opts=child)
            for client, group_id in args.client_security_group_ids.items():
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-in-{client}", security_group_id=self.security_group.id, ip_protocol="tcp",
                    from_port=HTTPS, to_port=HTTPS, referenced_security_group_id=group_id,
                    description=f"HTTPS from the {client} tasks", opts=child)
            for service in args.interface_services:
                self.interface[service] = aws.ec2.VpcEndpoint(
                    f"{name}-{_key(service)}", vpc_id=args.vpc_id, service_name=service_name(service, "Interface"),
                    vpc_endpoint_type="Interface", subnet_ids=args.subnet_ids,
                    security_group_ids=[self.security_group.id], private_dns_enabled=True,
                    tags={"Name": f"{name}-{_key(service)}"}, opts=child)
        self.register_outputs({"s3": self.s3.id})
