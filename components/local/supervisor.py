"""The local target's supervisor: restarts whatever process of the topology dies; rotates logs.

    python -m components.local.supervisor --plan <state_dir>/supervisor/plan.json

What it keeps running is what was started last: every start (processes.start, from the Pulumi
provider, the tests or the benchmark) leaves the process's plan in `<state_dir>/plans/<key>.json`,
and a stop for good (`pulumi destroy`, a deleted resource, an undone start) removes it first. So,
like `docker compose` with `restart: unless-stopped`:

- every POLL_S it checks each planned process (pid and kernel start time, /proc); one that is
  gone is started again from its plan, with the same health wait as any start, HAProxy included;
- backoff: the first restart is immediate; if the process dies again within RESET_AFTER_S of a
  start, each further attempt waits twice as long as the one before (BACKOFF_FIRST_S, 1 s, 2 s,
  ... up to BACKOFF_MAX_S). A process that ran RESET_AFTER_S starts over with no delay;
- each restart holds that process's lock (locks.py): the Pulumi provider never updates or
  deletes a process while the supervisor restarts it, and the other way round;
- a stopped (SIGSTOP) process is not restarted (it is alive); it shows as `stopped` in
  status.json, `make local-status` and `pulumi refresh`, and the health checks take it out;
- it rotates every process's log by size (logrotate.py), from `local.log_max_size_mib` and
  `local.log_keep_files`;
- its view, with restart counts that survive its own restart, is `<state_dir>/supervisor/status.json`.

It is a resource of the stack itself (`<name>-supervisor`): the first to start, the last to stop.
Nothing restarts the supervisor; `pulumi refresh` reports it gone and the next `pulumi up` starts it.
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
from dataclasses import asdict, dataclass

from components.local import logrotate, processes
from components.local.locks import key_lock, state_paths
from components.local.processplan import ProcessPlan
from components.local.procfs import is_alive, read_record, stat

POLL_S = 0.1
ROTATE_EVERY_S = 1.0
RESET_AFTER_S = 10.0
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0


def restart_delay(attempt: int) -> float:
    """Seconds before restart attempt `attempt` of a streak (1 = the first since the process last
    ran RESET_AFTER_S): 0, 0.5, 1, 2, 4, ... capped at BACKOFF_MAX_S."""
    if attempt <= 1:
        return 0.0
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (attempt - 2))


@dataclass
class Watch:
    """What the supervisor knows of one process."""

    restarts: int = 0
    streak: int = 0
    state: str = "new"
    """running, stopped (SIGSTOP), waiting (dead, backing off), restarting, failed (the last attempt)."""
    pid: int | None = None
    died_at: float | None = None
    next_attempt_at: float = 0.0
    last_restart_at: float | None = None
    last_error: str | None = None


def desired_plans(state_dir: str | pathlib.Path) -> dict[str, ProcessPlan]:
    plans = {}
    for path in sorted(pathlib.Path(state_dir, "plans").glob("*.json")):
        try:
            plan = ProcessPlan.from_inputs(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            continue  # being replaced right now: seen on the next round
        plans[plan.key] = plan
    return plans


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


class Supervisor:
    def __init__(self, plan: dict):
        self.state_dir = plan["state_dir"]
        self.status_path = plan["status_path"]
        self.log_max_bytes = int(plan["log_max_bytes"])
        self.log_keep_files = int(plan["log_keep_files"])
        self.watches: dict[str, Watch] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.plans: dict[str, ProcessPlan] = {}
        self.rotations = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self._load_counts()

    def _load_counts(self) -> None:
        """Restart counts from an earlier run of the supervisor (it may itself have been restarted)."""
        try:
            previous = json.loads(pathlib.Path(self.status_path).read_text()).get("processes", {})
        except (OSError, ValueError, AttributeError):
            return
        for key, entry in previous.items():
            self.watches[key] = Watch(restarts=int(entry.get("restarts") or 0))

    # ------------------------------------------------------------ restarts

    def check(self, now: float) -> None:
        self.plans = desired_plans(self.state_dir)
        for key, plan in self.plans.items():
            if plan.role == "supervisor":
                continue
            watch = self.watches.setdefault(key, Watch())
            if key in self.threads and self.threads[key].is_alive():
                continue
            record = read_record(plan.pid_path)
            if is_alive(record):
                st = stat(record.pid)
                watch.state, watch.pid = ("stopped" if st and st[0] in "Tt" else "running"), record.pid
                continue
            if record is not None:
                processes._reap(record.pid)  # a process this supervisor started earlier: no zombie
            if watch.state in ("new", "running", "stopped"):  # it just died
                if record is None or now - record.started_at >= RESET_AFTER_S:
                    watch.streak = 0
                watch.state, watch.pid, watch.died_at = "waiting", None, now
                watch.next_attempt_at = now + restart_delay(watch.streak + 1)
            if now >= watch.next_attempt_at:
                thread = threading.Thread(target=self.restart, args=(plan, watch), daemon=True)
                self.threads[key] = thread
                thread.start()
        for key in [k for k in self.watches if k not in self.plans]:
            del self.watches[key]  # stopped for good

    def restart(self, plan: ProcessPlan, watch: Watch) -> None:
        with key_lock(plan.pid_path, blocking=False) as mine:
            # Not mine: the provider is updating or deleting it right now; look again next round.
            if not mine or not state_paths(plan.pid_path)[0].exists() or is_alive(read_record(plan.pid_path)):
                return
            plan = desired_plans(self.state_dir).get(plan.key, plan)
            watch.streak += 1
            watch.state = "restarting"
            log(f"{plan.key}: not running; restarting (attempt {watch.streak} of this streak)")
            try:
                record = processes.start(plan, retry_later=True)
            except Exception as err:  # noqa: BLE001 - any failure: back off and try again
                watch.state, watch.last_error = "failed", str(err).splitlines()[0]
                watch.next_attempt_at = time.time() + restart_delay(watch.streak + 1)
                log(f"{plan.key}: restart failed: {watch.last_error}; next attempt in "
                    f"{restart_delay(watch.streak + 1):g}s")
                return
            watch.restarts += 1
            watch.state, watch.pid, watch.last_error = "running", record.pid, None
            watch.last_restart_at = time.time()
            log(f"{plan.key}: restarted, pid {record.pid} (restart {watch.restarts})")

    # ------------------------------------------------------------ logs

    def rotate_logs(self) -> None:
        for plan in self.plans.values():
            record = read_record(plan.pid_path)
            alive = is_alive(record)
            if logrotate.rotate_if_large(plan.log_path, self.log_max_bytes, self.log_keep_files):
                self.rotations += 1
            for path in plan.own_logs:
                reopen = logrotate.signal_reopen(record.pid, plan.reopen_signal) \
                    if alive and plan.reopen_signal and logrotate.workers_can_reopen() else None
                if logrotate.rotate_if_large(path, self.log_max_bytes, self.log_keep_files, reopen):
                    self.rotations += 1

    # ------------------------------------------------------------ status

    def write_status(self) -> None:
        processes.write_file_atomic(self.status_path, json.dumps({
            "pid": os.getpid(), "updated_at": time.time(), "log_rotations": self.rotations,
            "processes": {key: asdict(w) for key, w in sorted(self.watches.items())},
        }, indent=2, sort_keys=True))

    def run(self) -> None:
        self.check(time.time())
        self.write_status()
        last_rotation = 0.0
        while not self.stopping.wait(POLL_S):
            now = time.time()
            self.check(now)
            if now - last_rotation >= ROTATE_EVERY_S:
                last_rotation = now
                try:
                    self.rotate_logs()
                except OSError as err:
                    log(f"log rotation: {err}")
            self.write_status()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Restart the local topology's processes when they die.")
    parser.add_argument("--plan", required=True, help="plan.json written by the local topology")
    args = parser.parse_args(argv)
    supervisor = Supervisor(json.loads(pathlib.Path(args.plan).read_text()))
    # SIGTERM stops the supervisor only: the processes are resources of their own.
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stopping.set())
    log(f"supervisor: watching {supervisor.state_dir} every {POLL_S:g}s")
    supervisor.run()
    log("supervisor: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
