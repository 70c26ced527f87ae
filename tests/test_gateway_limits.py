"""Per-client limits from the spec, rendered into the gateway config every target runs, and
enforced by the real nginx: a JSON 429 over the rate or the connections, a JSON 413 over the body
size, clients told apart by the X-Forwarded-For of a trusted load balancer."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from components.gateway.limits import PHASE_LIMITS, GatewayLimits
from components.gateway.nginx import render_gateway_config, routing_of
from components.spec import SpecError, parse_spec
from tests.test_gateway_nginx import (
    BACKEND,
    LOCAL_SERVERS,
    NGINX,
    SERVICES,
    _free_port,
    _wait_listening,
    make_spec,
    needs_nginx,
)
from tests.test_kubernetes_drain import SLOW_BACKEND
from tools.offline import project_keys, stack_config


def _config(limits: GatewayLimits, servers, port: int, tmp_path, trusted=("127.0.0.1",)) -> str:
    spec = make_spec()
    spec = dataclasses.replace(spec, gateway=dataclasses.replace(spec.gateway, limits=limits))
    return render_gateway_config(routing_of(spec, trusted_proxies=trusted), servers, listen_port=port,
                                 pid_path=str(tmp_path / "nginx.pid"), temp_dir=str(tmp_path),
                                 access_log=str(tmp_path / "access.log"), error_log=str(tmp_path / "error.log"))


def test_defaults_per_phase_and_the_rendered_directives():
    assert PHASE_LIMITS["dev"] == GatewayLimits(0, 0, 10, 0)
    assert PHASE_LIMITS["staging"] == PHASE_LIMITS["prod"] == GatewayLimits(50, 100, 10, 100)
    raw = project_keys(stack_config("kubernetes-prod"))
    assert parse_spec(raw).gateway.limits == PHASE_LIMITS["prod"]
    raw["gateway"]["limits"] = {"requests_per_second": 5, "burst": 10, "max_body_mib": 2, "connections_per_client": 3}
    conf = render_gateway_config(routing_of(parse_spec(raw), trusted_proxies=("10.0.0.0/8",)),
                                 {s: ["127.0.0.1:1"] for s in ("users-api", "locations-api", "payments-api")})
    lines = [line.strip() for line in conf.splitlines()]
    for directive in ("set_real_ip_from 10.0.0.0/8;", "real_ip_header X-Forwarded-For;", "real_ip_recursive on;",
                      "limit_req_zone $binary_remote_addr zone=per_client:10m rate=5r/s;", "limit_req_status 429;",
                      "limit_conn_zone $binary_remote_addr zone=per_client_connections:10m;",
                      "client_max_body_size 2m;"):
        assert directive in lines, directive
    # Every route location is limited; the health check is not.
    assert lines.count("limit_req zone=per_client burst=10 nodelay;") == 6
    assert lines.count("limit_conn per_client_connections 3;") == 6
    health = lines[lines.index("location = /healthz {"):][:5]
    assert not any(line.startswith("limit_") for line in health)


def test_dev_renders_no_rate_or_connection_limit():
    lines = [line.strip() for line in render_gateway_config(make_spec(), LOCAL_SERVERS).splitlines()]
    assert not [line for line in lines if line.startswith(("limit_req", "limit_conn"))]
    assert "client_max_body_size 10m;" in lines


@pytest.mark.parametrize("limits, expected", [
    ({"requests_per_second": 0, "burst": 5}, "gateway.limits.burst: found 5; allowed: 0 when requests_per_second "
                                             "is 0 (no rate limit to burst over)"),
    ({"max_body_mib": 0}, "gateway.limits.max_body_mib: found 0; allowed: an integer from 1 to 1024"),
    ({"rate": 5}, "gateway.limits.rate: found 5; allowed: known keys: requests_per_second, burst, max_body_mib, "
                  "connections_per_client"),
])
def test_bad_limits_are_refused(limits, expected):
    raw = project_keys(stack_config("kubernetes-dev"))
    raw["gateway"]["limits"] = limits
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert [str(p) for p in err.value.problems] == [expected]


def _request(url: str, data: bytes | None = None, client: str | None = None):
    request = urllib.request.Request(url, data=data, headers={"X-Forwarded-For": client} if client else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


class _Gateway:
    def __init__(self, tmp_path, limits: GatewayLimits, backend: str = BACKEND):
        self.backend_port, self.port = _free_port(), _free_port()
        path = tmp_path / "nginx.conf"
        path.write_text(_config(limits, {s: [f"127.0.0.1:{self.backend_port}"] for s in SERVICES}, self.port,
                                tmp_path))
        self.processes = [subprocess.Popen([sys.executable, "-c", backend, str(self.backend_port)]),
                          subprocess.Popen([NGINX, "-c", str(path), "-p", str(tmp_path), "-g", "daemon off;"])]
        _wait_listening(self.backend_port)
        _wait_listening(self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self):
        for process in self.processes:
            process.terminate()
            process.wait(5)


@needs_nginx
def test_over_the_rate_a_client_gets_a_json_429_and_other_clients_do_not(tmp_path):
    gateway = _Gateway(tmp_path, GatewayLimits(requests_per_second=1, burst=2, max_body_mib=1,
                                               connections_per_client=0))
    try:
        answers = [_request(gateway.url + "/users-api/x", client="203.0.113.7") for _ in range(6)]
        statuses = [status for status, _ in answers]
        assert statuses[:3] == [200, 200, 200] and statuses[3:].count(429) >= 2
        refused = next(body for status, body in answers if status == 429)
        assert json.loads(refused) == {"error": "too many requests from this client"}
        # Another client behind the same (trusted) load balancer has its own allowance.
        assert _request(gateway.url + "/users-api/x", client="198.51.100.9")[0] == 200
        # The health check is never throttled.
        assert all(_request(gateway.url + "/healthz", client="203.0.113.7")[0] == 200 for _ in range(5))
    finally:
        gateway.close()


@needs_nginx
def test_a_body_over_the_limit_gets_a_json_413(tmp_path):
    gateway = _Gateway(tmp_path, GatewayLimits(requests_per_second=0, burst=0, max_body_mib=1,
                                               connections_per_client=0))
    try:
        status, body = _request(gateway.url + "/users-api/upload", data=b"x" * (2 * 1024 * 1024))
        assert status == 413 and json.loads(body) == {"error": "request body too large"}
    finally:
        gateway.close()


@needs_nginx
def test_over_the_connection_limit_a_client_gets_a_json_429(tmp_path):
    gateway = _Gateway(tmp_path, GatewayLimits(requests_per_second=0, burst=0, max_body_mib=1,
                                               connections_per_client=1), backend=SLOW_BACKEND)
    try:
        first = {}
        slow = threading.Thread(target=lambda: first.update(answer=_request(gateway.url + "/users-api/slow")))
        slow.start()
        time.sleep(0.5)  # the first request holds its connection while the backend sleeps
        status, body = _request(gateway.url + "/users-api/second")
        slow.join(10)
        assert status == 429 and json.loads(body) == {"error": "too many requests from this client"}
        assert first["answer"][0] == 200
    finally:
        gateway.close()
