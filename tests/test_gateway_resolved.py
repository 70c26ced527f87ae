"""The gateway balancing over a service's instances by a name resolved while nginx runs (the
Kubernetes target's headless Services), on the real nginx: a tiny DNS server answers the name
with one loopback address per instance."""
from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from components.gateway.nginx import render_gateway_config
from components.kubernetes.gateway import DNS_REFRESH_S
from components.kubernetes.workload import PRE_STOP_SLEEP_S
from tests.test_gateway_nginx import NGINX, _free_port, _wait_listening, make_spec, needs_nginx

COREDNS_TTL_S = 5
"""CoreDNS's kubernetes plugin answers with a 5 s TTL (its `ttl` default)."""
NAME = "users-api-endpoints.apigw.svc.cluster.local"


def test_a_removed_instance_stops_getting_requests_before_its_pre_stop_sleep_ends():
    assert DNS_REFRESH_S + COREDNS_TTL_S <= PRE_STOP_SLEEP_S


class Dns:
    """Answers A queries for any name with `self.addresses` (TTL 1 s)."""

    def __init__(self, addresses: list[str]):
        self.addresses = addresses
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self.socket.recvfrom(512)
            except OSError:
                return
            end = 12
            while query[end]:
                end += query[end] + 1
            question = query[12:end + 5]
            answers = b"".join(struct.pack(">HHHIH", 0xC00C, 1, 1, 1, 4) + socket.inet_aton(a)
                               for a in self.addresses)
            header = query[:2] + struct.pack(">HHHHH", 0x8180, 1, len(self.addresses), 0, 0)
            self.socket.sendto(header + question + answers, peer)

    def close(self) -> None:
        self.socket.close()


BACKEND = """
import http.server, sys
host, port, mode, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with open(log, "a") as f:
            f.write(self.command + "\\n")
        status = 503 if mode == "failing" else 200
        body = host.encode()
        self.send_response(status); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer((host, port), H).serve_forever()
"""


@pytest.fixture
def gateway(tmp_path):
    port, backend_port = _free_port(), _free_port()
    dns = Dns(["127.0.0.2", "127.0.0.3"])
    backends = {host: (mode, tmp_path / f"{host}.log") for host, mode in (("127.0.0.2", "ok"),
                                                                          ("127.0.0.3", "failing"))}
    processes = [subprocess.Popen([sys.executable, "-c", BACKEND, host, str(backend_port), mode, str(log)])
                 for host, (mode, log) in backends.items()]
    spec = make_spec(services={"users-api": {}})
    conf = render_gateway_config(spec, {"users-api": [f"{NAME}:{backend_port}"]}, listen_port=port,
                                 pid_path=str(tmp_path / "nginx.pid"), temp_dir=str(tmp_path),
                                 access_log=str(tmp_path / "access.log"), error_log=str(tmp_path / "error.log"),
                                 resolver=f"127.0.0.1:{dns.port} valid=1s ipv6=off", resolve_at_run_time=True)
    (tmp_path / "nginx.conf").write_text(conf)
    processes.append(subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path),
                                       "-g", "daemon off;"]))
    try:
        _wait_listening(port)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(_listening(h, backend_port) for h in backends):
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/users-api/x", dns, backends
    finally:
        for process in processes:
            process.terminate()
            process.wait(5)
        dns.close()


def _listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) == 0


def _call(url: str, data: bytes | None = None) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
            return response.status, response.headers.get("X-Upstream-Addr", ""), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("X-Upstream-Addr", ""), err.read().decode()


def _hits(log) -> list[str]:
    return log.read_text().split() if log.exists() else []


@needs_nginx
def test_an_idempotent_request_that_fails_on_one_instance_succeeds_on_another(gateway):
    url, _, backends = gateway
    answers = [_call(url) for _ in range(40)]
    assert {status for status, _, _ in answers} == {200}
    assert {body for _, _, body in answers} == {"127.0.0.2"}
    failing_log = backends["127.0.0.3"][1]
    assert _hits(failing_log).count("GET") >= 1  # reached, answered 503, and retried elsewhere
    retried = [addr for _, addr, _ in answers if "," in addr]
    assert retried and all(addr.split(", ")[0].startswith("127.0.0.3") for addr in retried)


@needs_nginx
def test_a_post_is_never_retried_on_another_instance(gateway):
    url, _, backends = gateway
    # nginx starts each request at a random one of the name's addresses: 40 tries reach both.
    answers = [_call(url, data=b"{}") for _ in range(40)]
    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {200, 503} and 503 in statuses and 200 in statuses
    hits = sum(_hits(log).count("POST") for _, log in backends.values())
    assert hits == len(answers)  # one backend call per POST: none was replayed
    assert all("," not in addr for _, addr, _ in answers)


@needs_nginx
def test_a_new_instance_gets_requests_once_the_name_resolves_to_it(gateway):
    url, dns, backends = gateway
    dns.addresses = ["127.0.0.2"]
    time.sleep(1.5)  # the resolver's `valid` here is 1 s (5 s on Kubernetes)
    assert {_call(url)[2] for _ in range(4)} == {"127.0.0.2"}
    before = len(_hits(backends["127.0.0.3"][1]))
    dns.addresses = ["127.0.0.2", "127.0.0.3"]
    added = time.monotonic()
    while len(_hits(backends["127.0.0.3"][1])) == before and time.monotonic() - added < 10:
        _call(url)
        time.sleep(0.05)
    # Bounded by the resolver's `valid` (1 s here) and the DNS TTL (1 s here), with slack for a busy machine.
    assert len(_hits(backends["127.0.0.3"][1])) > before and time.monotonic() - added < 8
