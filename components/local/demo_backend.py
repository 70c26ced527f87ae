"""The built-in demo backend of the local target: one instance of one service.

    python -m components.local.demo_backend --service users-api --instance users-api-1 \\
        --port 9000 --prefix /users [--health-path /health] [--host 127.0.0.1]

Standard library only. It answers every request under its path prefix with JSON naming the
service, the instance and the port (also in the `X-Instance`, `X-Service` and `X-Instance-Port`
headers), so a load test can count requests per instance through any number of proxies.

Control endpoints, on the instance's own port only (no gateway routes `/_control`), let tests
and the benchmark change its behaviour while it runs:

    POST /_control/health?fail=1   the health endpoint answers 503 (fail=0: 200 again)
    POST /_control/delay?ms=200    every answer under the prefix waits 200 ms (0: no delay)
    GET  /_control/state           the current switches and request count
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, service: str, instance: str, port: int, prefix: str, health_path: str):
        self.service, self.instance, self.port = service, instance, port
        self.prefix = prefix.rstrip("/") or "/"
        self.health_path = health_path
        self.health_failing = False
        self.delay_s = 0.0
        self.requests = 0
        self.lock = threading.Lock()

    def under_prefix(self, path: str) -> bool:
        return self.prefix == "/" or path == self.prefix or path.startswith(self.prefix + "/")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects
    # Headers and body are two writes: without TCP_NODELAY, Nagle + delayed ACK add 40 ms each.
    disable_nagle_algorithm = True
    server_version = "apigw-demo-backend"
    state: State  # set on the subclass built in serve()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # one line per request would dwarf the logs; the gateway logs requests

    def _send(self, status: int, body: dict, head_only: bool = False) -> None:
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Instance", self.state.instance)
        self.send_header("X-Service", self.state.service)
        self.send_header("X-Instance-Port", str(self.state.port))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def _read_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 10 * 1024 * 1024))

    def _handle(self, head_only: bool = False) -> None:
        self._read_body()
        st = self.state
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path == st.health_path:
            if st.health_failing:
                return self._send(503, {"status": "failing", "instance": st.instance}, head_only)
            return self._send(200, {"status": "ok", "instance": st.instance}, head_only)
        if path.startswith("/_control/"):
            return self._control(path, urllib.parse.parse_qs(url.query))
        if not st.under_prefix(path):
            return self._send(404, {"error": f"no route for {path}", "instance": st.instance}, head_only)
        with st.lock:
            st.requests += 1
            delay = st.delay_s
        if delay:
            time.sleep(delay)
        self._send(200, {"service": st.service, "instance": st.instance, "port": st.port,
                         "method": self.command, "path": path}, head_only)

    def _control(self, path: str, query: dict) -> None:
        st = self.state
        if self.command == "POST" and path == "/_control/health":
            st.health_failing = query.get("fail", ["1"])[0] not in ("0", "false", "")
        elif self.command == "POST" and path == "/_control/delay":
            try:
                st.delay_s = max(0.0, min(float(query.get("ms", ["0"])[0]), 60000.0)) / 1000
            except ValueError:
                return self._send(400, {"error": "ms must be a number"})
        elif not (self.command == "GET" and path == "/_control/state"):
            return self._send(404, {"error": f"unknown control {self.command} {path}"})
        self._send(200, {"instance": st.instance, "health_failing": st.health_failing,
                         "delay_ms": st.delay_s * 1000, "requests": st.requests})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle()

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(head_only=True)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET


def serve(service: str, instance: str, port: int, prefix: str, health_path: str = "/health",
          host: str = "127.0.0.1") -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": State(service, instance, port, prefix, health_path)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--health-path", default="/health")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    server = serve(args.service, args.instance, args.port, args.prefix, args.health_path, args.host)
    # SIGTERM: stop accepting, finish what is in flight, exit 0 (a clean stop in the logs).
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"{args.instance}: serving {args.prefix} on {args.host}:{args.port}, health {args.health_path}",
          flush=True)
    server.serve_forever(poll_interval=0.05)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
