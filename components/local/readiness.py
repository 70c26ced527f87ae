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
- a planned restart drains an instance first (rollout.py writes `<state_dir>/readiness/drain/<instance>`):
  it leaves every gateway's upstreams within POLL_S plus a reload, and comes back as soon as the
  file is gone and it answers its health check;
- its view is written to `status.json` (per instance: up, since when, last status; per gateway:
  the upstreams its running nginx has, once the reload finished and the old workers are gone),
  which the rolling updates, the tests and the benchmark read.

The work is level-triggered: every POLL_S it compares each gateway's file with what it should
be, so a gateway restarted with the full config (by Pulumi or the supervisor) is corrected at once.

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
from concurrent.futures import Future, ThreadPoolExecutor

from components.local.options import gateway_instance_id
from components.local.processes import http_status, write_file_atomic
from components.local.procfs import cmdline
from components.local.rollout import drain_dir, reload_process
from components.local.timeouts import timeouts_of
from components.local.topology import (
    gateway_spec_digest,
    render_local_gateway,
    spec_digest_of,
    spec_from_dict,
    status_matches,
)

POLL_S = 0.1


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
        self.digest = gateway_spec_digest(self.spec)
        self.backends = [Backend(b) for b in plan["backends"]]
        self.interval_s = float(plan["interval_s"])
        self.timeout_s = float(plan["timeout_s"])
        # A drained instance's requests in flight take at most the upstream read timeout.
        self.reload_wait_s = timeouts_of(self.spec.load_balancer.health_check).read_s + 1.0
        self.drain_dir = drain_dir(plan["state_dir"])
        self.drained: set[str] = set()
        self.applied: dict[str, dict] = {}
        self.pending: dict[str, tuple[Future, dict]] = {}
        self.stopping = threading.Event()
        self.reloads = 0
        self.pool = ThreadPoolExecutor(max_workers=max(4, min(32, len(self.backends) + len(plan["gateways"]))))

    def upstreams(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for service in self.spec.services:
            mine = [b for b in self.backends if b.service == service.name]
            serving = [b for b in mine if b.instance not in self.drained]
            healthy = [b.address for b in serving if b.up]
            # Fail open: no healthy instance keeps every one not drained; the last one is never drained.
            result[service.name] = healthy or [b.address for b in serving] or [b.address for b in mine]
        return result

    def check_all(self) -> None:
        statuses = list(self.pool.map(lambda b: http_status(b.health_url, self.timeout_s), self.backends))
        now = time.time()
        for backend, status in zip(self.backends, statuses, strict=True):
            if backend.record(status, self.plan["matcher"], self.plan["rise"], self.plan["fall"], now):
                state = "back in rotation" if backend.up else f"out of rotation (last status {status})"
                print(f"{time.strftime('%H:%M:%S')} {backend.instance} {state}", flush=True)

    def read_drains(self) -> bool:
        """Pick up drain requests (rollout.set_drained); True if the set changed. An instance whose
        drain ends was just restarted and is healthy (the update waited for it): like any
        started instance it is back in rotation at once if its health check passes now."""
        try:
            drained = {p.name for p in self.drain_dir.iterdir()}
        except OSError:
            drained = set()
        if drained == self.drained:
            return False
        now = time.time()
        for backend in self.backends:
            if backend.instance in self.drained - drained:
                status = http_status(backend.health_url, self.timeout_s)
                backend.successes, backend.failures, backend.last_status = 0, 0, status
                if status is not None and status_matches(status, self.plan["matcher"]):
                    backend.up, backend.since = True, now
        print(f"{time.strftime('%H:%M:%S')} draining: {', '.join(sorted(drained)) or 'none'}", flush=True)
        self.drained = drained
        return True

    def reconcile(self) -> bool:
        """Bring every gateway's nginx.conf to the wanted upstreams, reloading in the background
        (a reload waits for the old workers' requests); True if anything changed."""
        changed = self._collect()
        upstreams = self.upstreams()
        for gateway in self.plan["gateways"]:
            name = gateway_instance_id(gateway["index"])
            if name in self.pending:
                continue  # looked at again once the reload in progress is done
            if self._write(gateway, upstreams):
                self.pending[name] = (self.pool.submit(self._reload, gateway), upstreams)
                changed = True
            elif name not in self.applied:
                self.applied[name] = {"upstreams": upstreams, "applied_at": time.time()}
                changed = True
        return changed

    def _collect(self) -> bool:
        done = [name for name, (future, _) in self.pending.items() if future.done()]
        for name in done:
            future, upstreams = self.pending.pop(name)
            self.reloads += bool(future.result())
            self.applied[name] = {"upstreams": upstreams, "applied_at": time.time()}
        return bool(done)

    def _write(self, gateway: dict, upstreams: dict[str, list[str]]) -> bool:
        wanted = render_local_gateway(self.spec, self.plan["state_dir"], gateway["index"], upstreams)
        path = pathlib.Path(gateway["conf_path"])
        try:
            current = path.read_text()
        except OSError:
            current = None
        if current == wanted:
            return False
        if current is not None and spec_digest_of(current) not in (None, self.digest):
            # Written from another spec by an update in progress (the gateways are updated before
            # this controller): not ours to revert; the controller of that spec takes over.
            return False
        write_file_atomic(path, wanted)
        return True

    def _reload(self, gateway: dict) -> bool:
        """SIGHUP to the gateway's nginx; returns once its old workers (and their requests to a
        drained instance) are gone. Not running: it reads the new file when it starts."""
        try:
            pid = int(pathlib.Path(gateway["pid_path"]).read_text().strip())
        except (OSError, ValueError):
            return False
        if not cmdline(pid).startswith("nginx"):
            return False  # a stale pid file: that pid is not this gateway's nginx any more
        problem = reload_process(pid, signal.SIGHUP, self.reload_wait_s, until_old_gone=True)
        if problem:
            print(f"{time.strftime('%H:%M:%S')} gateway-{gateway['index']}: reload: {problem}", flush=True)
        return problem is None

    def write_status(self) -> None:
        write_file_atomic(self.plan["status_path"], json.dumps({
            "pid": os.getpid(), "updated_at": time.time(), "reloads": self.reloads,
            "draining": sorted(self.drained), "gateways": self.applied,
            "backends": {b.instance: {"service": b.service, "address": b.address, "up": b.up,
                                      "since": b.since, "last_status": b.last_status}
                         for b in self.backends},
        }, indent=2, sort_keys=True))

    def run(self) -> None:
        self.read_drains()
        self.reconcile()
        for future, _ in list(self.pending.values()):
            future.result()  # ready (status.json names this pid) once the gateways run its config
        self._collect()
        self.write_status()
        start = time.monotonic()
        tick = 0
        # Health checks on a fixed schedule (not after each round), so fall x interval is a real
        # bound; drain requests and finished reloads are picked up every POLL_S in between.
        while not self.stopping.wait(POLL_S):
            due = time.monotonic() >= start + (tick + 1) * self.interval_s
            if due:
                tick = int((time.monotonic() - start) // self.interval_s)
                self.check_all()
            if self.read_drains() | self.reconcile() or due:
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
