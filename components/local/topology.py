"""Plan every process of the local topology: argv, ports, health check and rendered files.

Pure Python (no Pulumi import, nothing started): the Pulumi resources, the tests and
tools/bench_local.py all start exactly what `plan_topology` returns, in its order:

    supervisor -> backends (M per service) -> nginx gateways (N) -> readiness controller -> HAProxy

- HAProxy balances over the gateways with the spec's algorithm and health check, retries a
  failed request on another gateway (`retries` + `option redispatch` + `retry-on`), and serves
  its Prometheus endpoint (haproxy.cfg: components/local/haproxy.py).
- Each gateway runs the same nginx.conf as the cloud targets (components/gateway/nginx.py),
  with its own listen port, pid, temp dir and instance id; its upstreams are the backends.
- nginx (open source) has no active health checks. On the cloud targets readiness probes take
  a failing backend out of the Service's endpoints; here components/local/readiness.py does
  that job: it checks every backend with the spec's path/interval/rise/fall and re-renders the
  gateways' configs with the healthy backends only (then reloads nginx).
- The supervisor (components/local/supervisor.py) restarts any of them that dies, and rotates
  their logs.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
import shlex
import sys
from dataclasses import asdict, dataclass, field, replace

from components.gateway.limits import GatewayLimits
from components.gateway.nginx import render_gateway_config, routing_of
from components.local.haproxy import HAPROXY_SOURCE_ADDRESS, render_haproxy
from components.local.options import REPO, LocalOptions, gateway_instance_id, options_of, planned_ports, service_port
from components.local.processplan import ProcessPlan, status_matches  # noqa: F401 - re-exported
from components.local.secretfiles import secrets_path
from components.local.timeouts import timeouts_of
from components.spec import Gateway, HealthCheck, Instances, LoadBalancer, Monitoring, SecretSetting, Service, StackSpec

DEMO_BACKEND_MODULE = "components.local.demo_backend"
READINESS_MODULE = "components.local.readiness"
SUPERVISOR_MODULE = "components.local.supervisor"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Topology:
    spec: StackSpec
    state_dir: str
    processes: tuple[ProcessPlan, ...]
    """In start order; stop in reverse."""
    url: str
    metrics_url: str
    stats_url: str
    port_uses: tuple = field(default=(), repr=False)

    def get(self, key: str) -> ProcessPlan:
        return next(p for p in self.processes if p.key == key)

    def by_role(self, role: str) -> list[ProcessPlan]:
        return [p for p in self.processes if p.role == role]

    def backends(self, service: str) -> list[ProcessPlan]:
        return [p for p in self.processes if p.role == "backend" and p.service == service]

    def secret_values(self, service: str) -> dict[str, str]:
        """The service's secret values, for its secrets file (the provider's `secrets` input, a
        Pulumi secret); {} without any. References are refused by the target's check."""
        found = next(s for s in self.spec.services if s.name == service)
        return {key: setting.value for key, setting in sorted(found.secrets.items()) if setting.value is not None}


def backend_instance_id(service: str, i: int) -> str:
    return f"{service}-{i}"


def gateway_dir(state_dir: str, i: int) -> pathlib.Path:
    return pathlib.Path(state_dir) / gateway_instance_id(i)


def render_local_gateway(spec: StackSpec, state_dir: str, i: int,
                         upstream_servers: dict[str, list[str]]) -> str:
    """The nginx.conf of gateway instance i: the shared gateway config, local paths and port."""
    options = options_of(spec)
    port = options.gateway_base_port + i - 1
    directory = gateway_dir(state_dir, i)
    timeouts = timeouts_of(spec.load_balancer.health_check)
    # HAProxy names the client in X-Forwarded-For and connects from an address of its own: the
    # only one trusted. Timeouts follow the health check (timeouts.py).
    routing = replace(routing_of(spec, trusted_proxies=(HAPROXY_SOURCE_ADDRESS,)), connect_timeout_s=timeouts.connect_s,
                      read_timeout_s=timeouts.read_s, next_upstream_timeout_s=timeouts.next_upstream_s)
    return render_gateway_config(
        routing, upstream_servers, listen_port=port,
        listen_host=options.listen_host,
        pid_path=str(directory / "nginx.pid"), temp_dir=str(directory / "tmp"),
        access_log=str(directory / "access.log"), error_log=str(directory / "error.log"),
        instance_id=gateway_instance_id(i), note=f"{SPEC_NOTE}{gateway_spec_digest(spec)}")


SPEC_NOTE = "rendered from spec "


def gateway_spec_digest(spec: StackSpec) -> str:
    """Names the spec a gateway config was rendered from (as far as the config depends on it), so
    the readiness controller leaves alone a config an update in progress wrote from a newer spec."""
    text = json.dumps(spec_to_dict(gateway_view(spec)), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def spec_digest_of(conf: str) -> str | None:
    first = conf.split("\n", 1)[0]
    return first[len(f"# {SPEC_NOTE}"):] if first.startswith(f"# {SPEC_NOTE}") else None


def all_upstreams(spec: StackSpec) -> dict[str, list[str]]:
    options = options_of(spec)
    return {s.name: [f"{options.listen_host}:{service_port(options, spec, s.name, i)}"
                     for i in range(1, s.instances.min + 1)] for s in spec.services}


def spec_to_dict(spec: StackSpec) -> dict:
    """The spec as plain data, secret values left out (each secret setting keeps its key and its
    reference, never its value): what the processes' plans may carry."""
    return asdict(replace(spec, services=tuple(
        replace(s, secrets={k: SecretSetting(ref=v.ref) for k, v in s.secrets.items()}) for s in spec.services)))


def gateway_view(spec: StackSpec) -> StackSpec:
    """The spec as far as the gateways' nginx.conf depends on it, for the readiness controller.

    A service's program, environment, image and sizing, and the local options other than the
    gateways' host and ports, are left out: the gateway config does not use them, so changing
    them restarts only the processes that do use them, not the controller.
    """
    options = options_of(spec)
    return replace(spec, services=tuple(replace(s, image="", cpu_millicores=0, memory_mib=0, environment={},
                                                command=None, secrets={}) for s in spec.services),
                   options=LocalOptions(listen_host=options.listen_host,
                                        gateway_base_port=options.gateway_base_port))


def spec_from_dict(d: dict) -> StackSpec:
    """Inverse of spec_to_dict (used by the readiness controller, which re-renders gateways)."""
    g = d["gateway"]
    lb = d["load_balancer"]
    return StackSpec(**{
        **d,
        "gateway": Gateway(**{**g, "instances": Instances(**g["instances"]), "limits": GatewayLimits(**g["limits"])}),
        "services": tuple(Service(**{**s, "instances": Instances(**s["instances"]),
                                     "secrets": {k: SecretSetting(**v) for k, v in (s.get("secrets") or {}).items()}})
                          for s in d["services"]),
        "load_balancer": LoadBalancer(**{**lb, "health_check": HealthCheck(**lb["health_check"])}),
        "monitoring": Monitoring(**d["monitoring"]),
        "options": LocalOptions(**d["options"]) if d.get("options") else None,
    })


def _files_dir(state_dir: str, *parts: str) -> str:
    return str(pathlib.Path(state_dir, *parts))


def _backend(spec: StackSpec, service: Service, i: int, state_dir: str, python: str) -> ProcessPlan:
    options = options_of(spec)
    port = service_port(options, spec, service.name, i)
    instance = backend_instance_id(service.name, i)
    host = options.listen_host
    if service.command:
        argv = tuple(shlex.split(service.command.replace("{port}", str(port)).replace("{host}", host)))
    else:
        argv = (python, "-m", DEMO_BACKEND_MODULE, "--service", service.name, "--instance", instance,
                "--host", host, "--port", str(port), "--prefix", service.path_prefix,
                "--health-path", service.health_check_path)
    env = {**service.environment, "PORT": str(port), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    key = f"svc-{instance}"
    has_values = any(setting.value is not None for setting in service.secrets.values())
    return ProcessPlan(
        key=key, role="backend", description=f"{service.name} instance {i}", argv=argv, cwd=str(REPO),
        log_path=_files_dir(state_dir, "logs", f"{key}.log"), pid_path=_files_dir(state_dir, "pids", f"{key}.json"),
        ports=(port,), env=tuple(sorted(env.items())),
        health_url=f"http://{host}:{port}{service.health_check_path}",
        health_status=spec.load_balancer.health_check.matcher, instance_id=instance, service=service.name,
        start_timeout_s=options.start_timeout_s,
        secrets_path=secrets_path(state_dir, service.name) if has_values else None)


def _supervisor(options: LocalOptions, state_dir: str, python: str) -> ProcessPlan:
    directory = pathlib.Path(state_dir, "supervisor")
    plan = {"state_dir": state_dir, "status_path": str(directory / "status.json"),
            "log_max_bytes": options.log_max_size_mib * MIB, "log_keep_files": options.log_keep_files}
    plan_path = directory / "plan.json"
    return ProcessPlan(
        key="supervisor", role="supervisor", description="the supervisor",
        argv=(python, "-m", SUPERVISOR_MODULE, "--plan", str(plan_path)), cwd=str(REPO),
        log_path=_files_dir(state_dir, "logs", "supervisor.log"),
        pid_path=_files_dir(state_dir, "pids", "supervisor.json"),
        env=(("PYTHONPATH", str(REPO)), ("PYTHONUNBUFFERED", "1")),
        files=((str(plan_path), json.dumps(plan, indent=2, sort_keys=True) + "\n"),),
        ready_file=plan["status_path"], start_timeout_s=options.start_timeout_s)


def plan_topology(spec: StackSpec, state_dir: str | pathlib.Path, *, python: str | None = None,
                  nginx: str = "nginx", haproxy: str = "haproxy") -> Topology:
    """Every process of the stack's local topology, in start order.

    `nginx` and `haproxy` are program names or paths (resolved on PATH, then /usr/sbin, at start).
    """
    if spec.target != "local":
        raise ValueError(f"plan_topology: stack target is {spec.target!r}, not 'local'")
    options = options_of(spec)
    state_dir = str(pathlib.Path(state_dir).resolve())
    python = python or sys.executable
    host = options.listen_host
    processes: list[ProcessPlan] = [_supervisor(options, state_dir, python)]

    for service in spec.services:
        processes += [_backend(spec, service, i, state_dir, python) for i in range(1, service.instances.min + 1)]

    upstreams = all_upstreams(spec)
    for i in range(1, spec.gateway.instances.min + 1):
        port = options.gateway_base_port + i - 1
        directory = gateway_dir(state_dir, i)
        conf = directory / "nginx.conf"
        key = f"gw-{i}"
        processes.append(ProcessPlan(
            key=key, role="gateway", description=f"gateway instance {i}",
            # -e: nginx opens its default error log before reading the config; keep it ours.
            argv=(nginx, "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log"),
                  "-g", "daemon off;"),
            cwd=str(directory), log_path=_files_dir(state_dir, "logs", f"{key}.log"),
            pid_path=_files_dir(state_dir, "pids", f"{key}.json"), ports=(port,),
            files=((str(conf), render_local_gateway(spec, state_dir, i, upstreams)),),
            dirs=(str(directory / "tmp"),),
            health_url=f"http://{host}:{port}{spec.gateway.health_check_path}", health_status="200",
            instance_id=gateway_instance_id(i), start_timeout_s=options.start_timeout_s,
            reload_signal="SIGHUP", reopen_signal="SIGUSR1", stop_signal="SIGQUIT",
            own_logs=(str(directory / "access.log"), str(directory / "error.log"))))

    readiness_dir = pathlib.Path(state_dir, "readiness")
    hc = spec.load_balancer.health_check
    readiness_plan = {
        "spec": spec_to_dict(gateway_view(spec)),
        "state_dir": state_dir,
        "status_path": str(readiness_dir / "status.json"),
        "interval_s": hc.interval_s, "timeout_s": hc.timeout_s,
        "rise": hc.healthy_threshold, "fall": hc.unhealthy_threshold, "matcher": hc.matcher,
        "gateways": [{"index": i, "conf_path": str(gateway_dir(state_dir, i) / "nginx.conf"),
                      "pid_path": str(gateway_dir(state_dir, i) / "nginx.pid")}
                     for i in range(1, spec.gateway.instances.min + 1)],
        "backends": [{"service": p.service, "instance": p.instance_id, "address": f"{host}:{p.ports[0]}",
                      "health_url": p.health_url} for p in processes if p.role == "backend"],
    }
    plan_path = readiness_dir / "plan.json"
    processes.append(ProcessPlan(
        key="readiness", role="readiness", description="the backend readiness controller",
        argv=(python, "-m", READINESS_MODULE, "--plan", str(plan_path)), cwd=str(REPO),
        log_path=_files_dir(state_dir, "logs", "readiness.log"),
        pid_path=_files_dir(state_dir, "pids", "readiness.json"),
        env=(("PYTHONPATH", str(REPO)), ("PYTHONUNBUFFERED", "1")),
        files=((str(plan_path), json.dumps(readiness_plan, indent=2, sort_keys=True) + "\n"),),
        ready_file=readiness_plan["status_path"], start_timeout_s=options.start_timeout_s))

    cfg = pathlib.Path(state_dir, "haproxy", "haproxy.cfg")
    processes.append(ProcessPlan(
        key="lb", role="load_balancer", description="the load balancer (HAProxy)",
        # -W: master-worker, so SIGUSR2 reloads without closing the listening socket; -db: in the foreground.
        argv=(haproxy, "-W", "-db", "-f", str(cfg)), cwd=str(cfg.parent), reload_signal="SIGUSR2",
        stop_signal="SIGUSR1",
        log_path=_files_dir(state_dir, "logs", "lb.log"), pid_path=_files_dir(state_dir, "pids", "lb.json"),
        ports=(options.load_balancer_port, options.haproxy_stats_port), files=((str(cfg), render_haproxy(spec)),),
        # Through HAProxy to a gateway: healthy means the whole front of the chain answers.
        health_url=f"http://{host}:{options.load_balancer_port}{spec.gateway.health_check_path}",
        health_status="200", start_timeout_s=options.start_timeout_s))

    return Topology(
        spec=spec, state_dir=state_dir, processes=tuple(processes),
        url=f"http://{host}:{options.load_balancer_port}",
        metrics_url=f"http://{host}:{options.haproxy_stats_port}/metrics",
        stats_url=f"http://{host}:{options.haproxy_stats_port}/stats",
        port_uses=tuple(planned_ports(options, spec)))
