"""Benchmark the local topology on this machine (a benchmark: it prints figures, asserts nothing).

    python -m tools.bench_local [--stack local-dev] [--requests 3000] [--concurrency 8]

Starts the stack's local topology with the same code the Pulumi resources run (on free ports,
state in .state/bench), then measures:

- distribution: requests through HAProxy over every service's prefix, counted per gateway
  instance and per backend instance (from the response headers), against an even share;
- latency and throughput of one backend directly, through one nginx gateway, and through
  HAProxy -> nginx -> backend (what a client of the stack sees);
- failures, with steady traffic through HAProxy: a backend whose health endpoint fails (time to
  leave the rotation and to come back); a backend, a gateway and HAProxy killed with SIGKILL
  (time until the supervisor has it healthy again); a hung backend (SIGSTOP: time to leave the
  rotation, slowest request against the documented bound); and the failed client requests of each;
- config changes under load, applied as `pulumi up` applies them (the provider's diff and
  update, one process at a time): a service's environment (a rolling restart), the health check
  and the algorithm (graceful reloads); failed requests and duration of each;
- every algorithm: how 32 client addresses spread over one service's instances, how many stay
  on one instance, and the share of an instance slowed by 50 ms.

Everything it started is stopped at the end, also on failure or Ctrl-C. The scenarios live in
tools/bench_scenarios.py and the set-up in tools/bench_support.py, shared with the tests.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time
from collections import Counter

from components.local import processes
from components.local.timeouts import timeouts_of
from components.local.topology import Topology
from components.spec import SpecError
from tools.bench_scenarios import (
    algorithm_figures,
    apply_change,
    changed_topology,
    load_balancer_config,
    measure_change,
    measure_health_failover,
    measure_hung_backend,
    measure_kill_restart,
    service_config,
)
from tools.bench_support import (  # noqa: F401
    Answer,
    RunningTopology,
    Traffic,
    free_port_base,
    haproxy_server_up,
    local_spec,
    set_delay_ms,
    set_health_failing,
    stack_raw,
)
from tools.loadtest import LoadReport, run_load
from tools.offline import REPO, StackFileError

ALGORITHMS = ("round_robin", "least_connections", "random", "source_ip_hash")


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


def print_failures(topology: Topology, service: str) -> None:
    hc = topology.spec.load_balancer.health_check
    backends = topology.backends(service)
    prefix = next(s.path_prefix for s in topology.spec.services if s.name == service).rstrip("/")
    print(f"\nfailures, steady traffic through HAProxy (~100 req/s on {prefix}, a client that does not retry); "
          f"health check every {hc.interval_s}s, fall {hc.unhealthy_threshold}, rise {hc.healthy_threshold}")
    print(f"{'event':<46} {'out s':>6} {'back s':>7} {'failed':>7}  notes")
    with Traffic(topology.url, f"{prefix}/failover") as traffic:
        traffic.wait_answers(50, time.time())
        t0 = time.time()
        r = measure_health_failover(topology, traffic, backends[1])
        failed = sum(1 for s in traffic.failures() if s.t >= t0)
        print(f"{backends[1].instance_id + ': health endpoint fails':<46} {r['left_s']:>6.2f} {r['back_s']:>7.2f} "
              f"{failed:>7}  out: last answer; back: first answer after it is fixed")
        for plan in (backends[-1], topology.by_role("gateway")[-1]):
            r = measure_kill_restart(topology, traffic, plan)
            back = f"{r['back_s']:>7.2f}" if r["back_s"] is not None else f"{'':>7}"
            print(f"{plan.instance_id + ': kill -9 (supervisor restarts it)':<46} {r['restart_s']:>6.2f} {back} "
                  f"{r['failed']:>7}  out: until healthy again")
        r = measure_hung_backend(topology, traffic, backends[0])
        print(f"{backends[0].instance_id + ': SIGSTOP (hung), SIGCONT':<46} {r['left_s']:>6.2f} {r['back_s']:>7.2f} "
              f"{r['failed']:>7}  slowest of {r['requests']} requests {r['max_latency_s']:.2f}s "
              f"(bound {r['bound_s']}s), {r['slow']} over 1s; refresh: {r['state']}")
    with Traffic(topology.url, f"{prefix}/failover") as traffic:
        traffic.wait_answers(50, time.time())
        r = measure_kill_restart(topology, traffic, topology.get("lb"))
        print(f"{'HAProxy: kill -9 (supervisor restarts it)':<46} {r['restart_s']:>6.2f} {'':>7} {r['failed']:>7}  "
              f"nothing in front of HAProxy: refused until it is back")


def print_changes(topology: Topology, stack: str, service: str) -> Topology:
    lb = topology.spec.load_balancer
    print("\nconfig changes under load (4 clients through HAProxy, none retrying), applied as `pulumi up` does")
    print(f"{'change':<44} {'updated':<51} {'restarted':>9} {'s':>6} {'reqs':>6} {'failed':>6}")
    hc = lb.health_check
    changes = [
        (f"{service}: environment (rolling restart)",
         lambda t: {"services": service_config(t, **{service: {"environment": {"FEATURE": "on"}}})}),
        (f"health check: interval {hc.interval_s}s -> {hc.interval_s + 1}s",
         lambda t: {"services": service_config(t),
                    "load_balancer": load_balancer_config(t, interval_s=hc.interval_s + 1)}),
        (f"algorithm: {lb.algorithm} -> least_connections",
         lambda t: {"services": service_config(t),
                    "load_balancer": load_balancer_config(t, algorithm="least_connections")}),
    ]
    current = topology
    path = f"{next(s.path_prefix for s in topology.spec.services if s.name == service).rstrip('/')}/change"
    for name, config in changes:
        after = changed_topology(current, stack, **config(current))
        r = measure_change(current, after, path)
        print(f"{name:<44} {', '.join(r['updated']) or 'nothing':<51} {len(r['restarted']):>9} "
              f"{r['duration_s']:>6.2f} {r['requests']:>6} {r['failed']:>6}")
        current = after
    return current


def print_algorithms(topology: Topology, stack: str, service: str) -> None:
    n = len(topology.backends(service))
    print(f"\nalgorithms: {service} ({n} instances), 32 client addresses x 6 requests each, concurrency 8; "
          f"'slow': the share of {service}-1 when it answers 50 ms late (even: {100 / n:.1f} %)")
    print(f"{'algorithm':<18} {'shares per instance %':<26} {'clients per instance':<22} {'on 1 instance':>13} "
          f"{'slow %':>7}")
    current = topology
    for algorithm in ALGORITHMS:
        after = changed_topology(current, stack, services=service_config(current),
                                 load_balancer=load_balancer_config(current, algorithm=algorithm))
        apply_change(current, after)
        current = after
        r = algorithm_figures(current, service)
        even = r["even"]
        shares = " / ".join(f"{v * 100:.1f}" for v in even["shares"].values())
        clients = " / ".join(str(v) for v in even["clients_per_instance"].values())
        print(f"{algorithm:<18} {shares:<26} {clients:<22} {even['sticky_clients']:>6} of {even['clients']:<3} "
              f"{r['slow_share'] * 100:>7.1f}")


def run_bench(stack: str, requests: int, concurrency: int, state_dir: pathlib.Path) -> int:
    spec = local_spec(stack, state_dir)
    with RunningTopology(spec, state_dir) as topology:
        service = max(spec.services, key=lambda s: (len(topology.backends(s.name)), s.name)).name
        prefix = next(s.path_prefix for s in spec.services if s.name == service).rstrip("/")
        backends = topology.backends(service)
        gateway = topology.by_role("gateway")[0]
        t = timeouts_of(spec.load_balancer.health_check)
        print(f"local topology up: {len(topology.processes)} processes, {topology.url}, metrics "
              f"{topology.metrics_url}; state {state_dir}; upstream timeouts: connect {t.connect_s}s, "
              f"read {t.read_s}s, HAProxy server {t.haproxy_server_s}s")
        run_load(f"{topology.url}{prefix}/warmup", 300, concurrency)
        print_distribution(topology, requests, concurrency)
        targets = [("backend directly", f"http://127.0.0.1:{backends[0].ports[0]}{prefix}/bench"),
                   ("nginx gateway -> backends", f"http://127.0.0.1:{gateway.ports[0]}{prefix}/bench"),
                   ("HAProxy -> nginx -> backends", f"{topology.url}{prefix}/bench")]
        print(f"\nlatency and throughput: GET {prefix}/bench, {requests} requests, concurrency {concurrency}, "
              f"keep-alive (HAProxy closes each client connection: option httpclose)")
        print(f"{'path':<34} {'reqs':>7} {'req/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'err %':>6}")
        for name, url in targets:
            print(_row(name, run_load(url, requests, concurrency)))
        print_failures(topology, service)
        changed = print_changes(topology, stack, service)
        print_algorithms(changed, stack, service)
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
