"""The local benchmark's scenarios, measured on real processes; the live tests run the same code.

Each takes a running topology (and, for the failure scenarios, steady Traffic through HAProxy)
and returns its figures; tools/bench_local.py prints them, the tests assert on them.
"""
from __future__ import annotations

import dataclasses
import http.client
import json
import os
import pathlib
import signal
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

from components.local import processes, provider
from components.local.status import state_of
from components.local.timeouts import timeouts_of
from components.local.topology import ProcessPlan, Topology, plan_topology
from tools.bench_support import Traffic, _wait, local_spec, set_delay_ms, set_health_failing


def _hc(topology: Topology):
    return topology.spec.load_balancer.health_check


# ---------------------------------------------------------------- failures


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


def _restarted(plan: ProcessPlan, old_pid: int) -> bool:
    record = processes.read_record(plan.pid_path)
    return processes.is_alive(record) and record.pid != old_pid and processes.is_healthy(plan, record.pid)


def measure_kill_restart(topology: Topology, traffic: Traffic, plan: ProcessPlan) -> dict:
    """kill -9 a process (its whole group); the supervisor starts it again. restart_s: from the kill
    until the new process answers its health check; back_s (backends): until it answers a client;
    failed: client requests sent since the kill that got no answer or a 5xx."""
    old = processes.read_record(plan.pid_path)
    t0 = time.time()
    processes.kill(plan, signal.SIGKILL)
    restart = _wait(lambda: _restarted(plan, old.pid), plan.start_timeout_s + 10, f"{plan.description} restarted")
    back = traffic.wait_seen(plan.instance_id, t0, plan.start_timeout_s + 10) if plan.role == "backend" else None
    traffic.wait_answers(50, time.time())
    return {"restart_s": restart, "back_s": back, "failed": sum(1 for s in traffic.failures() if s.t >= t0)}


def measure_hung_backend(topology: Topology, traffic: Traffic, plan: ProcessPlan) -> dict:
    """SIGSTOP a backend (hung: it still accepts connections), then SIGCONT. left_s: until the
    readiness controller takes it out of the upstreams; max_latency_s: the slowest request sent
    while it was hung; bound_s: the documented bound (the upstream read timeout)."""
    hc = _hc(topology)
    bound = timeouts_of(hc).hung_backend_bound_s
    status_path = pathlib.Path(topology.state_dir, "readiness", "status.json")
    record = processes.read_record(plan.pid_path)
    t0 = time.time()
    os.kill(record.pid, signal.SIGSTOP)
    try:
        left = _wait(lambda: not json.loads(status_path.read_text())["backends"][plan.instance_id]["up"],
                     hc.unhealthy_threshold * hc.interval_s + hc.timeout_s + 10, f"{plan.instance_id} out of rotation")
        state = state_of(plan, record)[0]
        # Answers to requests sent from now on: the client's request stuck on it has ended.
        traffic.wait_answers(20, time.time(), timeout_s=bound + 10)
    finally:
        os.kill(record.pid, signal.SIGCONT)
    t1 = time.time()
    back = traffic.wait_seen(plan.instance_id, t1, hc.healthy_threshold * hc.interval_s + 10)
    hung = [s for s in traffic.snapshot() if t0 <= s.t < t1]
    return {"left_s": left, "back_s": back, "state": state, "bound_s": bound, "requests": len(hung),
            "max_latency_s": max(s.latency_s for s in hung), "slow": sum(1 for s in hung if s.latency_s > 1.0),
            "failed": sum(1 for s in hung if s.status is None or s.status >= 500)}


# ---------------------------------------------------------------- changes, driven as the Pulumi engine does


def outputs_of(plan: ProcessPlan) -> dict:
    """The state Pulumi would hold for a running process."""
    record = processes.read_record(plan.pid_path)
    return {**plan.to_inputs(), "pid": record.pid, "start_ticks": record.start_ticks,
            "started_at": record.started_at, "status": "running", "restarts": 0}


def apply_change(before: Topology, after: Topology, on_update=None) -> list[str]:
    """What `pulumi up` does with a changed spec: diff every process and update those that
    changed, one at a time in dependency order (the engine runs an update only after the
    resources it depends on: a service's instances and the gateways in turn). Returns their keys."""
    processes.RUN = processes.Run()
    updated = []
    for plan in after.processes:
        olds = outputs_of(before.get(plan.key))
        if provider.diff("process", plan.key, olds, plan.to_inputs()).changes:
            provider.update("process", plan.key, olds, plan.to_inputs())
            updated.append(plan.key)
            if on_update:
                on_update(plan)
    return updated


def measure_change(before: Topology, after: Topology, path: str, clients: int = 4) -> dict:
    """A config change applied under load (`clients` clients through HAProxy, none retrying)."""
    pids = {p.key: processes.read_record(p.pid_path).pid for p in before.processes}
    with Traffic(before.url, path, clients=clients) as traffic:
        traffic.wait_answers(100, time.time())
        t0 = time.time()
        updated = apply_change(before, after)
        duration = time.time() - t0
        traffic.wait_answers(100, time.time())
    during = [s for s in traffic.snapshot() if t0 <= s.t <= t0 + duration]
    return {"updated": updated, "duration_s": duration, "requests": len(during),
            "failed": sum(1 for s in during if s.status is None or s.status >= 500),
            "restarted": [k for k in updated if processes.read_record(after.get(k).pid_path).pid != pids[k]]}


def changed_topology(topology: Topology, stack: str = "local-dev", **config) -> Topology:
    """The same topology (ports, state dir) with some top-level config keys replaced."""
    spec = local_spec(stack, topology.state_dir, base_port=topology.get("lb").ports[0], **config)
    return plan_topology(spec, topology.state_dir)


def service_config(topology: Topology, **changes) -> dict:
    """The `services` block of a topology, with one service's keys changed: {name: {key: value}}."""
    services = {s.name: {"path_prefix": s.path_prefix, "instances": {"min": s.instances.min},
                         **({"command": s.command} if s.command else {}),
                         **({"environment": dict(s.environment)} if s.environment else {})}
                for s in topology.spec.services}
    for name, keys in changes.items():
        services[name] = {**services[name], **keys}
    return services


def load_balancer_config(topology: Topology, **changes) -> dict:
    lb = topology.spec.load_balancer
    return {"algorithm": changes.pop("algorithm", lb.algorithm),
            "health_check": {**dataclasses.asdict(lb.health_check), **changes}}


# ---------------------------------------------------------------- clients from many addresses


def client_addresses(count: int = 32) -> list[str]:
    """Loopback addresses for distinct clients (Linux routes 127.0.0.0/8 to lo); never HAProxy's."""
    return [f"127.0.100.{i}" for i in range(1, count + 1)]


def requests_from(url: str, path: str, clients: list[str], per_client: int, concurrency: int = 8,
                  forwarded_for=None) -> dict[str, Counter]:
    """GET url+path `per_client` times from each client address (a new connection each);
    `forwarded_for(i)` adds an X-Forwarded-For header the client makes up. Returns, per client,
    the backend instances that answered (errors count as "error")."""
    host, port = url.split("://", 1)[1].split("/", 1)[0].split(":")
    jobs = [(c, i) for i in range(per_client) for c in clients]
    seen: dict[str, Counter] = defaultdict(Counter)
    lock = threading.Lock()

    def one(job) -> None:
        client, i = job
        conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(client, 0))
        try:
            conn.request("GET", path, headers={"X-Forwarded-For": forwarded_for(i)} if forwarded_for else {})
            response = conn.getresponse()
            response.read()
            who = response.getheader("X-Instance") if response.status == 200 else "error"
        except (OSError, http.client.HTTPException):
            who = "error"
        finally:
            conn.close()
        with lock:
            seen[client][who or "error"] += 1

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, jobs))
    return dict(seen)


def spread(seen: dict[str, Counter], instances: list[str]) -> dict:
    """Shares per instance, how many clients reached each instance, clients held by one instance."""
    total = Counter()
    for counts in seen.values():
        total.update(counts)
    answered = sum(total[i] for i in instances)
    return {"shares": {i: total[i] / answered if answered else 0.0 for i in instances},
            "clients_per_instance": {i: sum(1 for c in seen.values() if c[i]) for i in instances},
            "sticky_clients": sum(1 for c in seen.values() if len(+c) == 1), "clients": len(seen),
            "errors": total["error"]}


def algorithm_figures(topology: Topology, service: str, per_client: int = 6, slow_ms: int = 50) -> dict:
    """For the topology's algorithm: the spread of 32 clients over the service's instances, and
    the share of one instance slowed by slow_ms against the others."""
    prefix = next(s.path_prefix for s in topology.spec.services if s.name == service).rstrip("/")
    instances = [p.instance_id for p in topology.backends(service)]
    clients = client_addresses()
    even = spread(requests_from(topology.url, f"{prefix}/algo", clients, per_client), instances)
    slow = topology.backends(service)[0]
    set_delay_ms(slow, slow_ms)
    try:
        uneven = spread(requests_from(topology.url, f"{prefix}/algo", clients, per_client), instances)
    finally:
        set_delay_ms(slow, 0)
    return {"even": even, "slow_instance": slow.instance_id, "slow_share": uneven["shares"][slow.instance_id],
            "slow_errors": uneven["errors"]}
