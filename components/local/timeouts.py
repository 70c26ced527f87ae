"""How long the local target's HAProxy and gateways wait, derived from the health check.

The cloud targets give a service 30 s to answer (components/gateway/nginx.py). On one machine a
stopped or hung instance (SIGSTOP, a deadlock) still accepts connections (the kernel queues them),
so nothing but a timeout ends a request sent to it. Locally the timeouts follow the health check
instead, so a hung instance costs a bounded delay:

- `read_s` = unhealthy_threshold x interval_s + timeout_s: an instance that answers nothing for as
  long as the health check takes to call it dead is treated as dead. The gateway then passes an
  idempotent request to another instance (proxy_next_upstream timeout); a POST gets a 504.
  Meanwhile the readiness controller takes the hung instance out of the upstreams within the
  same time, so later requests no longer reach it.
- `connect_s` = timeout_s: connecting takes no longer than a health check may.
- `next_upstream_s` = 2 x read_s: room for one more instance after a timed-out one.
- `haproxy_server_s` = next_upstream_s + 1: HAProxy waits longer than a gateway's worst case
  (a timed-out try, then a second one), so the gateway's own answer (a JSON 504) always decides.

local-dev (interval 2 s, timeout 1 s, fall 2): read 5 s, connect 1 s, HAProxy 11 s.
"""
from __future__ import annotations

from dataclasses import dataclass

from components.spec import HealthCheck


@dataclass(frozen=True)
class Timeouts:
    connect_s: int
    read_s: int
    next_upstream_s: int
    haproxy_server_s: int

    @property
    def hung_backend_bound_s(self) -> int:
        """The longest an idempotent request waits because of a hung backend before another
        instance answers it: one read timeout (plus that other instance's own answer time)."""
        return self.read_s


def timeouts_of(hc: HealthCheck) -> Timeouts:
    read = hc.unhealthy_threshold * hc.interval_s + hc.timeout_s
    return Timeouts(connect_s=hc.timeout_s, read_s=read, next_upstream_s=2 * read,
                    haproxy_server_s=2 * read + 1)
