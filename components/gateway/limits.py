"""What the gateway refuses, per client: the one definition the spec, the nginx config and the
components share.

A client is the address the request came from, as the load balancer in front reports it
(X-Forwarded-For from a trusted proxy; see `trusted_proxies` in components/gateway/nginx.py).
No `from __future__ import annotations`: the Kubernetes and AWS Args embed this class, and the
component provider reads real annotations.
"""
from ..argsclass import args_class


@args_class
class GatewayLimits:
    """Per-client limits every gateway instance enforces; over them a client gets a JSON 429 or 413."""

    requests_per_second: int = 50
    """Sustained requests per second per client address (0: no rate limit)."""
    burst: int = 100
    """Requests per client served at once above the rate before 429s start."""
    max_body_mib: int = 10
    """Largest request body in MiB; larger ones get 413."""
    connections_per_client: int = 100
    """Open connections per client address (0: no limit)."""


PHASE_LIMITS = {
    # dev: off but the body size, so load tests and algorithm trials from one address are not throttled.
    "dev": GatewayLimits(requests_per_second=0, burst=0, max_body_mib=10, connections_per_client=0),
    # staging is production-like: the same limits as prod, exercised before prod.
    "staging": GatewayLimits(),
    "prod": GatewayLimits(),
}
