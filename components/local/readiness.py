"""Readiness controller of the local target: active health checks for the backends.

On the cloud targets a backend whose health check fails leaves the rotation because the
platform (Kubernetes readiness probes, ECS/ALB target health) takes it out of the endpoints
the gateway's upstream resolves to. nginx open source has no active health checks, so on the
local target this small process plays that part:

- every `interval_s` it GETs each backend's health path (timeout `timeout_s`); `fall`
  consecutive failures take the instance out, `rise` consecutive successes bring it back
  (the spec's unhealthy_threshold / healthy_threshold, as HAProxy does for the gateways);
- each gateway's nginx.conf is re-rendered with the healthy instances only (the same
  render_gateway_config, so nothing drifts) and nginx reloads it (SIGHUP, graceful);
- a service with no healthy instance keeps all of them (fail open, like a cloud load balancer
  whose targets are all unhealthy): a wrong health check must not take a whole service down;
- its view is written to `status.json` (per instance: up, since when, last status), which the
  tests and the benchmark read to time transitions.

The work is level-triggered: every tick compares each gateway's file with what it should be,
so a gateway restarted by Pulumi with the full config is corrected within one interval.

    python -m components.local.readiness --plan <state_dir>/readiness/plan.json
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from components.local.processes import http_status, write_file_atomic
from components.local.topology import render_local_gateway, spec_from_dict, status_matches


class Backend:
    def __init__(self, d: dict):
        self.service: str = d["service"]
        self.instance: str = d["instance"]
        self.address: str = d["address"]
        self.health_url: str = d["health_url"]
        self.up = True  # started only once healthy (processes.start), so it begins in rotation
        self.successes = 0
        self.failures = 0
        self.since = time.time()
        self.last_status: int | None = None

    def record(self, status: int | None, matcher: str, rise: int, fall: int, now: float) -> bool:
        """Count one check; True if the instance changed state."""
        self.last_status = status
        if status is not None and status_matches(status, matcher):
            self.successes, self.failures = self.successes + 1, 0
            if not self.up and self.successes >= rise:
                self.up, self.since = True, now
                return True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.up and self.failures >= fall:
                self.up, self.since = False, now
                return True
        return False


class Controller:
    def __init__(self, plan: dict):
        self.plan = plan
        self.spec = spec_from_dict(plan["spec"])
        self.backends = [Backend(b) for b in plan["backends"]]
        self.interval_s = float(plan["interval_s"])
        self.timeout_s = float(plan["timeout_s"])
        self.stopping = threading.Event()
        self.reloads = 0
        self.pool = ThreadPoolExecutor(max_workers=max(4, min(32, len(self.backends))))

    def upstreams(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for service in self.spec.services:
            mine = [b for b in self.backends if b.service == service.name]
            healthy = [b.address for b in mine if b.up]
            result[service.name] = healthy or [b.address for b in mine]  # fail open
        return result

    def check_all(self) -> None:
        statuses = list(self.pool.map(lambda b: http_status(b.health_url, self.timeout_s), self.backends))
        now = time.time()
        for backend, status in zip(self.backends, statuses):
            if backend.record(status, self.plan["matcher"], self.plan["rise"], self.plan["fall"], now):
                state = "back in rotation" if backend.up else f"out of rotation (last status {status})"
                print(f"{time.strftime('%H:%M:%S')} {backend.instance} {state}", flush=True)

    def reconcile(self) -> None:
        upstreams = self.upstreams()
        for gateway in self.plan["gateways"]:
            wanted = render_local_gateway(self.spec, self.plan["state_dir"], gateway["index"], upstreams)
            path = pathlib.Path(gateway["conf_path"])
            try:
                current = path.read_text()
            except OSError:
                current = None
            if current == wanted:
                continue
            write_file_atomic(path, wanted)
            if self._reload(gateway["pid_path"]):
                self.reloads += 1

    @staticmethod
    def _reload(pid_path: str) -> bool:
        try:
            pid = int(pathlib.Path(pid_path).read_text().strip())
            os.kill(pid, signal.SIGHUP)  # nginx: re-read the config, replace workers gracefully
            return True
        except (OSError, ValueError):
            return False  # not running right now: it reads the new file when it starts

    def write_status(self) -> None:
        write_file_atomic(self.plan["status_path"], json.dumps({
            "pid": os.getpid(), "updated_at": time.time(), "reloads": self.reloads,
            "backends": {b.instance: {"service": b.service, "address": b.address, "up": b.up,
                                      "since": b.since, "last_status": b.last_status}
                         for b in self.backends},
        }, indent=2, sort_keys=True))

    def run(self) -> None:
        self.reconcile()
        self.write_status()
        start = time.monotonic()
        tick = 0
        # Ticks on a fixed schedule (not after each round), so fall x interval is a real bound.
        while not self.stopping.wait(max(0.0, start + (tick + 1) * self.interval_s - time.monotonic())):
            tick += 1
            self.check_all()
            self.reconcile()
            self.write_status()
        self.pool.shutdown(wait=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Take failing backends out of the gateways' upstreams.")
    parser.add_argument("--plan", required=True, help="plan.json written by the local topology")
    args = parser.parse_args(argv)
    controller = Controller(json.loads(pathlib.Path(args.plan).read_text()))
    signal.signal(signal.SIGTERM, lambda *_: controller.stopping.set())
    print(f"readiness: watching {len(controller.backends)} backends every {controller.interval_s:g}s", flush=True)
    controller.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
