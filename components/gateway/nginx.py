"""The API gateway's nginx.conf, rendered from the stack spec.

Pure Python (no Pulumi import): the Kubernetes, AWS (ECS) and local targets all ship this
same text and differ only in `upstream_servers` and file paths, so routing, retries and
timeouts cannot drift between clouds. The result runs as a non-root user
(`nginx -c FILE -p DIR`): no `user` directive, every writable path under `temp_dir`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..spec import StackSpec
from .limits import GatewayLimits

# nginx balancing directive per spec algorithm. Algorithms missing here (ewma,
# least_outstanding_requests, weighted_random) are carried out by a mesh or the ALB in front
# of the services, so nginx keeps its default round robin.
BALANCING = {
    "round_robin": None,
    "least_connections": "least_conn;",
    "random": "random two least_conn;",  # power of two choices: random without hot spots
    "source_ip_hash": "hash $remote_addr consistent;",
}

UPSTREAM_KEEPALIVE = 32
PROXY_READ_TIMEOUT_S = 30
"""The longest the gateway waits for a backend's response: also how long a draining instance
needs to finish its last requests (components/kubernetes/workload.py sizes the drain from it)."""
KEEPALIVE_TIMEOUT_S = 620
"""How long nginx keeps an idle client connection. Longer than the idle timeout of any load
balancer in front, so the gateway never closes a connection the balancer is about to reuse (502s):
GCP's external Application Load Balancer keeps backend connections 600 s (fixed), and the ALB's
idle timeout is held below this (components/aws/options.py)."""
SERVICE_PROXY_TIMEOUT_S = PROXY_READ_TIMEOUT_S + 5
"""How long a proxy between the gateway and a service (ECS Service Connect's) lets a request run: longer
than nginx waits, so the gateway's own timeout (a JSON 504) decides, never the proxy's shorter default."""
SERVICE_PROXY_IDLE_S = 300
"""...and how long it keeps an idle connection: longer than nginx keeps its upstream connections (60 s)."""
BALANCER_TIMEOUT_S = PROXY_READ_TIMEOUT_S + 5
"""How long a balancer in front (Application Gateway, GCP's backend service) waits for the gateway's
answer: longer than the gateway waits for a service, so a slow service ends in the gateway's own
504 (JSON), not in the balancer's 502."""
PROXY_NEXT_UPSTREAM_TRIES = 3
PROXY_NEXT_UPSTREAM_TIMEOUT_S = 10
PROXY_CONNECT_TIMEOUT_S = 2
RATE_ZONE, CONNECTION_ZONE = "per_client", "per_client_connections"

_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})$")
_UNSAFE = re.compile(r"[;{}\"'#\\\s]")  # would end or escape an nginx directive

LOG_FORMAT = (
    '{"time":"$time_iso8601","remote_addr":"$remote_addr","request":"$request",'
    # request_time is a JSON number (nginx always writes one): CloudWatch metric filters take it as a value.
    '"status":"$status","body_bytes_sent":"$body_bytes_sent","request_time":$request_time,'
    # The gateway instance that answered (a task's or pod's host name): per-instance metrics from the log.
    '"instance":"$hostname",'
    '"upstream_addr":"$upstream_addr","upstream_status":"$upstream_status",'
    '"upstream_response_time":"$upstream_response_time","request_id":"$request_id",'
    '"client_request_id":"$http_x_request_id","host":"$host","user_agent":"$http_user_agent"}'
)


@dataclass(frozen=True)
class GatewayRouting:
    """Everything the gateway config is rendered from; `routing_of(spec)` builds it from a stack,
    the Kubernetes workloads component from its Args."""

    port: int
    health_check_path: str
    """The location every gateway answers itself (what the load balancer probes)."""
    algorithm: str
    routes: tuple[tuple[str, str], ...]
    """(path prefix, service name), longest prefix first, as nginx and HAProxy match them."""
    max_fails: int = 3
    """Passive health: failures before nginx takes a server out (the health check's unhealthy_threshold)."""
    fail_timeout_s: int = 10
    """...for this long (one check interval: as long as an active check would take to notice)."""
    limits: GatewayLimits = GatewayLimits()
    trusted_proxies: tuple[str, ...] = ()
    """Addresses (CIDRs) of the load balancers in front, whose X-Forwarded-For names the client the
    limits count; without any, the client is the connection's peer."""
    retries: bool = True
    """Retry idempotent requests on another server; False when a service mesh retries (two layers of
    retries multiply the attempts a failing service gets)."""
    connect_timeout_s: int = PROXY_CONNECT_TIMEOUT_S
    """How long the gateway waits to connect to a service instance."""
    read_timeout_s: int = PROXY_READ_TIMEOUT_S
    """How long it waits between two reads of (or writes to) an instance; the cloud targets keep
    PROXY_READ_TIMEOUT_S, the local target derives it from the health check (components/local/timeouts.py)."""
    next_upstream_timeout_s: int = PROXY_NEXT_UPSTREAM_TIMEOUT_S
    """How long after its start a request may still be passed to the next instance."""

    @staticmethod
    def build(port: int, health_check_path: str, algorithm: str, prefixes: Mapping[str, str],
              max_fails: int, fail_timeout_s: int, limits: GatewayLimits = GatewayLimits(),
              trusted_proxies: Sequence[str] = (), retries: bool = True) -> GatewayRouting:
        routes = tuple(sorted(((prefix, service) for service, prefix in prefixes.items()),
                              key=lambda r: (-len(r[0]), r[0])))
        return GatewayRouting(port, health_check_path, algorithm, routes, max_fails, fail_timeout_s, limits,
                              tuple(trusted_proxies), retries)

    @property
    def services(self) -> list[str]:
        return [service for _, service in self.routes]


def routing_of(spec: StackSpec, trusted_proxies: Sequence[str] = ()) -> GatewayRouting:
    hc = spec.load_balancer.health_check
    return GatewayRouting.build(spec.gateway.port, spec.gateway.health_check_path, spec.load_balancer.algorithm,
                                {s.name: s.path_prefix for s in spec.services}, hc.unhealthy_threshold,
                                hc.interval_s, spec.gateway.limits, trusted_proxies)


def _limits_http(limits: GatewayLimits, trusted_proxies: Sequence[str]) -> list[str]:
    lines = [f"set_real_ip_from {_check(cidr, 'trusted_proxies')};" for cidr in trusted_proxies]
    if trusted_proxies:
        # The rightmost address no trusted proxy added: the client as the first load balancer saw it.
        lines += ["real_ip_header X-Forwarded-For;", "real_ip_recursive on;"]
    if limits.requests_per_second:
        lines += [f"limit_req_zone $binary_remote_addr zone={RATE_ZONE}:10m rate={limits.requests_per_second}r/s;",
                  "limit_req_status 429;"]
    if limits.connections_per_client:
        lines += [f"limit_conn_zone $binary_remote_addr zone={CONNECTION_ZONE}:10m;", "limit_conn_status 429;"]
    return lines + [f"client_max_body_size {limits.max_body_mib}m;"]


def _limits_location(limits: GatewayLimits) -> list[str]:
    """In each route's location, so the health check and the 404 fallback are never throttled."""
    lines = []
    if limits.requests_per_second:
        lines.append(f"    limit_req zone={RATE_ZONE} burst={limits.burst} nodelay;")
    if limits.connections_per_client:
        lines.append(f"    limit_conn {CONNECTION_ZONE} {limits.connections_per_client};")
    return lines


def _retries(routing: GatewayRouting) -> list[str]:
    if not routing.retries:
        return ["proxy_next_upstream off;  # the service mesh retries"]
    # No `non_idempotent`: POST, PATCH, ... are never replayed on another server, since the first
    # may already have acted; only idempotent requests are retried.
    return ["proxy_next_upstream error timeout http_502 http_503 http_504;",
            f"proxy_next_upstream_tries {PROXY_NEXT_UPSTREAM_TRIES};",
            f"proxy_next_upstream_timeout {routing.next_upstream_timeout_s}s;"]

REFUSALS = {429: "too many requests from this client", 413: "request body too large"}
"""What the gateway answers, as JSON, when a client goes over a limit."""


def upstream_name(service: str) -> str:
    return "svc_" + service.replace("-", "_")


def _check(value: str, what: str, allow_spaces: bool = False) -> str:
    bad = _UNSAFE.search(value.replace(" ", "") if allow_spaces else value)
    if not value or bad:
        raise ValueError(f"{what}: {value!r} is empty or contains {bad.group() if bad else ''!r}; "
                         "not allowed in nginx.conf")
    return value


def _validate(routing: GatewayRouting, upstream_servers: Mapping[str, Sequence[str]]) -> None:
    for service in routing.services:
        servers = upstream_servers.get(service)
        if not servers:
            raise ValueError(f"service {service!r}: upstream_servers has no entry for it "
                             "(need at least one 'host:port')")
        for entry in servers:
            match = _HOST_PORT.match(str(entry))
            if not match or not 1 <= int(match.group(3)) <= 65535:
                raise ValueError(f"upstream_servers[{service!r}]: {entry!r} is not "
                                 "'host:port' (port 1-65535)")
    health = routing.health_check_path
    for prefix, service in routing.routes:
        if prefix.rstrip("/") == health.rstrip("/"):
            raise ValueError(f"service {service}: path_prefix {prefix!r} "
                             f"collides with the gateway health path {health!r}")


UPSTREAM_RESOLVE_SINCE = (1, 27, 3)
"""Open-source nginx re-resolves `server ... resolve` in an upstream block from this version on."""
_VERSION = re.compile(r"(?<![0-9.])([0-9]+)\.([0-9]+)\.([0-9]+)")


def nginx_version_of(image: str) -> tuple[int, int, int] | None:
    """The nginx version an image's tag names (nginxinc/nginx-unprivileged:1.27.3-alpine), or None
    (a digest, or a tag without a version)."""
    tag = image.rsplit("@", 1)[0].rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    match = _VERSION.search(tag)
    return tuple(int(part) for part in match.groups()) if match else None  # type: ignore[return-value]


def _upstream(name: str, servers: Sequence[str], algorithm: str, max_fails: int,
              fail_timeout_s: int, resolve: bool = False) -> list[str]:
    lines = [f"upstream {upstream_name(name)} {{",
             # Shared memory, so all workers agree on which server max_fails took out.
             f"    zone {upstream_name(name)} 64k;"]
    if algorithm not in BALANCING:
        lines.append(f"    # {algorithm}: applied by the mesh/load balancer, not nginx; round robin here")
    elif BALANCING[algorithm]:
        # Must come before `keepalive`: a method set after it drops upstream keepalive.
        lines.append(f"    {BALANCING[algorithm]}")
    # Passive health mirrors the spec. One entry that is a Service name (ECS, or a mesh's ClusterIP)
    # is one server, which nginx never marks down: readiness is the platform's job there. With
    # several (local) or with `resolve` (each address of a headless Service), it marks pods down.
    flag = " resolve" if resolve else ""
    lines += [f"    server {s}{flag} max_fails={max_fails} fail_timeout={fail_timeout_s}s;" for s in servers]
    return lines + [f"    keepalive {UPSTREAM_KEEPALIVE};", "}"]


def _route_locations(prefix: str, upstream: str, limits: GatewayLimits, resolved: str | None = None) -> list[str]:
    # `proxy_pass http://name;` without a URI part: the backend sees the full original path (with a
    # variable too: nginx then passes the request URI as it came).
    if resolved is None:
        body = [*_limits_location(limits), f"    proxy_pass http://{upstream};"]
    else:
        # A variable makes nginx resolve the name per request (within the resolver's `valid`), so
        # every address the name has (each instance) is a server to balance over and retry on.
        body = [*_limits_location(limits), f'    set ${upstream} "{resolved}";', f"    proxy_pass http://${upstream};"]
    base = prefix.rstrip("/")
    if not base:
        return ["location / {", *body, "}"]
    return [f"location = {base} {{", *body, "}", f"location {base}/ {{", *body, "}"]


def render_gateway_config(
    routing: GatewayRouting | StackSpec,
    upstream_servers: Mapping[str, Sequence[str]],
    *,
    listen_port: int | None = None,
    listen_host: str | None = None,
    pid_path: str = "/tmp/nginx.pid",
    temp_dir: str = "/tmp",
    access_log: str = "/dev/stdout",
    error_log: str = "/dev/stderr",
    resolver: str | None = None,
    instance_id: str | None = None,
    resolve_at_run_time: bool = False,
    nginx_version: tuple[int, int, int] | None = None,
    note: str | None = None,
    metrics_syslog_port: int | None = None,
) -> str:
    """Return a complete nginx.conf for the gateway; raise ValueError on bad input.

    `routing` may be a whole StackSpec, for callers that have one. `resolve_at_run_time`: each
    service's one "name:port" is looked up through `resolver` while nginx runs, and nginx balances
    and retries over every address it has (a headless Service's pods). With `nginx_version` 1.27.3
    or later that is an `upstream` block with `server ... resolve`: passive health (max_fails),
    keepalive and the algorithm work as with fixed servers. Older (or unknown) versions get
    `proxy_pass` with a variable, which 1.22 runs too: each request then starts at a random
    address and retries on another, but failure counts do not outlive a request and no upstream
    connection is kept alive."""
    if isinstance(routing, StackSpec):
        routing = routing_of(routing)
    _validate(routing, upstream_servers)
    port = routing.port if listen_port is None else listen_port
    if not 1 <= port <= 65535:
        raise ValueError(f"listen_port: {port} is not a port (1-65535)")
    for value, what in ((pid_path, "pid_path"), (temp_dir, "temp_dir"), (access_log, "access_log"),
                        (error_log, "error_log"), (instance_id, "instance_id"), (listen_host, "listen_host")):
        if value is not None:
            _check(value, what)
    temp = temp_dir.rstrip("/") or "/"

    http: list[str] = [
        "server_tokens off;",
        "default_type application/octet-stream;",
        f"log_format gateway escape=json '{LOG_FORMAT}';",
        f"access_log {access_log} gateway;",
        # Each line also to the per-instance metrics exporter (components/gateway/log_exporter.py) on loopback.
        *([f"access_log syslog:server=127.0.0.1:{metrics_syslog_port},nohostname gateway;"]
          if metrics_syslog_port else []),
        *(f"{kind}_temp_path {temp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
        *_limits_http(routing.limits, routing.trusted_proxies),
        "client_header_timeout 10s;",
        "client_body_timeout 30s;",
        "send_timeout 30s;",
        f"keepalive_timeout {KEEPALIVE_TIMEOUT_S}s;",
        # Keep the scheme the outer load balancer saw when it terminated TLS.
        "map $http_x_forwarded_proto $forwarded_proto {",
        '    ""      $scheme;',
        "    default $http_x_forwarded_proto;",
        "}",
        # Keep a caller's request id so traces join across hops; otherwise use nginx's.
        "map $http_x_request_id $gateway_request_id {",
        '    ""      $request_id;',
        "    default $http_x_request_id;",
        "}",
    ]
    if resolver is not None:
        http.append(f"resolver {_check(resolver, 'resolver', allow_spaces=True)};")
    elif resolve_at_run_time:
        raise ValueError("resolve_at_run_time needs a resolver (e.g. kube-dns.kube-system.svc.cluster.local)")
    in_upstream = resolve_at_run_time and nginx_version is not None and nginx_version >= UPSTREAM_RESOLVE_SINCE
    resolved = {}
    if resolve_at_run_time and not in_upstream:
        for service in routing.services:
            servers = list(upstream_servers[service])
            if len(servers) != 1:
                raise ValueError(f"service {service!r}: resolved at run time from one 'name:port', got {servers}")
            resolved[service] = servers[0]
    for service in sorted(routing.services):
        if service not in resolved:
            http += _upstream(service, upstream_servers[service], routing.algorithm, routing.max_fails,
                              routing.fail_timeout_s, resolve=in_upstream)

    server = [
        # Every interface by default (right in a container); the local target passes loopback.
        f"listen {listen_host}:{port};" if listen_host else f"listen {port};",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',  # required for upstream keepalive
        "proxy_set_header Host $host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $forwarded_proto;",
        "proxy_set_header X-Forwarded-Host $host;",
        "proxy_set_header X-Request-ID $gateway_request_id;",
        f"proxy_connect_timeout {routing.connect_timeout_s}s;",
        f"proxy_send_timeout {routing.read_timeout_s}s;",
        f"proxy_read_timeout {routing.read_timeout_s}s;",
        *_retries(routing),
        # Headers live here only: a location with its own add_header would drop these.
        "add_header X-Upstream-Addr $upstream_addr always;",
        "add_header X-Request-ID $gateway_request_id always;",
    ]
    if instance_id is not None:
        server.append(f"add_header X-Gateway-Instance {instance_id} always;")
    server += [f"location = {routing.health_check_path} {{", "    access_log off;",
               "    default_type text/plain;", '    return 200 "ok";', "}"]
    for status, message in REFUSALS.items():
        server += [f"error_page {status} @refused_{status};", f"location @refused_{status} {{",
                   "    default_type application/json;", f"    return {status} '{{\"error\":\"{message}\"}}';", "}"]
    for prefix, service in routing.routes:
        server += _route_locations(prefix, upstream_name(service), routing.limits, resolved.get(service))
    if not any(prefix.rstrip("/") == "" for prefix, _ in routing.routes):
        server += ["location / {", "    default_type application/json;",
                   "    return 404 '{\"error\":\"no route for this path\"}';", "}"]

    http += ["server {", *("    " + line for line in server), "}"]
    header = [f"# {_check(line, 'note', allow_spaces=True)}" for line in (note or "").splitlines()]
    main = [*header, "worker_processes auto;", f"pid {pid_path};", f"error_log {error_log} warn;",
            "events {", "    worker_connections 1024;", "}",
            "http {", *("    " + line for line in http), "}"]
    return "\n".join(main) + "\n"
