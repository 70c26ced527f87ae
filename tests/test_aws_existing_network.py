"""aws with a VPC handed out by a platform team (issue 17, item 8): no network is created, the given subnets
are used, and what cannot work is refused before anything is registered."""
from __future__ import annotations

import pytest

from components.spec import SpecError, parse_spec
from tests.conftest import variant_config
from tools.offline import project_keys, run_program, stack_config

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")
PUBLIC = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2", "subnet-0aaaaaaaaaaaaaaa3"]
PRIVATE = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0bbbbbbbbbbbbbbb3"]
EXISTING = {"vpc_id": "vpc-0123456789abcdef0", "public_subnet_ids": PUBLIC, "private_subnet_ids": PRIVATE,
            "private_subnet_cidrs": ["10.9.0.0/20", "10.9.16.0/20", "10.9.32.0/20"],
            "public_subnet_cidrs": ["10.9.128.0/24", "10.9.129.0/24", "10.9.130.0/24"]}


def with_network(config: dict, **changes) -> None:
    created_only = ("vpc_cidr", "nat_gateways", "zones", "vpc_endpoints")   # keys of a network the stack creates
    block = {k: v for k, v in config.get("apigw:aws", {}).items() if k not in created_only}
    config["apigw:aws"] = {**block, **EXISTING, **changes}


def problems(**changes) -> list[str]:
    raw = project_keys(variant_config("aws-prod", lambda c: with_network(c, **changes)))
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    return [str(p) for p in err.value.problems]


def test_the_given_vpc_and_subnets_are_used_and_no_network_is_created():
    plan = run_program("aws-prod", variant_config("aws-prod", with_network))
    created = {r.type for r in plan.resources}
    assert not created & {"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/natGateway:NatGateway",
                          "aws:ec2/internetGateway:InternetGateway"}
    assert plan.one("aws:lb/loadBalancer:LoadBalancer", "apigw-lb-alb").inputs["subnets"] == PUBLIC
    assert {r.inputs["vpcId"] for r in plan.by_type("aws:ec2/securityGroup:SecurityGroup")} == {EXISTING["vpc_id"]}
    for service in plan.by_type("aws:ecs/service:Service"):
        assert service.inputs["networkConfiguration"]["subnets"] == PRIVATE


def test_an_alb_needs_two_public_subnets():
    assert problems(public_subnet_ids=PUBLIC[:1]) == [
        "aws.public_subnet_ids: found ['subnet-0aaaaaaaaaaaaaaa1']; allowed: a list of at least 2 subnet ids "
        "(subnet-...): an Application Load Balancer spans at least two zones"]


def test_the_network_keys_of_a_created_vpc_do_nothing_there_and_are_refused():
    assert problems(vpc_cidr="10.0.0.0/16") == [
        "aws.vpc_cidr: found '10.0.0.0/16'; allowed: nothing with aws.vpc_id: the stack creates no network in an "
        "existing VPC"]


def test_the_ranges_must_match_the_subnets_and_hold_a_rollout():
    assert problems(private_subnet_cidrs=["10.9.0.0/20"]) == [
        "aws.private_subnet_cidrs: found ['10.9.0.0/20']; allowed: the 3 private subnets' ranges, in the same order "
        "(the capacity check needs them)"]
    small = problems(private_subnet_cidrs=["10.9.0.0/28", "10.9.0.16/28", "10.9.0.32/28"])
    assert small == [
        "aws.private_subnet_cidrs: found ['10.9.0.0/28', '10.9.0.16/28', '10.9.0.32/28']; allowed: subnets that hold "
        "76 task addresses (twice the instance maximums, as a rollout runs old and new tasks together): these hold 33; "
        "larger private subnets (aws.private_subnet_ids), or more of them"]


def test_subnet_keys_without_a_vpc_are_refused():
    raw = project_keys(stack_config("aws-dev"))
    raw["aws"] = {**raw.get("aws", {}), "private_subnet_ids": PRIVATE}
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert [str(p) for p in err.value.problems] == [
        f"aws.private_subnet_ids: found {PRIVATE}; allowed: nothing without aws.vpc_id (the stack creates its own "
        "network)"]
