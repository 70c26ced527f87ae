"""prod-min-nodes: a cluster or container host group has at least 2 nodes at its minimum.

Spreading pods over hosts means nothing on a one-node pool. Checked per node pool / agent pool,
at its minimum: the autoscaler's lower bound when autoscaling is on, the fixed count otherwise.
GKE counts are per zone, so they are multiplied by the zones the pool spans. An AKS pool over
availability zones needs at least one node per zone (3 over zones 1-3), or a zone has none.
"""
from __future__ import annotations

import re

from .common import PROD_MIN_NODES, items, listed, message, number, plain, resource_policy, setting, truthy
from .types import AZ_AGENT_POOL, AZ_MANAGED_CLUSTER, GCP_CLUSTER, GCP_NODE_POOL

NAME = "prod-min-nodes"
GCP_ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")
GKE_REGIONAL_DEFAULT_ZONES = 3
"""GKE replicates a regional cluster's node pools over three zones unless nodeLocations says otherwise."""

TOKENS = {
    AZ_AGENT_POOL: ("count", "minCount", "enableAutoScaling", "availabilityZones"),
    AZ_MANAGED_CLUSTER: ("agentPoolProfiles",),
    GCP_NODE_POOL: ("nodeCount", "initialNodeCount", "autoscaling", "nodeLocations", "location"),
    GCP_CLUSTER: ("initialNodeCount", "nodePools", "removeDefaultNodePool", "enableAutopilot", "nodeLocations",
                  "location"),
}


def _azure_pool(pool: dict, where: str) -> tuple[str, float | None]:
    if truthy(pool.get("enableAutoScaling")):
        return f"{where}minCount", number(pool, "minCount")
    return f"{where}count", number(pool, "count", 1.0)  # AKS creates one node when count is unset


def _zones(location, pool_nodes=None, cluster_nodes=None) -> int:
    """Zones a GKE pool spans. A pool's own nodeLocations is the complete list; a zonal cluster's
    nodeLocations adds zones to its own; a region without either means GKE's default of three."""
    if listed(pool_nodes):
        return len(set(pool_nodes))
    if isinstance(location, str) and GCP_ZONE.match(location):
        return len(set(listed(cluster_nodes)) | {location})
    return len(set(listed(cluster_nodes))) or (GKE_REGIONAL_DEFAULT_ZONES if isinstance(location, str) and location
                                                else 1)


def _gcp_pool(pool: dict, zones: int, where: str) -> tuple[str, float, str]:
    """(path, minimum nodes of the pool in all its zones, how that was counted)."""
    total = number(pool, "autoscaling.totalMinNodeCount")
    if total is not None:
        return f"{where}autoscaling.totalMinNodeCount", total, f"{int(total)}"
    if isinstance(pool.get("autoscaling"), dict):
        path, per_zone = f"{where}autoscaling.minNodeCount", number(pool, "autoscaling.minNodeCount", 0.0)
    elif pool.get("nodeCount") is not None:
        path, per_zone = f"{where}nodeCount", number(pool, "nodeCount")
    else:
        path, per_zone = f"{where}initialNodeCount", number(pool, "initialNodeCount", 1.0)
    per_zone = per_zone or 0.0
    return path, per_zone * zones, f"{int(per_zone)} per zone in {zones} zone(s), {int(per_zone * zones)} in all"


def validate(args, report):
    t = args.resource_type
    if t not in TOKENS:
        return
    props = plain(args.props)
    floor = setting(args, "minNodes", PROD_MIN_NODES)
    passes = f"prod needs at least {floor} nodes at the minimum"

    def check(path, value, found_text=None):
        if value is None or value < floor:
            report(message(args.name, t, path, value, passes, NAME, found_text))

    def check_azure(pool: dict, where: str):
        # A zonal pool below one node per zone leaves a zone without nodes: its floor is the zone count.
        zones = len(set(listed(pool.get("availabilityZones"))))
        path, value = _azure_pool(pool, where)
        if zones > floor and value is not None and value < zones:
            report(message(args.name, t, path, value, f"prod needs at least {zones} nodes at the minimum, one per "
                                                      f"zone of {where}availabilityZones", NAME))
        else:
            check(path, value)

    if t == AZ_AGENT_POOL:
        check_azure(props, "")
    elif t == AZ_MANAGED_CLUSTER:
        for i, pool in enumerate(items(props, "agentPoolProfiles")):
            check_azure(pool, f"agentPoolProfiles[{pool.get('name') or i}].")
    elif t == GCP_NODE_POOL:
        # Without nodeLocations a pool inherits the cluster's zones; judged from its own location here.
        check(*_gcp_pool(props, _zones(props.get("location"), props.get("nodeLocations")), ""))
    elif t == GCP_CLUSTER:
        if truthy(props.get("enableAutopilot")):
            return  # Autopilot provisions nodes over the region's zones itself
        location, cluster_nodes = props.get("location"), props.get("nodeLocations")
        for i, pool in enumerate(items(props, "nodePools")):
            zones = _zones(location, pool.get("nodeLocations"), cluster_nodes)
            check(*_gcp_pool(pool, zones, f"nodePools[{pool.get('name') or i}]."))
        if not props.get("nodePools") and not truthy(props.get("removeDefaultNodePool")):
            check(*_gcp_pool({"initialNodeCount": props.get("initialNodeCount")},
                             _zones(location, None, cluster_nodes), ""))


POLICY = resource_policy(
    NAME,
    "Every node pool or agent pool has at least 2 nodes at its minimum.",
    validate,
    "Set the pool's minimum (AKS minCount/count, GKE autoscaling.minNodeCount x zones or totalMinNodeCount) "
    "to at least 2 so instances can be spread over hosts.",
    config={"minNodes": {"type": "integer", "minimum": 1, "default": PROD_MIN_NODES}},
)
