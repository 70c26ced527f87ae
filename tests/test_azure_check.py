"""The policy pack on azure-prod and its single-host copies (the real program under mocks, the pack
through the analyzer protocol): one zone or one node fails, naming the rule, the resource and the value."""
from __future__ import annotations

import copy

from tools.check import check_stack
from tools.offline import stack_config


def mandatory(changes: dict) -> dict[tuple[str, str], str]:
    config = copy.deepcopy(stack_config("azure-prod"))
    config["apigw:azure"] = {**config["apigw:azure"], **changes}
    report = check_stack("azure-prod-copy", config)
    assert not report.problems
    return {(v.policy, v.resource): v.message for v in report.violations if v.mandatory}


def test_azure_prod_passes_because_its_gateway_fleet_is_behind_the_application_gateway():
    assert mandatory({}) == {}


def test_one_zone_fails_for_both_pools_and_the_application_gateway():
    assert mandatory({"zones": ["1"]}) == {
        ("prod-multi-zone", "apigw-aks"): "apigw-aks (azure-native:containerservice:ManagedCluster): "
        'agentPoolProfiles[system].availabilityZones is ["1"]; prod needs nodes in at least 2 zones (prod-multi-zone)',
        ("prod-multi-zone", "apigw-aks-workloads"): "apigw-aks-workloads (azure-native:containerservice:AgentPool): "
        'availabilityZones is ["1"]; prod needs nodes in at least 2 zones (prod-multi-zone)',
        ("prod-multi-zone", "apigw-appgw"): "apigw-appgw (azure-native:network:ApplicationGateway): zones is [\"1\"]; "
        "prod needs gateway instances in at least 2 zones (prod-multi-zone)",
    }


def test_one_node_per_pool_fails():
    assert mandatory({"user_nodes": {"min": 1, "max": 3}, "system_nodes": {"min": 1, "max": 1}}) == {
        ("prod-min-nodes", "apigw-aks"): "apigw-aks (azure-native:containerservice:ManagedCluster): "
        "agentPoolProfiles[system].minCount is 1; prod needs at least 3 nodes at the minimum, one per zone of "
        "agentPoolProfiles[system].availabilityZones (prod-min-nodes)",
        ("prod-min-nodes", "apigw-aks-workloads"): "apigw-aks-workloads (azure-native:containerservice:AgentPool): "
        "minCount is 1; prod needs at least 3 nodes at the minimum, one per zone of availabilityZones (prod-min-nodes)",
    }


def test_a_zonal_pool_needs_a_node_per_zone():
    assert mandatory({"user_nodes": {"min": 2, "max": 10}}) == {
        ("prod-min-nodes", "apigw-aks-workloads"): "apigw-aks-workloads (azure-native:containerservice:AgentPool): "
        "minCount is 2; prod needs at least 3 nodes at the minimum, one per zone of availabilityZones "
        "(prod-min-nodes)"}


def test_no_zones_and_one_node_fails_as_a_single_host():
    found = mandatory({"zones": [], "user_nodes": {"min": 1, "max": 3}, "system_nodes": {"min": 1, "max": 1}})
    assert found[("prod-min-nodes", "apigw-aks-workloads")] == (
        "apigw-aks-workloads (azure-native:containerservice:AgentPool): minCount is 1; prod needs at least 2 nodes "
        "at the minimum (prod-min-nodes)")
    assert {key for key in found if key[0] == "prod-multi-zone"} == {
        ("prod-multi-zone", "apigw-aks"), ("prod-multi-zone", "apigw-aks-workloads"),
        ("prod-multi-zone", "apigw-appgw")}
