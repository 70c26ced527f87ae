"""The gateway's per-instance metrics exporter (components/gateway/log_exporter.py): a recorded access
log fed through it, and the real nginx sending its log to it over syslog while it balances over
two instances."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from components.gateway import log_exporter
from components.gateway.log_exporter import Counters
from components.gateway.nginx import render_gateway_config
from tests.test_gateway_nginx import NGINX, _free_port, _wait_listening, make_spec, needs_nginx
from tests.test_gateway_resolved import BACKEND

ROUTES = [("/users", "users-api"), ("/payments", "payments-api")]
RECORDED = [
    # As nginx writes them (LOG_FORMAT), behind the syslog header it adds.
    '<190>Nov 29 01:00:00 nginx: {"time":"2026-11-29T01:00:00+00:00","remote_addr":"10.0.0.9",'
    '"request":"GET /users/1 HTTP/1.1",'
    '"status":"200","body_bytes_sent":"12","request_time":"0.011","upstream_addr":"10.1.0.4:8080",'
    '"upstream_status":"200","upstream_response_time":"0.010","request_id":"a"}',
    '{"request":"GET /users/2 HTTP/1.1","status":"200","upstream_addr":"10.1.0.5:8080","upstream_status":"200",'
    '"upstream_response_time":"0.300"}',
    # A retry: the first instance failed, the second answered; the answer counts for the second.
    '{"request":"GET /users/3 HTTP/1.1","status":"200","upstream_addr":"10.1.0.4:8080, 10.1.0.5:8080",'
    '"upstream_status":"502, 200","upstream_response_time":"0.001, 0.020"}',
    '{"request":"POST /payments HTTP/1.1","status":"503","upstream_addr":"10.2.0.7:8080","upstream_status":"503",'
    '"upstream_response_time":"1.500"}',
    # Answered by the gateway itself: no upstream.
    '{"request":"GET /nowhere HTTP/1.1","status":"404","upstream_addr":"","upstream_status":"",'
    '"upstream_response_time":""}',
    "not json at all",
]


def metrics(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_a_recorded_access_log_gives_requests_and_latency_per_instance():
    counters = Counters(ROUTES)
    for line in RECORDED:
        counters.observe(line)
    found = metrics(counters.render())
    requests = {k: v for k, v in found.items() if k.startswith(log_exporter.REQUESTS)}
    assert requests == {
        'apigw_gateway_requests_total{service="",upstream="gateway",status_class="4xx"}': 1,
        'apigw_gateway_requests_total{service="payments-api",upstream="10.2.0.7:8080",status_class="5xx"}': 1,
        'apigw_gateway_requests_total{service="users-api",upstream="10.1.0.4:8080",status_class="2xx"}': 1,
        'apigw_gateway_requests_total{service="users-api",upstream="10.1.0.5:8080",status_class="2xx"}': 2}
    labels = 'service="users-api",upstream="10.1.0.5:8080"'
    assert found[f'apigw_gateway_upstream_response_seconds_bucket{{{labels},le="0.025"}}'] == 1   # 0.020
    assert found[f'apigw_gateway_upstream_response_seconds_bucket{{{labels},le="0.5"}}'] == 2     # and 0.300
    assert found[f"apigw_gateway_upstream_response_seconds_count{{{labels}}}"] == 2
    assert found[f"apigw_gateway_upstream_response_seconds_sum{{{labels}}}"] == pytest.approx(0.32)


def test_the_exporter_serves_what_it_receives_over_syslog():
    counters = Counters(ROUTES)
    syslog_port, metrics_port = _free_port(), _free_port()
    servers = log_exporter.serve(counters, syslog_port, metrics_port, metrics_host="127.0.0.1")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for line in RECORDED:
                sender.sendto(line.encode(), ("127.0.0.1", syslog_port))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sum(counters.requests.values()) < 5:
            time.sleep(0.02)
        body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        assert metrics(body)['apigw_gateway_requests_total{service="users-api",upstream="10.1.0.5:8080",'
                             'status_class="2xx"}'] == 2
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/other", timeout=5)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@needs_nginx
def test_real_nginx_sends_each_request_to_the_exporter_per_instance(tmp_path):
    counters = Counters([("/users-api", "users-api")])
    syslog_port, metrics_port, port = _free_port(), _free_port(), _free_port()
    backend_ports = [_free_port(), _free_port()]
    servers = log_exporter.serve(counters, syslog_port, metrics_port, metrics_host="127.0.0.1")
    processes = [subprocess.Popen([sys.executable, "-c", BACKEND, "127.0.0.1", str(p), "ok",
                                   str(tmp_path / f"{p}.log")])
                 for p in backend_ports]
    spec = make_spec(services={"users-api": {}})
    conf = render_gateway_config(spec, {"users-api": [f"127.0.0.1:{p}" for p in backend_ports]}, listen_port=port,
                                 pid_path=str(tmp_path / "nginx.pid"), temp_dir=str(tmp_path),
                                 access_log=str(tmp_path / "access.log"), error_log=str(tmp_path / "error.log"),
                                 metrics_syslog_port=syslog_port)
    assert f"access_log syslog:server=127.0.0.1:{syslog_port},nohostname gateway;" in conf
    (tmp_path / "nginx.conf").write_text(conf)
    processes.append(subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path),
                                       "-g", "daemon off;"]))
    try:
        _wait_listening(port)
        for p in backend_ports:
            _wait_listening(p)
        for i in range(20):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/users-api/{i}", timeout=5).read()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sum(counters.requests.values()) < 20:
            time.sleep(0.05)
        found = metrics(urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode())
        per_instance = {f"127.0.0.1:{p}": found.get(f'apigw_gateway_requests_total{{service="users-api",'
                                                    f'upstream="127.0.0.1:{p}",status_class="2xx"}}', 0)
                        for p in backend_ports}
        # Round robin over two instances: 10 each, every one measured.
        assert per_instance == {f"127.0.0.1:{p}": 10 for p in backend_ports}
        assert sum(v for k, v in found.items() if k.startswith("apigw_gateway_upstream_response_seconds_count")) == 20
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        for server in servers:
            server.shutdown()
            server.server_close()
