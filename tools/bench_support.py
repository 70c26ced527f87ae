"""What the benchmark and the live tests share: a stack's spec on free ports, a running topology,
the demo backend's switches, steady traffic recorded per answer, and HAProxy's view of a gateway."""
from __future__ import annotations

import http.client
import pathlib
import random
import threading
import time
from typing import NamedTuple

from components.local import processes
from components.local.rollout import haproxy_reports_up
from components.local.topology import ProcessPlan, Topology, plan_topology
from components.spec import StackSpec, parse_spec
from tools.loadtest import INSTANCE_HEADERS
from tools.offline import project_keys, project_name, stack_config

# ---------------------------------------------------------------- topology set-up


def stack_raw(stack: str = "local-dev") -> dict:
    """The stack's config as parse_spec takes it (keys without the project prefix)."""
    return project_keys(stack_config(stack))


def _ephemeral_low() -> int:
    try:
        return int(pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_base(span: int = 200, attempts: int = 100) -> int:
    """A base port with `span` free loopback ports above it: random (parallel runs rarely meet),
    below the kernel's ephemeral range (an outgoing connection never takes one meanwhile)."""
    top = max(12000, min(_ephemeral_low(), 60000)) - span
    for _ in range(attempts):
        base = random.randrange(10000, top, 10)
        if not any(processes.port_in_use(p) for p in range(base, base + span)):
            return base
    raise processes.ProcessError(f"no {span} consecutive free ports found on 127.0.0.1")


def local_spec(stack: str = "local-dev", state_dir: str | pathlib.Path | None = None,
               base_port: int | None = None, **changes) -> StackSpec:
    """The stack's spec moved to free ports (and another state dir); `changes` replace top-level
    config keys (e.g. services=..., load_balancer=...)."""
    raw = {**stack_raw(stack), **changes}
    base = base_port or free_port_base()
    raw["local"] = {**(raw.get("local") or {}), "load_balancer_port": base, "haproxy_stats_port": base + 1,
                    "gateway_base_port": base + 10, "service_base_port": base + 50, "service_port_stride": 10}
    if state_dir is not None:
        raw["local"]["state_dir"] = str(state_dir)
    return parse_spec(raw, project_name())


class RunningTopology:
    """Context manager: start every process of a topology, stop them all on exit (even on error)."""

    def __init__(self, spec: StackSpec, state_dir: str | pathlib.Path):
        self.topology: Topology = plan_topology(spec, state_dir)

    def __enter__(self) -> Topology:
        processes.start_all(self.topology.processes, self.topology.state_dir)
        return self.topology

    def __exit__(self, *exc) -> None:
        processes.stop_all(self.topology.processes)


# ---------------------------------------------------------------- demo backend switches


def control(plan: ProcessPlan, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", plan.ports[0], timeout=5)
    try:
        conn.request("POST", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def set_health_failing(plan: ProcessPlan, failing: bool) -> None:
    assert control(plan, f"/_control/health?fail={int(failing)}") == 200


def set_delay_ms(plan: ProcessPlan, ms: int) -> None:
    assert control(plan, f"/_control/delay?ms={ms}") == 200


# ---------------------------------------------------------------- steady traffic


class Answer(NamedTuple):
    t: float
    """When the request was sent (time.time())."""
    status: int | None
    """None: no HTTP answer (refused, reset, timed out)."""
    who: str
    """The backend instance that answered (X-Instance), or the error's name."""
    upstreams: str
    latency_s: float


class Traffic:
    """Steady GETs through a URL from `clients` threads (each ~rate_hz, each a client that does
    not retry), recording who answered, when and how fast."""

    def __init__(self, url: str, path: str, rate_hz: float = 100.0, max_seconds: float = 120.0,
                 clients: int = 1, timeout_s: float = 30.0, method: str = "GET"):
        parts = url.split("://", 1)[1].split("/", 1)[0]
        self.host, _, port = parts.partition(":")
        self.port = int(port or 80)
        self.path, self.period_s, self.max_seconds, self.timeout_s = path, 1.0 / rate_hz, max_seconds, timeout_s
        self.method = method
        self.samples: list[Answer] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=self.timeout_s + 5)

    def _run(self) -> None:
        conn = None
        deadline = time.monotonic() + self.max_seconds
        while not self.stopping.is_set() and time.monotonic() < deadline:
            start, t0 = time.time(), time.monotonic()
            try:
                conn = conn or http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
                conn.request(self.method, self.path, body=b"{}" if self.method == "POST" else None)
                response = conn.getresponse()
                response.read()
                sample = Answer(start, response.status, next((response.getheader(h) for h in INSTANCE_HEADERS
                                                              if response.getheader(h)), "?"),
                                response.getheader("X-Upstream-Addr") or "", time.monotonic() - t0)
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as err:
                sample = Answer(start, None, type(err).__name__, "", time.monotonic() - t0)
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.samples.append(sample)
            self.stopping.wait(max(0.0, self.period_s - (time.time() - start)))
        if conn is not None:
            conn.close()

    def snapshot(self) -> list[Answer]:
        with self.lock:
            return sorted(self.samples)

    def failures(self) -> list[Answer]:
        return [s for s in self.snapshot() if s.status is None or s.status >= 500]

    def last_seen(self, instance: str, since: float) -> float | None:
        times = [s.t for s in self.snapshot() if s.who == instance and s.t >= since]
        return max(times) if times else None

    def wait_gone(self, instance: str, since: float, confirm_s: float, timeout_s: float,
                  confirm_answers: int = 20) -> float:
        """Seconds from `since` to the last answer from `instance`, once none came for confirm_s
        while at least `confirm_answers` answers came from the others (a stalled client proves
        nothing)."""
        deadline = since + timeout_s + confirm_s
        while time.time() < deadline:
            last = self.last_seen(instance, since) or since
            after = sum(1 for s in self.snapshot() if s.t > last and s.status is not None)
            if time.time() - last >= confirm_s and after >= confirm_answers:
                return last - since
            time.sleep(0.02)
        raise TimeoutError(f"{instance} still answered {timeout_s}s after it should have left the rotation")

    def wait_seen(self, instance: str, since: float, timeout_s: float) -> float:
        """Seconds from `since` to the first answer from `instance` (to a request sent after `since`)."""
        deadline = since + timeout_s
        while time.time() < deadline:
            times = [s.t for s in self.snapshot() if s.who == instance and s.t >= since and s.status == 200]
            if times:
                return min(times) - since
            time.sleep(0.02)
        raise TimeoutError(f"{instance} did not come back within {timeout_s}s")

    def wait_answers(self, count: int, since: float, timeout_s: float = 30.0) -> None:
        """Until `count` requests sent after `since` were answered (so a scenario ran under load)."""
        deadline = time.time() + timeout_s
        while sum(1 for s in self.snapshot() if s.t >= since and s.status is not None) < count:
            if time.time() > deadline:
                raise TimeoutError(f"fewer than {count} answers within {timeout_s}s")
            time.sleep(0.02)


# ---------------------------------------------------------------- waiting


def _wait(predicate, timeout_s: float, what: str) -> float:
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        if predicate():
            return time.time() - t0
        time.sleep(0.02)
    raise TimeoutError(f"{what} not within {timeout_s}s")


def haproxy_server_up(topology: Topology, server: str) -> bool | None:
    """HAProxy's view of a gateway, from its Prometheus endpoint (None: HAProxy does not answer)."""
    return haproxy_reports_up(pathlib.Path(topology.state_dir), server)
