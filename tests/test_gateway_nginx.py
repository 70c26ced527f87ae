"""The gateway's nginx.conf: exact text, `nginx -t` on the real binary, and one live run."""
from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from components.gateway.nginx import render_gateway_config
from components.spec import parse_spec

NGINX = "/usr/sbin/nginx"
needs_nginx = pytest.mark.skipif(not Path(NGINX).exists(), reason=f"{NGINX} is not installed")

SERVICES = {"users-api": 8081, "locations-api": 8082, "payments-api": 8083}
LOCAL_SERVERS = {"users-api": ["127.0.0.1:8081", "127.0.0.1:8091"],
                 "locations-api": ["127.0.0.1:8082"], "payments-api": ["127.0.0.1:8083"]}


def make_spec(target="local", mesh="none", algorithm="round_robin", health_check=None, services=None):
    raw = {"target": target, "phase": "dev", "mesh": mesh,
           "load_balancer": {"algorithm": algorithm, "health_check": health_check or {}},
           # The local target runs processes: no image, and ports come from its own block.
           "services": services or {name: {"image": "traefik/whoami:v1.10.3", "port": port} if target != "local"
                                    else {} for name, port in SERVICES.items()}}
    return parse_spec(raw)


def block(conf: str, header: str) -> list[str]:
    """The stripped lines of the `header {...}` block, braces included."""
    lines = [line.strip() for line in conf.splitlines()]
    start = lines.index(header + " {")
    depth = 0
    for end in range(start, len(lines)):
        depth += lines[end].count("{") - lines[end].count("}")
        if depth == 0:
            return lines[start:end + 1]
    raise AssertionError(f"unclosed block {header}")


def test_upstreams_have_every_server_with_passive_health_from_spec():
    spec = make_spec(health_check={"interval_s": 20, "timeout_s": 5, "unhealthy_threshold": 5})
    conf = render_gateway_config(spec, LOCAL_SERVERS)
    assert block(conf, "upstream svc_users_api") == [
        "upstream svc_users_api {",
        "zone svc_users_api 64k;",
        "server 127.0.0.1:8081 max_fails=5 fail_timeout=20s;",
        "server 127.0.0.1:8091 max_fails=5 fail_timeout=20s;",
        "keepalive 32;",
        "}",
    ]
    assert "server 127.0.0.1:8082 max_fails=5 fail_timeout=20s;" in block(conf, "upstream svc_locations_api")
    assert "server 127.0.0.1:8083 max_fails=5 fail_timeout=20s;" in block(conf, "upstream svc_payments_api")


@pytest.mark.parametrize("target, mesh, algorithm, expected", [
    ("local", "none", "round_robin", None),
    ("local", "none", "least_connections", "least_conn;"),
    ("local", "none", "random", "random two least_conn;"),
    ("local", "none", "source_ip_hash", "hash $remote_addr consistent;"),
    ("kubernetes", "linkerd", "ewma", "# ewma: applied by the mesh/load balancer, not nginx; round robin here"),
    ("aws", "none", "least_outstanding_requests",
     "# least_outstanding_requests: applied by the mesh/load balancer, not nginx; round robin here"),
    ("aws", "none", "weighted_random",
     "# weighted_random: applied by the mesh/load balancer, not nginx; round robin here"),
])
def test_balancing_directive_per_algorithm(target, mesh, algorithm, expected):
    conf = render_gateway_config(make_spec(target, mesh, algorithm), LOCAL_SERVERS)
    lines = block(conf, "upstream svc_payments_api")
    middle = [] if expected is None else [expected]
    # nginx requires the balancing method before `keepalive`, hence the exact order.
    assert lines == ["upstream svc_payments_api {", "zone svc_payments_api 64k;", *middle,
                     "server 127.0.0.1:8083 max_fails=3 fail_timeout=10s;", "keepalive 32;", "}"]


def test_each_route_proxies_the_full_path_to_its_upstream():
    conf = render_gateway_config(make_spec(), LOCAL_SERVERS)
    for name in SERVICES:
        upstream = "svc_" + name.replace("-", "_")
        for header in (f"location = /{name}", f"location /{name}/"):
            # No URI after the upstream name: nginx passes the original path unchanged.
            assert block(conf, header) == [header + " {", f"proxy_pass http://{upstream};", "}"]


def test_proxy_defaults_retry_only_idempotent_requests():
    server = block(render_gateway_config(make_spec(), LOCAL_SERVERS), "server")
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in server
    assert not any("non_idempotent" in line for line in server)
    for line in ("proxy_next_upstream_tries 3;", "proxy_next_upstream_timeout 10s;",
                 "proxy_http_version 1.1;", 'proxy_set_header Connection "";',
                 "proxy_connect_timeout 2s;", "proxy_read_timeout 30s;", "listen 8080;",
                 "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                 "proxy_set_header X-Request-ID $gateway_request_id;",
                 "add_header X-Upstream-Addr $upstream_addr always;"):
        assert line in server


def test_health_fallback_and_log_format():
    conf = render_gateway_config(make_spec(), LOCAL_SERVERS)
    assert block(conf, "location = /healthz") == [
        "location = /healthz {", "access_log off;", "default_type text/plain;", 'return 200 "ok";', "}"]
    assert block(conf, "location /") == [
        "location / {", "default_type application/json;",
        "return 404 '{\"error\":\"no route for this path\"}';", "}"]
    log_format = next(line for line in conf.splitlines() if "log_format gateway escape=json" in line)
    for field in ("$remote_addr", "$request", "$status", "$upstream_addr", "$upstream_status",
                  "$upstream_response_time", "$request_id", "$hostname"):
        assert f'":"{field}"' in log_format
    # A JSON number, so CloudWatch metric filters can take it as a value (nginx always writes one).
    assert '"request_time":$request_time,' in log_format
    assert "access_log /dev/stdout gateway;" in conf
    assert "server_tokens off;" in conf and "\nuser " not in conf


def test_options_paths_resolver_and_instance_header():
    conf = render_gateway_config(make_spec(), LOCAL_SERVERS, listen_port=9000, pid_path="/run/gw.pid",
                                 temp_dir="/scratch/", resolver="127.0.0.11 valid=10s",
                                 instance_id="gw-7")
    for line in ("listen 9000;", "pid /run/gw.pid;", "proxy_temp_path /scratch/proxy;",
                 "client_body_temp_path /scratch/client_body;", "resolver 127.0.0.11 valid=10s;",
                 "add_header X-Gateway-Instance gw-7 always;"):
        assert line in [x.strip() for x in conf.splitlines()]
    default = render_gateway_config(make_spec(), LOCAL_SERVERS)
    assert "resolver" not in default and "X-Gateway-Instance" not in default


@pytest.mark.parametrize("servers, message", [
    ({k: v for k, v in LOCAL_SERVERS.items() if k != "payments-api"}, "'payments-api'"),
    ({**LOCAL_SERVERS, "users-api": []}, "'users-api'"),
    ({**LOCAL_SERVERS, "locations-api": ["locations-api"]}, "'locations-api'"),
    ({**LOCAL_SERVERS, "locations-api": ["127.0.0.1:99999"]}, "'locations-api'"),
    ({**LOCAL_SERVERS, "users-api": ["a b:80"]}, "'users-api'"),
])
def test_bad_upstream_servers_name_the_service(servers, message):
    with pytest.raises(ValueError, match=message):
        render_gateway_config(make_spec(), servers)


def test_root_prefix_replaces_the_404_fallback():
    spec = make_spec(services={"web": {"path_prefix": "/"}})
    conf = render_gateway_config(spec, {"web": ["127.0.0.1:80"]})
    assert block(conf, "location /") == ["location / {", "proxy_pass http://svc_web;", "}"]
    assert "return 404" not in conf


def test_prefix_colliding_with_health_path_is_refused():
    """The spec refuses it first (tests/test_spec.py); the renderer also guards direct callers."""
    spec = dataclasses.replace(make_spec(), gateway=dataclasses.replace(make_spec().gateway,
                                                                         health_check_path="/users-api"))
    with pytest.raises(ValueError, match="collides with the gateway health path '/users-api'"):
        render_gateway_config(spec, {name: ["127.0.0.1:80"] for name in SERVICES})


def _write_conf(tmp_path: Path, servers, port=8080) -> Path:
    conf = render_gateway_config(make_spec(), servers, listen_port=port, pid_path=str(tmp_path / "nginx.pid"),
                                 temp_dir=str(tmp_path), access_log=str(tmp_path / "access.log"),
                                 error_log=str(tmp_path / "error.log"))
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    return path


@needs_nginx
@pytest.mark.parametrize("servers", [
    LOCAL_SERVERS,
    # A Kubernetes-like entry (users-api.apigw.svc.cluster.local:80) cannot be used here:
    # nginx resolves upstream host names when it loads the config, and `nginx -t` fails on
    # a name the test host cannot resolve. `localhost` exercises the same host-name path.
    {name: [f"localhost:{port}"] for name, port in SERVICES.items()},
], ids=["loopback-ports", "dns-name"])
def test_nginx_accepts_the_config(tmp_path, servers):
    path = _write_conf(tmp_path, servers)
    result = subprocess.run([NGINX, "-t", "-c", str(path), "-p", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


BACKEND = """
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"port": int(sys.argv[1]), "path": self.path}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listening on {port}")


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


@needs_nginx
def test_live_gateway_routes_balances_and_fails_over(tmp_path):
    ports = [_free_port() for _ in range(3)]
    gateway_port = ports.pop()
    servers = {name: [f"127.0.0.1:{p}" for p in ports] for name in SERVICES}
    path = _write_conf(tmp_path, servers, port=gateway_port)
    procs = [subprocess.Popen([sys.executable, "-c", BACKEND, str(p)]) for p in ports]
    try:
        procs.append(subprocess.Popen([NGINX, "-c", str(path), "-p", str(tmp_path), "-g", "daemon off;"]))
        for port in [*ports, gateway_port]:
            _wait_listening(port)
        base = f"http://127.0.0.1:{gateway_port}"
        assert _get(base + "/healthz")[::2] == (200, "ok")
        seen = set()
        for _ in range(4):
            status, headers, body = _get(base + "/users-api/x?y=1")
            assert status == 200 and json.loads(body)["path"] == "/users-api/x?y=1"
            seen.add(headers["X-Upstream-Addr"])
        assert seen == set(servers["users-api"])  # round robin reaches both backends
        assert json.loads(_get(base + "/payments-api")[2])["path"] == "/payments-api"
        assert _get(base + "/nope")[0] == 404
        procs[1].terminate()
        procs[1].wait(5)
        # Connection refused on the dead backend: the GET is retried on the live one.
        assert all(_get(base + "/locations-api/")[0] == 200 for _ in range(4))
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(5)
    assert '"status":"200"' in (tmp_path / "access.log").read_text()


def test_listen_host_binds_one_address():
    lines = [x.strip() for x in render_gateway_config(make_spec(), LOCAL_SERVERS, listen_port=9000,
                                                      listen_host="127.0.0.1").splitlines()]
    assert "listen 127.0.0.1:9000;" in lines and "listen 9000;" not in lines
    with pytest.raises(ValueError, match="listen_host"):
        render_gateway_config(make_spec(), LOCAL_SERVERS, listen_host="127.0.0.1; evil")
