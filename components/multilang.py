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
from typing import Any, Optional

import pulumi

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
        hints = typing.get_type_hints(kind)
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

    def __init__(self, name: str, args: WorkloadsArgs, opts: Optional[pulumi.ResourceOptions] = None):
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

    def __init__(self, name: str, args: GatewayFleetArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, from_wire(GatewayFleetArgs, args), opts)
        self.service_name = self.service.metadata.name
        self.config_checksum = pulumi.Output.from_input(self.checksum)


COMPONENTS = [KubernetesWorkloads, GatewayFleet]
"""What the package serves (the AWS load balancer joins when its Args exist)."""
