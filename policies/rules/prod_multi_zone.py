"""prod-multi-zone: the load balancer, the node pools or the task subnets span at least 2 zones.

A zone outage must leave instances serving. Kubernetes workloads must be spread over zones by
the scheduler (a zone topology spread with DoNotSchedule and minDomains >= 2, or a required pod
anti-affinity on the zone), since the nodes themselves are not in the program.
"""
from __future__ import annotations

import re

from .common import PROD_MIN_ZONES, items, listed, message, plain, resource_policy, setting, show
from .kube import ZONE_KEYS, pod_spec, pod_spec_path, required_anti_affinity, spread_constraints
from .types import (
    AWS_ASG,
    AWS_ECS_SERVICE,
    AWS_LBS,
    AZ_AGENT_POOL,
    AZ_APP_GATEWAY,
    AZ_MANAGED_CLUSTER,
    GCP_CLUSTER,
    GCP_NODE_POOL,
    K8S_REPLICATED,
)

NAME = "prod-multi-zone"
GCP_ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")

TOKENS = {
    **{t: ("spec",) for t in K8S_REPLICATED},
    **{t: ("subnets", "subnetMappings", "loadBalancerType") for t in AWS_LBS},
    AWS_ECS_SERVICE: ("networkConfiguration",),
    AWS_ASG: ("vpcZoneIdentifiers", "availabilityZones"),
    AZ_AGENT_POOL: ("availabilityZones",),
    AZ_MANAGED_CLUSTER: ("agentPoolProfiles",),
    AZ_APP_GATEWAY: ("zones",),
    GCP_CLUSTER: ("location", "nodeLocations", "nodePools"),
    GCP_NODE_POOL: ("location", "nodeLocations"),
}


def _kubernetes(args, props, zones, report):
    spec = pod_spec(props, args.resource_type)
    if required_anti_affinity(spec, ZONE_KEYS):
        return
    path = f"{pod_spec_path(args.resource_type)}.topologySpreadConstraints"
    constraints = spread_constraints(spec, ZONE_KEYS)
    passes = (f"prod needs a constraint on {ZONE_KEYS[0]} with whenUnsatisfiable DoNotSchedule and "
              f"minDomains >= {zones} (or a required pod anti-affinity on the zone)")
    if not constraints:
        report(message(args.name, args.resource_type, path, None, passes, NAME,
                       f"without a {ZONE_KEYS[0]} constraint"))
        return
    if any((c.get("whenUnsatisfiable") or "DoNotSchedule") == "DoNotSchedule" and (c.get("minDomains") or 0) >= zones
           for c in constraints):
        return
    first = constraints[0]
    when = first.get("whenUnsatisfiable") or "DoNotSchedule"  # the Kubernetes default
    if when != "DoNotSchedule":
        report(message(args.name, args.resource_type, f"{path}[{ZONE_KEYS[0]}].whenUnsatisfiable", when,
                       "prod needs DoNotSchedule, so one zone cannot end up with every instance", NAME))
    else:
        report(message(args.name, args.resource_type, f"{path}[{ZONE_KEYS[0]}].minDomains", first.get("minDomains"),
                       f"prod needs at least {zones}, so the scheduler never packs one zone", NAME))


def _count(report, args, path, found, zones, what):
    if len(found) < zones:
        report(message(args.name, args.resource_type, path, found,
                       f"prod needs {what} in at least {zones} zones", NAME,
                       None if found else "not set"))


def _gcp_location(report, args, props, zones):
    nodes = items(props, "nodeLocations")
    location = props.get("location")
    if args.resource_type == GCP_CLUSTER and (location is None or GCP_ZONE.match(str(location))):
        # A zonal cluster's nodeLocations lists the zones besides its own. Without a location
        # the provider puts the cluster in its default zone: zonal too.
        spanned = {location, *nodes}
        if len(spanned) < zones:
            where = f'"{location}" (one zone)' if location else "not set (the provider's default zone: one zone)"
            report(message(args.name, args.resource_type, "location", location,
                           f"prod needs a region (a regional cluster) or nodeLocations adding zones up to {zones}",
                           NAME, f'{where} and nodeLocations is {show(nodes) if nodes else "not set"}'))
    elif nodes:
        # A node pool without nodeLocations inherits the cluster's, which the cluster's check covers.
        _count(report, args, "nodeLocations", nodes, zones, "nodes")
    if args.resource_type == GCP_CLUSTER:
        # Inline node pools may narrow the cluster's zones.
        for i, pool in enumerate(listed(props.get("nodePools"))):
            if isinstance(pool, dict) and listed(pool.get("nodeLocations")):
                _count(report, args, f"nodePools[{pool.get('name') or i}].nodeLocations",
                       listed(pool["nodeLocations"]), zones, "nodes")


def validate(args, report):
    t = args.resource_type
    if t not in TOKENS:
        return
    props = plain(args.props)
    zones = setting(args, "minZones", PROD_MIN_ZONES)
    if t in K8S_REPLICATED:
        _kubernetes(args, props, zones, report)
    elif t in AWS_LBS:
        mappings = items(props, "subnetMappings")
        if mappings:
            _count(report, args, "subnetMappings", mappings, zones, "subnets")
        else:
            _count(report, args, "subnets", items(props, "subnets"), zones, "subnets")
    elif t == AWS_ECS_SERVICE:
        if isinstance(props.get("networkConfiguration"), dict):  # awsvpc tasks choose their subnets
            _count(report, args, "networkConfiguration.subnets",
                   items(props, "networkConfiguration.subnets"), zones, "task subnets")
    elif t == AWS_ASG:
        field = "vpcZoneIdentifiers" if props.get("vpcZoneIdentifiers") else "availabilityZones"
        _count(report, args, field, items(props, field), zones, "instance subnets")
    elif t == AZ_AGENT_POOL:
        _count(report, args, "availabilityZones", items(props, "availabilityZones"), zones, "nodes")
    elif t == AZ_MANAGED_CLUSTER:
        for i, pool in enumerate(listed(props.get("agentPoolProfiles"))):
            _count(report, args, f"agentPoolProfiles[{pool.get('name') or i}].availabilityZones",
                   items(pool, "availabilityZones"), zones, "nodes")
    elif t == AZ_APP_GATEWAY:
        _count(report, args, "zones", items(props, "zones"), zones, "gateway instances")
    elif t in (GCP_CLUSTER, GCP_NODE_POOL):
        _gcp_location(report, args, props, zones)


POLICY = resource_policy(
    NAME,
    "Load balancers, node pools and task subnets span at least 2 zones; Kubernetes workloads spread over zones.",
    validate,
    "Give the load balancer, service and node pools subnets or zones in at least two availability zones "
    "(aws: two subnets in different AZs; azure: zones [1, 2, 3]; gcp: a regional cluster); on Kubernetes "
    "keep the zone topology spread constraint the prod preset adds.",
    config={"minZones": {"type": "integer", "minimum": 1, "default": PROD_MIN_ZONES}},
)
