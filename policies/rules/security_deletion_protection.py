"""security-deletion-protection: the public load balancer cannot be deleted by accident.

aws: enableDeletionProtection on the ALB (the provider's default is false). azure: the
Application Gateway is `protect`ed in Pulumi or carries a CanNotDelete/ReadOnly management lock.
gcp: a GKE cluster keeps deletionProtection (the provider's default is true). Cloud Load
Balancing and the kubernetes target's ingress controller have no such switch in this program.
"""
from __future__ import annotations

from .common import Stack, is_internal, message, resource_message, stack_policy, truthy
from .types import AWS_LBS, AZ_APP_GATEWAY, AZ_LOCK_AT_RESOURCE, AZ_LOCK_BY_SCOPE, AZ_LOCKS, GCP_CLUSTER

NAME = "security-deletion-protection"
TOKENS = {
    **{t: ("enableDeletionProtection", "internal") for t in AWS_LBS},
    AZ_APP_GATEWAY: ("id",),
    AZ_LOCK_BY_SCOPE: ("level", "scope"), AZ_LOCK_AT_RESOURCE: ("level",),
    GCP_CLUSTER: ("deletionProtection",),
}
LOCK_LEVELS = ("CanNotDelete", "ReadOnly")


def _locks(stack: Stack, lock, gateway) -> bool:
    """The lock was computed from the gateway (a dependency), or its scope is the gateway's known id
    (state exported after an update has the id but may lack the dependency)."""
    if gateway in lock.dependencies or any(d is gateway for deps in lock.property_dependencies.values() for d in deps):
        return True
    return stack.references(lock, "scope", gateway, ("id",))


def validate(args, report):
    stack = Stack(args.resources)
    for lb in stack.of_type(*AWS_LBS):
        props = stack.props[lb.urn]
        if is_internal(props):
            continue
        if not truthy(props.get("enableDeletionProtection")):
            report(message(lb.name, lb.resource_type, "enableDeletionProtection", props.get("enableDeletionProtection"),
                           "prod needs true", NAME, None if "enableDeletionProtection" in props
                           else "not set (defaults to false)"), lb.urn)
    locks = [lock for lock in stack.of_type(*AZ_LOCKS) if stack.props[lock.urn].get("level") in LOCK_LEVELS]
    for gateway in stack.of_type(AZ_APP_GATEWAY):
        locked = any(_locks(stack, lock, gateway) for lock in locks)
        if not gateway.opts.protect and not locked:
            report(resource_message(gateway.name, gateway.resource_type,
                                    "has neither the protect option nor a CanNotDelete management lock; prod needs "
                                    "one of them", NAME), gateway.urn)
    for cluster in stack.of_type(GCP_CLUSTER):
        value = stack.props[cluster.urn].get("deletionProtection")
        if value is False or value == "false":
            report(message(cluster.name, cluster.resource_type, "deletionProtection", value, "prod needs true", NAME),
                   cluster.urn)


POLICY = stack_policy(
    NAME,
    "The public load balancer (and a GKE cluster) has deletion protection on.",
    validate,
    "aws: enable_deletion_protection=True on the ALB (the program's default outside dev); azure: a "
    "CanNotDelete management lock or protect=True; gcp: leave deletion_protection on.",
)
