"""Benchmark the local topology on this machine (a benchmark: it prints figures, asserts nothing).

    python -m tools.bench_local [--stack local-dev] [--requests 3000] [--concurrency 8]

Starts the stack's local topology with the same code the Pulumi resources run (on free ports,
state in .state/bench), then measures:

- distribution: requests through HAProxy over every service's prefix, counted per gateway
  instance and per backend instance (from the response headers), against an even share;
- latency and throughput of one backend directly, through one nginx gateway, and through
  HAProxy -> nginx -> backend (what a client of the stack sees);
- failover, with steady traffic through HAProxy: how long a backend whose health endpoint
  fails, and one killed with SIGKILL, take to leave the rotation and to come back after
  recovery, and the same for a killed gateway (HAProxy's own health check); and how many
  client requests failed meanwhile.

Everything it started is stopped at the end, also on failure or Ctrl-C. The helpers here are
shared with the tests (tests/test_local_live.py) so both measure the same way.
"""
from __future__ import annotations

import argparse
import http.client
import pathlib
import random
import re
import signal
import sys
import threading
import time
from collections import Counter

from components.local import processes
from components.local.topology import ProcessPlan, Topology, plan_topology
from components.spec import SpecError, StackSpec, parse_spec
from tools.loadtest import INSTANCE_HEADERS, LoadReport, run_load
from tools.offline import REPO, StackFileError, project_keys, project_name, stack_config

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


class Traffic:
    """Steady GETs through a URL from one thread (~rate_hz), recording who answered and when."""

    def __init__(self, url: str, path: str, rate_hz: float = 100.0, max_seconds: float = 120.0):
        parts = url.split("://", 1)[1].split("/", 1)[0]
        self.host, _, port = parts.partition(":")
        self.port = int(port or 80)
        self.path, self.period_s, self.max_seconds = path, 1.0 / rate_hz, max_seconds
        self.samples: list[tuple[float, int | None, str, str]] = []  # (time, status, instance, upstreams)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Traffic":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        conn = None
        deadline = time.monotonic() + self.max_seconds
        while not self.stopping.is_set() and time.monotonic() < deadline:
            start = time.time()
            try:
                conn = conn or http.client.HTTPConnection(self.host, self.port, timeout=5)
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                sample = (start, response.status, next((response.getheader(h) for h in INSTANCE_HEADERS
                                                        if response.getheader(h)), "?"),
                          response.getheader("X-Upstream-Addr") or "")
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as err:
                sample = (start, None, type(err).__name__, "")
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.samples.append(sample)
            self.stopping.wait(max(0.0, self.period_s - (time.time() - start)))
        if conn is not None:
            conn.close()

    def snapshot(self) -> list[tuple[float, int | None, str, str]]:
        with self.lock:
            return list(self.samples)

    def failures(self) -> list[tuple[float, int | None, str, str]]:
        return [s for s in self.snapshot() if s[1] is None or s[1] >= 500]

    def last_seen(self, instance: str, since: float) -> float | None:
        times = [t for t, _, who, _ in self.snapshot() if who == instance and t >= since]
        return max(times) if times else None

    def wait_gone(self, instance: str, since: float, confirm_s: float, timeout_s: float,
                  confirm_answers: int = 20) -> float:
        """Seconds from `since` to the last answer from `instance`, once none came for confirm_s
        while at least `confirm_answers` answers came from the others (a stalled client proves
        nothing)."""
        deadline = since + timeout_s + confirm_s
        while time.time() < deadline:
            last = self.last_seen(instance, since) or since
            after = sum(1 for t, status, _, _ in self.snapshot() if t > last and status is not None)
            if time.time() - last >= confirm_s and after >= confirm_answers:
                return last - since
            time.sleep(0.02)
        raise TimeoutError(f"{instance} still answered {timeout_s}s after it should have left the rotation")

    def wait_seen(self, instance: str, since: float, timeout_s: float) -> float:
        """Seconds from `since` to the first answer from `instance`."""
        deadline = since + timeout_s
        while time.time() < deadline:
            times = [t for t, status, who, _ in self.snapshot() if who == instance and t >= since and status == 200]
            if times:
                return min(times) - since
            time.sleep(0.02)
        raise TimeoutError(f"{instance} did not come back within {timeout_s}s")


# ---------------------------------------------------------------- failover measurements


def _hc(topology: Topology):
    return topology.spec.load_balancer.health_check


def measure_health_failover(topology: Topology, traffic: Traffic, plan: ProcessPlan) -> dict:
    """Switch a backend's health endpoint to failing, then back; times seen by the client."""
    hc = _hc(topology)
    t0 = time.time()
    set_health_failing(plan, True)
    left = traffic.wait_gone(plan.instance_id, t0, confirm_s=1.5, timeout_s=hc.unhealthy_threshold * hc.interval_s + 10)
    t1 = time.time()
    set_health_failing(plan, False)
    back = traffic.wait_seen(plan.instance_id, t1, timeout_s=hc.healthy_threshold * hc.interval_s + 10)
    return {"left_s": left, "back_s": back}


def _wait(predicate, timeout_s: float, what: str) -> float:
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        if predicate():
            return time.time() - t0
        time.sleep(0.02)
    raise TimeoutError(f"{what} not within {timeout_s}s")


def _address_in_gateways(topology: Topology, address: str) -> bool:
    return any(f"server {address} " in pathlib.Path(path).read_text()
               for plan in topology.by_role("gateway") for path, _ in plan.files)


def measure_kill_failover(topology: Topology, traffic: Traffic, plan: ProcessPlan) -> dict:
    """SIGKILL a backend; time until the gateways' upstreams drop it; restart it; time until it
    answers clients again (from the moment it is healthy)."""
    hc = _hc(topology)
    address = f"127.0.0.1:{plan.ports[0]}"
    processes.kill(plan, signal.SIGKILL)
    left = _wait(lambda: not _address_in_gateways(topology, address),
                 hc.unhealthy_threshold * hc.interval_s + 10, f"{plan.instance_id} leaving the gateways' upstreams")
    processes.start(plan)
    t1 = time.time()
    back = traffic.wait_seen(plan.instance_id, t1, timeout_s=hc.healthy_threshold * hc.interval_s + 10)
    return {"left_s": left, "back_s": back}


def haproxy_server_up(topology: Topology, server: str) -> bool | None:
    """HAProxy's view of a gateway, from its Prometheus endpoint."""
    port = int(topology.metrics_url.rsplit(":", 1)[1].split("/", 1)[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    except OSError:
        return None
    finally:
        conn.close()
    match = re.search(rf'^haproxy_server_status{{proxy="gateways",server="{server}",state="UP"}} (\d+)', body, re.M)
    return None if match is None else match.group(1) == "1"


def measure_gateway_kill(topology: Topology, traffic: Traffic, plan: ProcessPlan) -> dict:
    hc = _hc(topology)
    processes.kill(plan, signal.SIGKILL)
    left = _wait(lambda: haproxy_server_up(topology, plan.instance_id) is False,
                 hc.unhealthy_threshold * hc.interval_s + 10, f"HAProxy marking {plan.instance_id} down")
    processes.start(plan)
    back = _wait(lambda: haproxy_server_up(topology, plan.instance_id) is True,
                 hc.healthy_threshold * hc.interval_s + 10, f"HAProxy marking {plan.instance_id} up")
    return {"left_s": left, "back_s": back}


# ---------------------------------------------------------------- distribution


def distribution(topology: Topology, report: LoadReport) -> list[dict]:
    """Answered requests per gateway instance and per backend instance, each against an even
    share of its tier (the gateways: every answer; a service's instances: that service's answers)."""
    answered = [s for s in report.samples if s.ok]
    tiers = [("gateway", [p.instance_id for p in topology.by_role("gateway")], Counter(s.gateway for s in answered))]
    by_instance = Counter(s.instance for s in answered)
    tiers += [(service.name, [p.instance_id for p in topology.backends(service.name)], by_instance)
              for service in topology.spec.services]
    rows = []
    for tier, names, counts in tiers:
        total = sum(counts[n] for n in names)
        for name in names:
            share = total / len(names)
            rows.append({"tier": tier, "instance": name, "requests": counts[name], "share": share,
                         "deviation": (counts[name] - share) / share if share else 0.0})
    return rows


def print_distribution(topology: Topology, requests: int, concurrency: int) -> None:
    prefixes = [s.path_prefix.rstrip("/") for s in topology.spec.services]
    report = run_load(topology.url, requests, concurrency, paths=[f"{p}/dist" for p in prefixes])
    print(f"\ndistribution through HAProxy ({topology.spec.load_balancer.algorithm}): {len(report.samples)} "
          f"requests over {', '.join(p or '/' for p in prefixes)} in turn, {report.errors} errors")
    print(f"{'tier':<16} {'instance':<20} {'reqs':>6} {'even share':>10} {'deviation':>9}")
    for row in distribution(topology, report):
        print(f"{row['tier']:<16} {row['instance']:<20} {row['requests']:>6} {row['share']:>10.1f} "
              f"{row['deviation'] * 100:>+8.1f}%")


# ---------------------------------------------------------------- the benchmark


def _row(name: str, report: LoadReport) -> str:
    s = report.summary()
    return (f"{name:<34} {s['requests']:>7} {s['throughput_rps']:>9.0f} {s['p50_ms']:>7.2f} {s['p95_ms']:>7.2f} "
            f"{s['p99_ms']:>7.2f} {s['error_rate'] * 100:>6.2f}")


def run_bench(stack: str, requests: int, concurrency: int, state_dir: pathlib.Path) -> int:
    spec = local_spec(stack, state_dir)
    hc = spec.load_balancer.health_check
    with RunningTopology(spec, state_dir) as topology:
        service = next(s for s in spec.services if len(topology.backends(s.name)) >= 3) \
            if any(len(topology.backends(s.name)) >= 3 for s in spec.services) else spec.services[0]
        backends = topology.backends(service.name)
        prefix = service.path_prefix.rstrip("/")
        gateway = topology.by_role("gateway")[0]
        print(f"local topology up: {len(topology.processes)} processes, {topology.url}, metrics "
              f"{topology.metrics_url}; state {state_dir}")
        run_load(f"{topology.url}{prefix}/warmup", 300, concurrency)
        print_distribution(topology, requests, concurrency)
        targets = [("backend directly", f"http://127.0.0.1:{backends[0].ports[0]}{prefix}/bench"),
                   ("nginx gateway -> backends", f"http://127.0.0.1:{gateway.ports[0]}{prefix}/bench"),
                   ("HAProxy -> nginx -> backends", f"{topology.url}{prefix}/bench")]
        print(f"\nlatency and throughput: GET {prefix}/bench, {requests} requests, concurrency {concurrency}, "
              f"keep-alive")
        print(f"{'path':<34} {'reqs':>7} {'req/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'err %':>6}")
        for name, url in targets:
            print(_row(name, run_load(url, requests, concurrency)))

        print(f"\nfailover with steady traffic through HAProxy (~100 req/s on {prefix}); health check every "
              f"{hc.interval_s}s, fall {hc.unhealthy_threshold}, rise {hc.healthy_threshold}: bound to leave "
              f"{hc.unhealthy_threshold * hc.interval_s + 1}s, to come back {hc.healthy_threshold * hc.interval_s + 1}s")
        results = []
        with Traffic(topology.url, f"{prefix}/failover") as traffic:
            time.sleep(1)
            results.append((f"{backends[1].instance_id}: health endpoint fails",
                            measure_health_failover(topology, traffic, backends[1])))
            results.append((f"{backends[-1].instance_id}: kill -9, restart",
                            measure_kill_failover(topology, traffic, backends[-1])))
            gateways = topology.by_role("gateway")
            if len(gateways) > 1:
                results.append((f"{gateways[-1].instance_id}: kill -9, restart (HAProxy check)",
                                measure_gateway_kill(topology, traffic, gateways[-1])))
            time.sleep(0.5)
        total, failed = len(traffic.snapshot()), len(traffic.failures())
        print(f"{'event':<48} {'leave s':>8} {'back s':>8}")
        for name, r in results:
            print(f"{name:<48} {r['left_s']:>8.2f} {r['back_s']:>8.2f}")
        print(f"client requests during failover: {total}, failed: {failed}")
    print("\nstopped: every process of the benchmark topology")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="local-dev")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--state-dir", default=str(REPO / ".state" / "bench"))
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 256:
        parser.error("--requests must be 1..100000 and --concurrency 1..256")
    try:
        raw = stack_raw(args.stack)
        if raw.get("target") != "local":
            parser.error(f"--stack {args.stack}: target is {raw.get('target')!r}; the benchmark runs a stack "
                         f"whose target is local (e.g. local-dev)")
        return run_bench(args.stack, args.requests, args.concurrency, pathlib.Path(args.state_dir))
    except StackFileError as err:
        parser.error(f"--stack {args.stack}: {err}")
    except SpecError as err:
        print(f"bench_local: stack {args.stack}: {len(err.problems)} problem(s); nothing was started:",
              file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except (processes.ProcessError, TimeoutError) as err:
        print(f"bench_local: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
