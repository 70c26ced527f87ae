"""The local target: the whole dev topology as Pulumi resources on this machine.

    apigw:local:Platform  <name>
    ├── PortCheck              <name>-ports            (refuses busy ports and a state dir another stack owns)
    ├── Process                <name>-supervisor       restarts any process that dies; rotates the logs
    ├── apigw:local:Service    <name>-<service>        one per service
    │   └── Process            <name>-<service>-<i>    its instances (demo backend or `command`)
    ├── apigw:local:GatewayFleet <name>-gateway        after every service
    │   ├── Process            <name>-gateway-<i>      nginx, the shared gateway config
    │   └── Process            <name>-gateway-readiness takes failing backends out of rotation
    └── apigw:local:LoadBalancer <name>-lb             after the gateways
        └── Process            <name>-lb-haproxy       HAProxy + its Prometheus endpoint

Children are named after their component plus a stable key (service name, instance number),
so adding an instance or a service never renames the others. Instances of one service (and
the gateways) depend on each other in turn, so an update restarts them one at a time (each
waits until the one before is back in rotation: components/local/rollout.py).
Everything depends on the supervisor, so `pulumi destroy` stops it last, after the others in
reverse order. Processes, configs and logs live in the state dir (default `.state/<stack>`); a
service's secret values in `secrets/<service>.json` there (mode 0600, secretfiles.py), passed to its
instances as a Pulumi secret input of their own, never in a plan.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import pulumi

from components.local.options import REPO, options_of
from components.local.provider import LocalProcess, PortCheck
from components.local.topology import Topology, plan_topology
from components.spec import StackSpec


@dataclass(frozen=True)
class LocalPlatformArgs:
    topology: Topology
    """What to run, from plan_topology (pure)."""
    repo: str = str(REPO)
    """Where the provider process imports this package from."""
    stack: str = ""
    """The stack that owns the state dir (a second stack naming the same dir is refused)."""


def _rolling(name: str, plans: list, repo: str, depends_on: list, parent, secrets: dict | None = None) -> dict:
    """One process per instance, each after the previous one: an update that restarts them all
    goes one instance at a time, so the others keep serving (no all-down moment)."""
    processes: dict = {}
    previous: list = []
    for plan in plans:
        number = plan.instance_id.rsplit("-", 1)[1]
        processes[plan.instance_id] = LocalProcess(f"{name}-{number}", plan, repo, pulumi.ResourceOptions(
            parent=parent, depends_on=[*depends_on, *previous]), secrets=secrets)
        previous = [processes[plan.instance_id]]
    return processes


class LocalService(pulumi.ComponentResource):
    """The instances of one backend service."""

    TYPE = "apigw:local:Service"

    def __init__(self, name: str, args: LocalPlatformArgs, service: str, depends_on: list,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        # Its secret values go to each instance as a Pulumi secret input of their own (never in the
        # plan): the provider writes them to <state_dir>/secrets/<service>.json, mode 0600.
        self.processes = _rolling(name, args.topology.backends(service), args.repo, depends_on, self,
                                  args.topology.secret_values(service))
        self.register_outputs({"pids": {k: p.pid for k, p in self.processes.items()}})


class GatewayFleet(pulumi.ComponentResource):
    """The nginx gateway instances and the readiness controller that edits their upstreams."""

    TYPE = "apigw:local:GatewayFleet"

    def __init__(self, name: str, args: LocalPlatformArgs, depends_on: list,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        self.processes = _rolling(name, args.topology.by_role("gateway"), args.repo, depends_on, self)
        self.readiness = LocalProcess(f"{name}-readiness", args.topology.get("readiness"), args.repo,
                                      pulumi.ResourceOptions(parent=self,
                                                             depends_on=[*depends_on, *self.processes.values()]))
        self.register_outputs({"pids": {k: p.pid for k, p in self.processes.items()}})


class LocalLoadBalancer(pulumi.ComponentResource):
    """HAProxy in front of the gateways."""

    TYPE = "apigw:local:LoadBalancer"

    def __init__(self, name: str, args: LocalPlatformArgs, depends_on: list,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        topology = args.topology
        self.haproxy = LocalProcess(f"{name}-haproxy", topology.get("lb"), args.repo,
                                    pulumi.ResourceOptions(parent=self, depends_on=depends_on))
        self.url = topology.url
        self.metrics_url = topology.metrics_url
        self.register_outputs({"url": self.url, "metrics_url": self.metrics_url, "pid": self.haproxy.pid})


class LocalPlatform(pulumi.ComponentResource):
    TYPE = "apigw:local:Platform"

    def __init__(self, name: str, args: LocalPlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        topology = args.topology
        self.port_check = PortCheck(f"{name}-ports", topology, args.repo, args.stack,
                                    pulumi.ResourceOptions(parent=self))
        self.supervisor = LocalProcess(f"{name}-supervisor", topology.get("supervisor"), args.repo,
                                       pulumi.ResourceOptions(parent=self, depends_on=[self.port_check]))
        # Children do not inherit a component's depends_on, so each gets the list it needs:
        # nothing starts before the port check and the supervisor; gateways after every backend;
        # HAProxy last.
        first = [self.port_check, self.supervisor]
        self.services = {s.name: LocalService(f"{name}-{s.name}", args, s.name, first,
                                              pulumi.ResourceOptions(parent=self))
                         for s in topology.spec.services}
        self.gateways = GatewayFleet(f"{name}-gateway", args, [*first, *self.services.values()],
                                     pulumi.ResourceOptions(parent=self))
        self.load_balancer = LocalLoadBalancer(f"{name}-lb", args, [*first, self.gateways],
                                               pulumi.ResourceOptions(parent=self))
        self.url = topology.url
        self.metrics_url = topology.metrics_url
        self.stats_url = topology.stats_url
        self.state_dir = topology.state_dir
        self.register_outputs({"url": self.url, "metrics_url": self.metrics_url, "stats_url": self.stats_url,
                               "state_dir": self.state_dir})


def build(spec: StackSpec) -> dict:
    """Register the local topology of `spec`; returns the stack outputs."""
    state_dir = options_of(spec).resolve_state_dir(pulumi.get_stack())
    # sys.executable: the project's virtualenv (Pulumi runs the program with it), so the demo
    # backend and the readiness controller run with the same Python and packages.
    topology = plan_topology(spec, state_dir, python=sys.executable)
    platform = LocalPlatform(spec.project, LocalPlatformArgs(topology, stack=pulumi.get_stack()))
    return {"url": platform.url, "metrics_url": platform.metrics_url, "stats_url": platform.stats_url,
            "state_dir": platform.state_dir}
