"""The gateway's per-instance metrics, from its own access log: a Prometheus exporter, standard library only.

nginx sends each access-log line (the JSON of components/gateway/nginx.py's LOG_FORMAT) to this
program over syslog on the pod's loopback (no file grows); it counts requests and upstream response
times per service and per upstream address (the service instance that answered) and serves them
at /metrics. It runs as a sidecar of each gateway pod (the Kubernetes workloads mount this file
from a ConfigMap into a pinned python image), so Prometheus adds the gateway pod's own labels.

    python log_exporter.py --routes routes.json [--syslog-port 5514] [--metrics-port 9145]

routes.json: [["/users", "users-api"], ...], longest prefix first: the gateway's own routing.
"""
from __future__ import annotations

import argparse
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REQUESTS = "apigw_gateway_requests_total"
"""Requests each gateway instance answered, by service, upstream (the instance that answered; "gateway"
when nginx answered itself: 404, 413, 429) and status class (2xx ... 5xx)."""
RESPONSE_SECONDS = "apigw_gateway_upstream_response_seconds"
"""How long the upstream instance took to answer (histogram), by service and upstream."""
METRIC_NAMES = (REQUESTS, f"{RESPONSE_SECONDS}_bucket", f"{RESPONSE_SECONDS}_sum", f"{RESPONSE_SECONDS}_count")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SYSLOG_PORT, METRICS_PORT = 5514, 9145


def last(value: str) -> str:
    """nginx lists every attempt ("10.0.0.1:8080, 10.0.0.2:8080" after a retry): the last one answered."""
    return value.replace(" : ", ", ").split(",")[-1].strip() if value else ""


class Counters:
    def __init__(self, routes: list[tuple[str, str]]):
        self.routes = sorted(routes, key=lambda route: -len(route[0]))
        self.requests: dict[tuple[str, str, str], int] = {}
        self.histograms: dict[tuple[str, str], list] = {}
        self.lock = threading.Lock()

    def service(self, request: str) -> str:
        parts = request.split(" ")
        path = parts[1].split("?")[0] if len(parts) > 1 else ""
        for prefix, service in self.routes:
            base = prefix.rstrip("/")
            if not base or path == base or path.startswith(base + "/"):
                return service
        return ""

    def observe(self, line: str) -> None:
        """One access-log line (JSON, possibly after a syslog header); anything else is ignored."""
        start = line.find("{")
        if start < 0:
            return
        try:
            entry = json.loads(line[start:])
        except ValueError:
            return
        upstream = last(entry.get("upstream_addr", "")) or "gateway"
        status = last(entry.get("upstream_status", "")) if upstream != "gateway" else entry.get("status", "")
        status_class = f"{status[:1]}xx" if status[:1].isdigit() else "unknown"
        service = self.service(entry.get("request", ""))
        with self.lock:
            key = (service, upstream, status_class)
            self.requests[key] = self.requests.get(key, 0) + 1
            seconds = last(entry.get("upstream_response_time", ""))
            if upstream != "gateway" and seconds.replace(".", "", 1).isdigit():
                counts = self.histograms.setdefault((service, upstream), [0] * len(BUCKETS) + [0, 0.0])
                value = float(seconds)
                for i, bound in enumerate(BUCKETS):
                    if value <= bound:
                        counts[i] += 1
                counts[-2] += 1
                counts[-1] += value

    def render(self) -> str:
        out = [f"# HELP {REQUESTS} Requests answered, by service, upstream instance and status class.",
               f"# TYPE {REQUESTS} counter"]
        with self.lock:
            for (service, upstream, status_class), count in sorted(self.requests.items()):
                out.append(f'{REQUESTS}{{service="{service}",upstream="{upstream}",status_class="{status_class}"}} '
                           f"{count}")
            out += [f"# HELP {RESPONSE_SECONDS} Upstream response time, by service and upstream instance.",
                    f"# TYPE {RESPONSE_SECONDS} histogram"]
            for (service, upstream), counts in sorted(self.histograms.items()):
                labels = f'service="{service}",upstream="{upstream}"'
                out += [f'{RESPONSE_SECONDS}_bucket{{{labels},le="{bound}"}} {counts[i]}'
                        for i, bound in enumerate(BUCKETS)]
                out += [f'{RESPONSE_SECONDS}_bucket{{{labels},le="+Inf"}} {counts[-2]}',
                        f"{RESPONSE_SECONDS}_sum{{{labels}}} {counts[-1]}",
                        f"{RESPONSE_SECONDS}_count{{{labels}}} {counts[-2]}"]
        return "\n".join(out) + "\n"


def serve(counters: Counters, syslog_port: int, metrics_port: int, host: str = "127.0.0.1",
          metrics_host: str = "0.0.0.0") -> tuple[socketserver.UDPServer, ThreadingHTTPServer]:
    """Start the syslog receiver (loopback: only this pod's nginx) and the metrics endpoint; both in threads."""
    class Syslog(socketserver.BaseRequestHandler):
        def handle(self):
            counters.observe(self.request[0].decode("utf-8", "replace"))

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self):
            body = counters.render().encode() if self.path == "/metrics" else b"not found\n"
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # scrapes every few seconds: not worth a log line each
            pass

    syslog = socketserver.UDPServer((host, syslog_port), Syslog)
    metrics = ThreadingHTTPServer((metrics_host, metrics_port), Metrics)
    for server in (syslog, metrics):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return syslog, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", required=True, help="JSON file: [[path prefix, service], ...]")
    parser.add_argument("--syslog-port", type=int, default=SYSLOG_PORT)
    parser.add_argument("--metrics-port", type=int, default=METRICS_PORT)
    args = parser.parse_args()
    with open(args.routes) as routes:
        counters = Counters([tuple(route) for route in json.load(routes)])
    serve(counters, args.syslog_port, args.metrics_port)
    threading.Event().wait()


if __name__ == "__main__":
    main()
