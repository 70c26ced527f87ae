"""The policy pack on gcp-prod and its single-host copies (the real program under mocks, the pack
through the analyzer protocol): a zonal cluster or one node fails, naming the rule, the resource and the value."""
from __future__ import annotations

import copy

from tools.check import check_stack
from tools.offline import stack_config


def mandatory(changes: dict) -> dict[tuple[str, str], str]:
    config = copy.deepcopy(stack_config("gcp-prod"))
    config["apigw:gcp"] = {**config["apigw:gcp"], **changes}
    report = check_stack("gcp-prod-copy", config)
    assert not report.problems
    return {(v.policy, v.resource): v.message for v in report.violations if v.mandatory}


def test_gcp_prod_passes_because_its_gateway_fleet_is_behind_the_backend_service():
    assert mandatory({}) == {}


def test_a_zonal_cluster_with_one_node_fails():
    assert mandatory({"regional": False, "zone_count": 1}) == {
        ("prod-multi-zone", "apigw-gke"): 'apigw-gke (gcp:container/cluster:Cluster): location is "europe-west1-b" '
        "(one zone) and nodeLocations is not set; prod needs a region (a regional cluster) or nodeLocations adding "
        "zones up to 2 (prod-multi-zone)",
        ("prod-multi-zone", "apigw-gke-workloads"): 'apigw-gke-workloads (gcp:container/nodePool:NodePool): '
        'nodeLocations is ["europe-west1-b"]; prod needs nodes in at least 2 zones (prod-multi-zone)',
        ("prod-min-nodes", "apigw-gke-workloads"): "apigw-gke-workloads (gcp:container/nodePool:NodePool): "
        "autoscaling.minNodeCount is 1 per zone in 1 zone(s), 1 in all; prod needs at least 2 nodes at the minimum "
        "(prod-min-nodes)",
    }


def test_a_regional_cluster_on_one_zone_fails():
    found = mandatory({"zone_count": 1})
    assert found[("prod-multi-zone", "apigw-gke")] == (
        'apigw-gke (gcp:container/cluster:Cluster): nodeLocations is ["europe-west1-b"]; '
        "prod needs nodes in at least 2 zones (prod-multi-zone)")


def test_no_nodes_at_the_minimum_fails():
    found = mandatory({"nodes_per_zone": {"min": 0, "max": 3}})
    assert found == {("prod-min-nodes", "apigw-gke-workloads"): (
        "apigw-gke-workloads (gcp:container/nodePool:NodePool): autoscaling.minNodeCount is 0 per zone in 3 zone(s), 0 "
        "in all; prod needs at least 2 nodes at the minimum (prod-min-nodes)")}
