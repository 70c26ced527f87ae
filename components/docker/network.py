"""The stack's user-defined bridge network: on it, Docker's DNS answers each container's name and each
service's name (an alias of its instances), which the default bridge network does not."""
from __future__ import annotations

import pulumi
import pulumi_docker as docker

from .args import NetworkArgs


def docker_labels(labels: dict[str, str], kind=docker.ContainerLabelArgs) -> list:
    """A label map as the provider takes it: a list of {label, value}, sorted so the order never changes."""
    return [kind(label=key, value=value) for key, value in sorted(labels.items())]


class Network(pulumi.ComponentResource):
    TYPE = "apigw:docker:Network"

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        self.network = docker.Network(
            f"{name}-bridge",
            name=args.name,
            driver="bridge",
            ipam_configs=[docker.NetworkIpamConfigArgs(subnet=args.subnet, gateway=args.bridge,
                                                       ip_range=args.ip_range)],
            labels=docker_labels(args.labels, docker.NetworkLabelArgs),
            opts=pulumi.ResourceOptions(parent=self))
        self.name = self.network.name
        self.register_outputs({"name": self.name, "subnet": args.subnet})
