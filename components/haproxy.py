"""haproxy.cfg of the HAProxy load balancer in front of the gateways: the local and docker targets.

Pure Python (no Pulumi import). Both targets balance over their nginx gateways with the spec's
algorithm and health check (path, interval, rise, fall, matcher) and differ only in where HAProxy
listens, how it reaches the gateways (loopback ports, or container names on the Docker network)
and its timeouts, which each target derives and passes in. HAProxy:

- replays a failed request on another gateway (`retries` + `option redispatch` + `retry-on`;
  idempotent methods only after a response error), so a gateway that dies between two health
  checks costs latency, not a failed client request;
- closes each client connection after its response (`option httpclose`): HAProxy closes idle
  keep-alive connections when it reloads (local) or is replaced (docker), which a client that
  does not retry sees as a failed request;
- names the client in X-Forwarded-For, replacing whatever the client sent, so the gateways (which
  trust HAProxy's own address only) see the real client;
- serves its Prometheus endpoint (`/metrics`) and stats page (`/stats`) on a port of their own.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .spec import HealthCheck

# The spec's neutral algorithm names -> HAProxy `balance` modes.
HAPROXY_BALANCE = {
    "round_robin": "roundrobin",
    "least_connections": "leastconn",
    "random": "random",
    "source_ip_hash": "source",
}
HAPROXY_RETRIES = 3
# Response errors worth replaying on another gateway; only for idempotent methods (below).
HAPROXY_RETRY_ON = "conn-failure empty-response junk-response response-timeout 502 503 504"
IDEMPOTENT_METHODS = "GET HEAD OPTIONS PUT DELETE"
STATS_PATH, METRICS_PATH = "/stats", "/metrics"


def haproxy_expect(matcher: str) -> str:
    """The `http-check expect` line for a spec matcher."""
    if matcher.isdigit():
        return f"http-check expect status {matcher}"
    alternatives = []
    for part in matcher.split(","):
        lo, _, hi = part.partition("-")
        lo_i, hi_i = int(lo), int(hi or lo)
        code = lo_i
        while code <= hi_i:
            if code % 100 == 0 and code + 99 <= hi_i:  # a whole hundred: 2xx
                alternatives.append(f"{code // 100}[0-9][0-9]")
                code += 100
            else:
                alternatives.append(str(code))
                code += 1
    return f"http-check expect rstatus ^({'|'.join(alternatives)})$"


@dataclass(frozen=True)
class HaproxySite:
    """Where one HAProxy listens and what it balances over; each target fills it in."""

    note: str
    """The first line of the file (a comment): who generated it."""
    algorithm: str
    """A key of HAPROXY_BALANCE."""
    health_check: HealthCheck
    bind: str
    """The clients' address, `host:port` (`:port`: every address of the container)."""
    stats_bind: str
    """The Prometheus endpoint's and stats page's address."""
    servers: Sequence[tuple[str, str]]
    """(server name, `host:port`) of each gateway, in order."""
    connect_timeout_s: int
    server_timeout_s: int
    """How long HAProxy waits for a gateway's answer: longer than a gateway waits for a service, so the
    gateway's own answer (a JSON 504) decides."""
    source_address: str | None = None
    """HAProxy's own address towards the gateways (`source`), the one whose X-Forwarded-For they trust."""
    nameserver: str | None = None
    """`host:port` of a DNS server that names the gateways (Docker's 127.0.0.11:53): HAProxy then starts
    before a gateway's name resolves and follows its address when the container is replaced."""
    dns_hold_s: int = 10
    """How long HAProxy keeps a resolved address before asking again (with `nameserver`)."""
    admin_socket: str | None = None
    """A path for HAProxy's runtime API (`stats socket`, owner only), through which the local
    target drains a gateway before a planned restart."""


def render_haproxy_config(site: HaproxySite) -> str:
    hc = site.health_check
    resolvers: list[str] = []
    resolving = ""
    if site.nameserver:
        resolvers = ["resolvers gateways", f"    nameserver dns {site.nameserver}",
                     f"    hold valid {site.dns_hold_s}s", ""]
        resolving = " resolvers gateways resolve-prefer ipv4 init-addr libc,none"
    lines = [
        f"# {site.note}",
        "global",
        "    maxconn 4096",
        "    log stdout format raw local0 info",
        "    hard-stop-after 5s",
        *([f"    stats socket {site.admin_socket} mode 600 level admin"] if site.admin_socket else []),
        "",
        *resolvers,
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    option dontlog-normal",  # log errors and retries only; the loadtest reports the rest
        f"    timeout connect {site.connect_timeout_s}s",
        "    timeout client 30s",
        f"    timeout server {site.server_timeout_s}s",
        "    timeout http-request 10s",
        f"    timeout check {hc.timeout_s}s",
        # A request that fails on one gateway is replayed on another one, so a gateway that
        # dies between two health checks costs latency, not a failed client request.
        f"    retries {HAPROXY_RETRIES}",
        "    option redispatch 1",
        f"    retry-on {HAPROXY_RETRY_ON}",
        "",
        "frontend apigw",
        f"    bind {site.bind}",
        "    option httpclose",
        "    http-request set-header X-Forwarded-For %[src]",
        "    default_backend gateways",
        "",
        "backend gateways",
        f"    balance {HAPROXY_BALANCE[site.algorithm]}",
        *([f"    source {site.source_address}"] if site.source_address else []),
        f"    option httpchk GET {hc.path}",
        f"    {haproxy_expect(hc.matcher)}",
        f"    default-server inter {hc.interval_s}s rise {hc.healthy_threshold} fall {hc.unhealthy_threshold}"
        f"{resolving}",
        # A POST that got no answer may already have acted: replay it only if it never connected.
        f"    acl idempotent method {IDEMPOTENT_METHODS}",
        "    http-request disable-l7-retry if !idempotent",
        *(f"    server {name} {address} check" for name, address in site.servers),
        "",
        "frontend prometheus",
        f"    bind {site.stats_bind}",
        f"    http-request use-service prometheus-exporter if {{ path {METRICS_PATH} }}",
        "    stats enable",
        f"    stats uri {STATS_PATH}",
        "    stats refresh 5s",
        "    no log",
    ]
    return "\n".join(lines) + "\n"
