"""prod-no-local-target: a prod stack never runs on the local target (processes on one host).

The local target runs HAProxy and the programs on localhost ports: the reference's phase 1,
for development only. The spec already refuses `target: local` with `phase: prod`; this rule is
the guard rail for a pack run against any state, including one built by an older program.
"""
from __future__ import annotations

from .common import is_prod, project, resource_message, stack_policy, target

NAME = "prod-no-local-target"
TOKENS: dict[str, tuple[str, ...]] = {}
LOCAL_COMPONENT_PREFIX = "apigw:local:"
"""The local target's component type tokens (fixed, whatever the project is called)."""


def validate(args, report):
    if not is_prod():
        args.not_applicable("the stack is not prod")
    if target() == "local":
        report(f'stack config {project()}:target is "local"; prod needs a multi-host target '
               f"(aws, azure, gcp or kubernetes) ({NAME})")
    for resource in args.resources:
        if resource.resource_type.startswith(LOCAL_COMPONENT_PREFIX):
            report(resource_message(resource.name, resource.resource_type,
                                    "is a local-target component (processes on localhost ports); prod needs "
                                    "the aws, azure, gcp or kubernetes target", NAME), resource.urn)


POLICY = stack_policy(
    NAME,
    "A prod stack never uses the local target (every program on one host).",
    validate,
    "Use the kubernetes, aws, azure or gcp target for prod; keep local-* stacks for development.",
)
