"""Graceful drain: every pod sleeps before it stops, then has the gateway's longest wait to finish;
a new pod counts only once it has stayed ready. And nginx, stopped the way its images stop it
(SIGQUIT), finishes the request in flight."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from components.gateway.nginx import PROXY_READ_TIMEOUT_S
from components.kubernetes.workload import DRAIN_MARGIN_S, PRE_STOP_SLEEP_S, TERMINATION_GRACE_S
from tests.test_gateway_nginx import NGINX, SERVICES, _free_port, _get, _wait_listening, _write_conf, needs_nginx

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@pytest.mark.parametrize("stack, interval, healthy", [("kubernetes-prod", 10, 2), ("kubernetes-staging", 5, 1)])
def test_every_workload_drains_and_waits_to_be_ready(plan_of, stack, interval, healthy):
    deployments = plan_of(stack).by_type(DEPLOYMENT)
    assert len(deployments) == 4
    for deployment in deployments:
        spec = deployment.inputs["spec"]
        assert spec["minReadySeconds"] == interval * healthy
        pod = spec["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] == TERMINATION_GRACE_S == 45
        for container in pod["containers"]:   # the gateway's metrics exporter too
            assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_S}}}


def test_the_grace_period_covers_the_sleep_and_the_gateways_longest_wait():
    assert TERMINATION_GRACE_S == PRE_STOP_SLEEP_S + PROXY_READ_TIMEOUT_S + DRAIN_MARGIN_S


SLOW_BACKEND = """
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(1.5)
        self.send_response(200); self.send_header("Content-Length", "4"); self.end_headers(); self.wfile.write(b"done")
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


@needs_nginx
def test_nginx_stopped_with_sigquit_finishes_the_request_in_flight(tmp_path):
    backend_port, gateway_port = _free_port(), _free_port()
    path = _write_conf(tmp_path, {name: [f"127.0.0.1:{backend_port}"] for name in SERVICES}, port=gateway_port)
    backend = subprocess.Popen([sys.executable, "-c", SLOW_BACKEND, str(backend_port)])
    nginx = subprocess.Popen([NGINX, "-c", str(path), "-p", str(tmp_path), "-g", "daemon off;"])
    try:
        _wait_listening(backend_port)
        _wait_listening(gateway_port)
        result = {}
        request = threading.Thread(target=lambda: result.update(
            answer=_get(f"http://127.0.0.1:{gateway_port}/users-api/slow")))
        request.start()
        time.sleep(0.5)  # the request is now waiting on the slow backend
        os.kill(nginx.pid, signal.SIGQUIT)
        request.join(10)
        assert result["answer"][0] == 200 and result["answer"][2] == "done"
        assert nginx.wait(10) == 0
    finally:
        for process in (nginx, backend):
            if process.poll() is None:
                process.terminate()
                process.wait(5)
