"""No shipped stack loses a resource identity: every recorded URN is registered or aliased.

A lost URN means `pulumi up` would delete a live resource and create another. When a change of
identity is intended, add an `Alias` (the check then passes) or, for a new resource layout that
nobody has deployed, re-record with `python -m tools.urns --write` and review the diff.
"""
from __future__ import annotations

import pytest

from tools.offline import CapturedResource, Plan, engine_urn, stack_names
from tools.urns import alias_urns, lost_urns, read_snapshot


@pytest.mark.parametrize("stack", stack_names())
def test_every_recorded_urn_is_still_reached(plan_of, stack):
    assert lost_urns(plan_of(stack), read_snapshot(stack)) == []


@pytest.mark.parametrize("stack", stack_names())
def test_snapshot_names_no_resource_twice(stack):
    recorded = read_snapshot(stack)
    assert recorded and len(recorded) == len(set(recorded))


def _resource(urn: str, parent: str = "", aliases=()) -> CapturedResource:
    name = urn.rsplit("::", 1)[1]
    type_token = urn.split("::")[2].rsplit("$", 1)[-1]
    return CapturedResource(urn=urn, type=type_token, name=name, custom=False, parent=parent, dependencies=[],
                            property_dependencies={}, provider="", inputs={}, aliases=list(aliases))


def test_engine_urn_qualifies_by_the_whole_parent_chain_and_omits_the_root_stack():
    stack_urn = "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"
    top = engine_urn("s", "p", stack_urn, "apigw:k8s:Workloads", "w")
    assert top == "urn:pulumi:s::p::apigw:k8s:Workloads::w"
    mid = engine_urn("s", "p", top, "apigw:k8s:Service", "w-users")
    assert engine_urn("s", "p", mid, "kubernetes:apps/v1:Deployment", "d") == \
        "urn:pulumi:s::p::apigw:k8s:Workloads$apigw:k8s:Service$kubernetes:apps/v1:Deployment::d"


def test_a_type_alias_on_a_parent_reaches_the_old_urns_of_its_children():
    stack_urn = "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"
    parent = _resource(engine_urn("s", "p", stack_urn, "apigw:k8s:Workloads", "w"), stack_urn,
                       aliases=[{"type": "apigw:kubernetes:Platform"}])
    child = _resource(engine_urn("s", "p", parent.urn, "kubernetes:core/v1:Namespace", "w-ns"), parent.urn)
    plan = Plan(project="p", stack="s", config={}, resources=[parent, child], stack_urn=stack_urn)
    old_child = "urn:pulumi:s::p::apigw:kubernetes:Platform$kubernetes:core/v1:Namespace::w-ns"
    assert alias_urns(plan)[child.urn] == {old_child}
    assert lost_urns(plan, ["urn:pulumi:s::p::apigw:kubernetes:Platform::w", old_child]) == []
    # Without the alias, both old identities would be lost.
    parent.aliases.clear()
    assert len(lost_urns(plan, ["urn:pulumi:s::p::apigw:kubernetes:Platform::w", old_child])) == 2
