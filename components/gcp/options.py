"""The `<project>:gcp` block, and the GCP-specific rules for the neutral spec.

Pure Python (no Pulumi import): a bad value is reported with every other problem, with its key
path, the value found and what GCP allows, before any resource is registered. Ranges come from
the provider's and GCP's documentation (cited per rule).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ..spec import Instances as NodeRange  # a {min, max} count, as instances are
from ..validation import DNS_SUBDOMAIN, Problems

# The global external Application Load Balancer's locality policies for the spec's algorithms.
# RING_HASH and MAGLEV hash the client address (session affinity CLIENT_IP); with a mesh the
# algorithm applies inside the mesh and the load balancer stays ROUND_ROBIN.
LOCALITY_POLICIES = {"round_robin": "ROUND_ROBIN", "least_outstanding_requests": "LEAST_REQUEST",
                     "random": "RANDOM", "source_ip_hash": "RING_HASH", "maglev": "MAGLEV"}
HASHED = ("RING_HASH", "MAGLEV")
GCP_ALGORITHMS = tuple(LOCALITY_POLICIES)
HEALTH_CHECK_SOURCES = ("35.191.0.0/16", "130.211.0.0/22")
"""Where Google's health checks and the external Application Load Balancer's proxies (GFEs) connect from."""
RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE")
SSL_PROFILES = ("MODERN", "RESTRICTED")
MAX_RATE_COUNT = 10_000
"""Cloud Armor's largest rate-based ban threshold (requests per interval)."""
BAN_DURATIONS = (60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600)
"""The durations Cloud Armor documents for rate-limit intervals and bans (seconds)."""
PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REGION_RE = re.compile(r"^[a-z]+-[a-z]+\d+$")
ZONE_RE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")
MACHINE_TYPE_RE = re.compile(r"^[a-z0-9]+-[a-z0-9-]+$")
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
NETWORK_RE = re.compile(r"^(https://www\.googleapis\.com/compute/v1/)?projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/"
                        r"global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
SUBNETWORK_RE = re.compile(r"^(https://www\.googleapis\.com/compute/v1/)?projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/"
                           r"regions/(?P<region>[a-z]+-[a-z]+\d+)/subnetworks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
CHANNEL_RE = re.compile(r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/notificationChannels/\d+$")


@dataclass(frozen=True)
class PhaseDefaults:
    regional: bool
    zones: int
    nodes_per_zone: NodeRange
    machine_type: str
    cloud_armor: bool
    deletion_protection: bool


PHASE_DEFAULTS: dict[str, PhaseDefaults] = {
    # dev: one zone, one node (the reference's one host); staging: production-like on one zone.
    "dev": PhaseDefaults(False, 1, NodeRange(1, 3), "e2-standard-2", cloud_armor=False, deletion_protection=False),
    "staging": PhaseDefaults(False, 1, NodeRange(2, 4), "e2-standard-2", cloud_armor=False,
                             deletion_protection=False),
    # prod: a regional cluster over three zones, at least one node in each.
    "prod": PhaseDefaults(True, 3, NodeRange(1, 5), "e2-standard-4", cloud_armor=True, deletion_protection=True),
}


@dataclass(frozen=True)
class GcpNetwork:
    """A new VPC-native network and subnet, or existing ones (Shared VPC) with their secondary ranges."""

    subnet_cidr: str = "10.10.0.0/20"
    pods_cidr: str = "10.20.0.0/14"
    services_cidr: str = "10.24.0.0/20"
    network: str | None = None
    """An existing network's self link or `projects/<p>/global/networks/<n>`; None: a new one."""
    subnetwork: str | None = None
    pods_range_name: str = "pods"
    services_range_name: str = "services"

    @property
    def existing(self) -> bool:
        return self.network is not None


@dataclass(frozen=True)
class GcpOptions:
    project: str = ""
    """The GCP project id (required)."""
    network: GcpNetwork = GcpNetwork()
    regional: bool = False
    """A regional cluster (control plane and nodes over `zones`); false: zonal (dev and staging only)."""
    zones: tuple[str, ...] = ()
    """The zones of the nodes (and the NEGs); default the region's first `zone_count` zones."""
    zone_count: int = 1
    nodes_per_zone: NodeRange = NodeRange(1, 3)
    machine_type: str = "e2-standard-2"
    release_channel: str = "REGULAR"
    cloud_armor: bool = False
    rate_limit_per_minute: int = 6000
    """Cloud Armor: requests per client address per minute before a ban."""
    ban_duration_s: int = 600
    ssl_profile: str = "MODERN"
    deletion_protection: bool = False
    master_authorized_cidrs: tuple[str, ...] = ()
    """Who may reach the control plane's public endpoint; empty: anywhere (authenticated by Google)."""
    neg_name: str = ""
    """The gateway Service's standalone NEG (one per zone, created by GKE); default <project>-<stack>-gateway."""
    max_rate_per_endpoint: int = 500
    """Requests per second per gateway pod the load balancer plans with (RATE balancing)."""
    log_sample_rate: float = 1.0
    """Share of requests the load balancer logs."""
    alarm_5xx_percent: int = 5
    alarm_latency_ms: int = 1000


def parse_gcp_options(raw: dict, p: Problems, spec) -> GcpOptions:
    p.unknown_keys(raw, (*GcpOptions.__dataclass_fields__, *_NETWORK_KEYS), "gcp")
    phase = PHASE_DEFAULTS.get(spec.phase, PHASE_DEFAULTS["dev"])
    project = p.string(raw, "project", "gcp.project", None)
    if project is None:
        p.add("gcp.project", None, "the GCP project id (required), e.g. my-platform-prod")
    elif not PROJECT_RE.match(project):
        p.add("gcp.project", project,
              "a GCP project id: 6-30 lowercase letters, digits and '-', starting with a letter")
    regional = p.boolean(raw, "regional", "gcp.regional", phase.regional)
    rate_default = min(spec.gateway.limits.requests_per_second * 60 * 2 or 6000, MAX_RATE_COUNT)
    return GcpOptions(
        project=project or "",
        network=_network(p, raw),
        regional=regional,
        zones=_zones(p, raw, spec.region),
        zone_count=p.integer(raw, "zone_count", "gcp.zone_count", phase.zones if regional else 1, 1, 4)
        or (phase.zones if regional else 1),
        nodes_per_zone=_range(p, raw, "nodes_per_zone", phase.nodes_per_zone),
        machine_type=_pattern(p, raw, "machine_type", phase.machine_type, MACHINE_TYPE_RE,
                              "a Compute Engine machine type such as e2-standard-4"),
        release_channel=p.choice(raw, "release_channel", "gcp.release_channel", "REGULAR", RELEASE_CHANNELS)
        or "REGULAR",
        cloud_armor=p.boolean(raw, "cloud_armor", "gcp.cloud_armor", phase.cloud_armor),
        rate_limit_per_minute=p.integer(raw, "rate_limit_per_minute", "gcp.rate_limit_per_minute", rate_default, 1,
                                        MAX_RATE_COUNT) or rate_default,
        ban_duration_s=_ban(p, raw),
        ssl_profile=p.choice(raw, "ssl_profile", "gcp.ssl_profile", "MODERN", SSL_PROFILES) or "MODERN",
        deletion_protection=p.boolean(raw, "deletion_protection", "gcp.deletion_protection", phase.deletion_protection),
        master_authorized_cidrs=_cidrs(p, raw, "master_authorized_cidrs"),
        neg_name=_pattern(p, raw, "neg_name", f"{spec.project}-{spec.phase or 'dev'}-gateway"[:63].rstrip("-"),
                          NAME_RE, "a GCP resource name: lowercase letters, digits and '-', at most 63"),
        max_rate_per_endpoint=p.integer(raw, "max_rate_per_endpoint", "gcp.max_rate_per_endpoint", 500, 1, 1_000_000)
        or 500,
        log_sample_rate=_rate(p, raw),
        alarm_5xx_percent=p.integer(raw, "alarm_5xx_percent", "gcp.alarm_5xx_percent", 5, 1, 100) or 5,
        alarm_latency_ms=p.integer(raw, "alarm_latency_ms", "gcp.alarm_latency_ms", 1000, 10, 300_000) or 1000,
    )


_NETWORK_KEYS = ("subnet_cidr", "pods_cidr", "services_cidr", "subnetwork", "pods_range_name", "services_range_name")


def _pattern(p: Problems, raw: dict, key: str, default, pattern: re.Pattern, allowed: str):
    return p.matching(raw, key, f"gcp.{key}", default, pattern, allowed)


def _cidr(p: Problems, raw: dict, key: str, default: str) -> str:
    return p.private_network(raw, key, f"gcp.{key}", default, "a private IPv4 range in CIDR form, such as 10.10.0.0/20")


def _cidrs(p: Problems, raw: dict, key: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    try:
        return tuple(str(ipaddress.ip_network(v)) for v in value) if isinstance(value, list) else ()
    except (TypeError, ValueError):
        pass
    p.add(f"gcp.{key}", value, "a list of CIDR ranges such as 203.0.113.0/24")
    return ()


def _network(p: Problems, raw: dict) -> GcpNetwork:
    """New ranges, or an existing network and subnet (both) with the names of their secondary ranges."""
    existing = "network" in raw or "subnetwork" in raw
    if not existing:
        ranges = {key: _cidr(p, raw, key, getattr(GcpNetwork(), key)) for key in ("subnet_cidr", "pods_cidr",
                                                                                   "services_cidr")}
        nets = {key: ipaddress.IPv4Network(value) for key, value in ranges.items()}
        keys = list(nets)
        for i, key in enumerate(keys):
            for other in keys[i + 1:]:
                if nets[key].overlaps(nets[other]):
                    p.add(f"gcp.{other}", ranges[other], f"a range apart from gcp.{key} {ranges[key]}")
        for key in ("pods_range_name", "services_range_name"):
            if key in raw:
                p.add(f"gcp.{key}", raw[key], "nothing without an existing subnetwork (the stack names its own ranges)")
        return GcpNetwork(**ranges)
    for key in ("subnet_cidr", "pods_cidr", "services_cidr"):
        if key in raw:
            p.add(f"gcp.{key}", raw[key], "nothing with an existing network (its subnet has its ranges)")
    network = _pattern(p, raw, "network", None, NETWORK_RE, "a network: projects/<project>/global/networks/<name> "
                                                            "(or its self link)")
    subnetwork = _pattern(p, raw, "subnetwork", None, SUBNETWORK_RE, "a subnetwork: projects/<project>/regions/"
                                                                     "<region>/subnetworks/<name> (or its self link)")
    for key, value in (("network", network), ("subnetwork", subnetwork)):
        if value is None and key not in raw:
            p.add(f"gcp.{key}", None, "an existing network and subnetwork are given both or neither")
    names = {key: _pattern(p, raw, key, default, NAME_RE, "the name of a secondary range of the subnetwork")
             for key, default in (("pods_range_name", "pods"), ("services_range_name", "services"))}
    return GcpNetwork(network=network or "", subnetwork=subnetwork or "", **names)


def _zones(p: Problems, raw: dict, region: str) -> tuple[str, ...]:
    value = raw.get("zones", [])
    if not isinstance(value, list) or any(not isinstance(z, str) or not ZONE_RE.match(z) for z in value) \
            or len(set(value)) != len(value):
        p.add("gcp.zones", value, "distinct zone names such as europe-west1-b, or [] for the region's first zones")
        return ()
    outside = [z for z in value if not z.startswith(f"{region}-")]
    if outside:
        p.add("gcp.zones", value, f"zones of the stack's region {region} ({', '.join(outside)} is not)")
        return ()
    return tuple(value)


def _range(p: Problems, raw: dict, key: str, default: NodeRange) -> NodeRange:
    return NodeRange(*p.bounds(raw, key, f"gcp.{key}", (default.min, default.max), 0, 1000))


def _ban(p: Problems, raw: dict) -> int:
    value = raw.get("ban_duration_s", 600)
    if value not in BAN_DURATIONS or isinstance(value, bool):
        p.add("gcp.ban_duration_s", value, f"one of Cloud Armor's durations: {', '.join(map(str, BAN_DURATIONS))}")
        return 600
    return int(value)


def _rate(p: Problems, raw: dict) -> float:
    value = raw.get("log_sample_rate", 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        p.add("gcp.log_sample_rate", value, "a number from 0.0 to 1.0 (the share of requests logged)")
        return 1.0
    return float(value)


def check_gcp_spec(spec, p: Problems) -> None:
    """What the neutral spec allows but GCP does not (or this target cannot honour), and prod's safe settings."""
    options: GcpOptions = spec.options
    if not REGION_RE.match(spec.region):
        p.add("region", spec.region, "a GCP region such as europe-west1 or us-central1")
    match = SUBNETWORK_RE.match(options.network.subnetwork or "")
    if match and match.group("region") != spec.region:
        p.add("gcp.subnetwork", options.network.subnetwork, f"a subnetwork of the stack's region {spec.region}")
    if not options.regional and len(options.zones) > 1:
        p.add("gcp.zones", list(options.zones), "one zone for a zonal cluster (gcp.regional: false)")
    hc = spec.load_balancer.health_check
    # GCP health checks: the timeout may not exceed the interval (both 1-300 s; the spec already
    # keeps the timeout below the interval), thresholds 1-10 (the spec's range).
    if hc.matcher != "200":
        p.add("load_balancer.health_check.matcher", hc.matcher,
              '"200" on the gcp target (GCP HTTP health checks accept only 200 as healthy)')
    tls = spec.load_balancer.tls_certificate
    if tls is not None and (len(tls) > 253 or not DNS_SUBDOMAIN.match(tls) or "." not in tls):
        p.add("load_balancer.tls_certificate", tls, "the domain name of a Google-managed certificate, such as "
                                                    "api.example.com (its DNS must point at the stack's address)")
    topic = spec.monitoring.alarm_topic
    if topic is not None and not CHANNEL_RE.match(topic):
        p.add("monitoring.alarm_topic", topic, "a notification channel: projects/<project>/notificationChannels/<id>")
    if topic is None and spec.phase == "prod" and spec.monitoring.enabled:
        p.add("monitoring.alarm_topic", None, "a notification channel: prod alerts must reach someone")
    limits = spec.gateway.limits
    if options.cloud_armor and limits.requests_per_second and \
            options.rate_limit_per_minute < limits.requests_per_second * 60:
        p.add("gcp.rate_limit_per_minute", options.rate_limit_per_minute,
              f"at least {limits.requests_per_second * 60} (gateway.limits.requests_per_second "
              f"{limits.requests_per_second} a minute): Cloud Armor would ban clients the gateway admits")
    for key, value in spec.labels.items():
        if not NAME_RE.match(key) or (value and not re.match(r"^[-_a-z0-9]{1,63}$", value)):
            p.add(f"labels.{key}", value,
                  "a GCP label: key and value of lowercase letters, digits, '-' and '_', at most "
                  "63 characters (labels are also the GCP resources' labels)")
    if spec.phase == "prod":
        required = {"gcp.cloud_armor": (options.cloud_armor, "the load balancer faces the internet"),
                    "gcp.deletion_protection": (options.deletion_protection, "the cluster runs prod")}
        for path, (value, why) in required.items():
            if value is not True:
                p.add(path, value, f"true in prod ({why})")
