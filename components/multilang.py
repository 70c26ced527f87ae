"""The components served to other Pulumi languages (TypeScript, Go, C#, YAML) as package `apigw`.

Pulumi's component provider host (`pulumi.provider.experimental`) builds the package schema from
these classes' annotated Args and outputs, and constructs them when a program asks. Its tokens
are `apigw:index:<Class>`; the Python classes keep their own (`apigw:kubernetes:Workloads`, ...)
so that stacks deployed from Python never change identity. Each class here only adapts: the host
passes Args as plain dicts (numbers as floats), which `from_wire` turns back into the dataclasses.

No `from __future__ import annotations`: the schema is read from real annotations.
"""
import dataclasses
import types
import typing
from typing import Any

import pulumi

from .aws.args import LoadBalancerArgs
from .aws.load_balancer import LoadBalancer as _LoadBalancer
from .kubernetes.args import GatewayFleetArgs, WorkloadsArgs
from .kubernetes.gateway import GatewayFleet as _GatewayFleet
from .kubernetes.workloads import Workloads as _Workloads

PACKAGE = "apigw"
VERSION = "0.1.0"


def from_wire(kind: Any, value: Any) -> Any:
    """`value` as an instance of the annotation `kind`: dicts become dataclasses (recursively),
    floats that hold integers become ints, Outputs and unknowns pass through untouched."""
    if value is None or isinstance(value, pulumi.Output):
        return value
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        plain = [arg for arg in options if typing.get_origin(arg) is not typing.Union]
        return from_wire(plain[0] if plain else options[0], value)
    if dataclasses.is_dataclass(kind) and isinstance(value, dict):
        # pulumi.Input[X] holds the forward reference "Output[T]": give it names to resolve.
        hints = typing.get_type_hints(kind, localns={"Output": pulumi.Output, "T": Any})
        known = {f.name for f in dataclasses.fields(kind)}
        return kind(**{key: from_wire(hints[key], item) for key, item in value.items() if key in known})
    if origin is list:
        (item,) = typing.get_args(kind)
        return [from_wire(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(kind)
        return {k: from_wire(item, v) for k, v in value.items()}
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class KubernetesWorkloads(_Workloads):
    """The gateway fleet and backend services on one cluster: namespace, Deployments, HPAs, PDBs,
    Services, NetworkPolicies, optional Ingress, alerts and mesh rules."""

    TYPE = f"{PACKAGE}:index:KubernetesWorkloads"
    ALIASES = []  # a new type for the engine: nothing to keep an identity with
    namespace_name: pulumi.Output[str]
    """The namespace the workloads run in."""
    gateway_service_name: pulumi.Output[str]
    """The gateway fleet's Service: what a load balancer outside the cluster targets."""

    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, from_wire(WorkloadsArgs, args), opts)
        self.namespace_name = self.namespace.metadata.name
        self.gateway_service_name = self.gateway.service.metadata.name


class GatewayFleet(_GatewayFleet):
    """The nginx API gateway fleet: generated config, Deployment, HPA, PDB and its Service."""

    TYPE = f"{PACKAGE}:index:GatewayFleet"
    service_name: pulumi.Output[str]
    """The gateway fleet's Service."""
    config_checksum: pulumi.Output[str]
    """sha256 of the generated nginx.conf (a change rolls the pods)."""

    def __init__(self, name: str, args: GatewayFleetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, from_wire(GatewayFleetArgs, args), opts)
        self.service_name = self.service.metadata.name
        self.config_checksum = pulumi.Output.from_input(self.checksum)


class AwsLoadBalancer(_LoadBalancer):
    """An internet-facing Application Load Balancer in front of the gateway fleet: the gateway's
    target group with its health check, HTTPS (TLS 1.3 policy) with an HTTP redirect, or plain HTTP."""

    TYPE = f"{PACKAGE}:index:AwsLoadBalancer"
    url: pulumi.Output[str]
    """https://<dns name> (http:// without a certificate)."""
    dns_name: pulumi.Output[str]
    """The load balancer's DNS name."""
    load_balancer_arn: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]
    """Register the gateway tasks here (target type ip)."""

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, from_wire(LoadBalancerArgs, args), opts)
        self.dns_name = self.alb.dns_name
        self.load_balancer_arn = self.alb.arn
        self.target_group_arn = self.target_group.arn


COMPONENTS = [KubernetesWorkloads, GatewayFleet, AwsLoadBalancer]
"""What the package serves."""
