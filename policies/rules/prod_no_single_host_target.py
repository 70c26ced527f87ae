"""prod-no-single-host-target: a prod stack never runs on a single-host target (local, docker).

The local target runs HAProxy and the programs as processes on localhost ports (the reference's
phase 1); the docker target runs them as containers on one Docker host (phase 2). Either is one
machine, a single point of failure, never prod. The spec already refuses `phase: prod` on both
targets; this rule is the guard rail for a pack run against any state, including one built by an
older program or a hand-edited stack.

The pack runs without the project's components (its own virtualenv), so the single-host targets are
listed here; tests/test_policy_rules.py checks the list against the target registry.
"""
from __future__ import annotations

from .common import is_prod, project, resource_message, stack_policy, target

NAME = "prod-no-single-host-target"
TOKENS: dict[str, tuple[str, ...]] = {}
SINGLE_HOST_TARGETS = {
    "local": "processes on localhost ports",
    "docker": "containers on one Docker host",
}
"""Target -> what it runs; its component type tokens are `apigw:<target>:*` (fixed, whatever the project is called)."""
MULTI_HOST = "the aws, azure, gcp or kubernetes target"


def validate(args, report):
    if not is_prod():
        args.not_applicable("the stack is not prod")
    if target() in SINGLE_HOST_TARGETS:
        report(f'stack config {project()}:target is "{target()}" ({SINGLE_HOST_TARGETS[target()]}); prod needs a '
               f"multi-host target ({MULTI_HOST}) ({NAME})")
    for resource in args.resources:
        kind = resource.resource_type.split(":")
        if len(kind) == 3 and kind[0] == "apigw" and kind[1] in SINGLE_HOST_TARGETS:
            report(resource_message(resource.name, resource.resource_type,
                                    f"is a {kind[1]}-target component ({SINGLE_HOST_TARGETS[kind[1]]}); prod needs "
                                    f"{MULTI_HOST}", NAME), resource.urn)


POLICY = stack_policy(
    NAME,
    "A prod stack never uses a single-host target (local: processes, docker: containers on one host).",
    validate,
    "Use the kubernetes, aws, azure or gcp target for prod; keep local-* and docker-* stacks for development "
    "and staging.",
)
