"""health-checks: every load-balancer backend has a health check; every container has probes.

A load balancer without a health check keeps sending requests to a dead instance. Kubernetes
containers need a readiness probe (out of rotation while unhealthy) and a liveness probe
(restarted when stuck). On ECS the target group's health check plays both parts (ECS replaces
tasks that fail it), so task definitions are not required to carry a container health check.
On the docker target the gateway and load-balancer containers carry Docker's health check (what `pulumi
up` waits for and `docker ps` shows); a service container may go without one, as an image without a
shell must: the gateways take a failing instance out (nginx max_fails), like the target group on ECS.
"""
from __future__ import annotations

from .common import GATEWAY_COMPONENT, dig, items, labels_of, message, plain, resource_policy
from .kube import container_path, containers, pod_spec
from .types import AWS_TARGET_GROUPS, AZ_APP_GATEWAY, DOCKER_CONTAINER, GCP_BACKEND_SERVICES, K8S_LONG_RUNNING

NAME = "health-checks"
TOKENS = {
    **{t: ("spec",) for t in K8S_LONG_RUNNING},
    **{t: ("healthCheck", "targetType", "protocol") for t in AWS_TARGET_GROUPS},
    AZ_APP_GATEWAY: ("probes", "backendHttpSettingsCollection"),
    **{t: ("healthChecks",) for t in GCP_BACKEND_SERVICES},
    DOCKER_CONTAINER: ("healthcheck", "labels"),
}
PROBES = ("readinessProbe", "livenessProbe")
CHECKED_DOCKER_COMPONENTS = (GATEWAY_COMPONENT, "load_balancer")
"""The docker containers that must carry a health check (their `component` label)."""


def _kubernetes(args, props, report):
    spec = pod_spec(props, args.resource_type)
    for index, (field, container) in enumerate(containers(spec)):
        for probe in PROBES:
            if not isinstance(container.get(probe), dict):
                report(message(args.name, args.resource_type,
                               f"{container_path(args.resource_type, field, container, index)}.{probe}", None,
                               "every container needs a readinessProbe and a livenessProbe", NAME))


def _target_group(args, props, report):
    if props.get("targetType") == "lambda":
        return
    check = props.get("healthCheck")
    if not isinstance(check, dict):
        report(message(args.name, args.resource_type, "healthCheck", None,
                       "set it with the service's health path (the default probes / and counts any 200)", NAME))
        return
    if check.get("enabled") is False:
        report(message(args.name, args.resource_type, "healthCheck.enabled", False,
                       "every load-balancer backend needs an enabled health check", NAME))
    protocol = (check.get("protocol") or props.get("protocol") or "HTTP")
    if protocol in ("HTTP", "HTTPS") and not check.get("path"):
        report(message(args.name, args.resource_type, "healthCheck.path", None,
                       "set the service's health endpoint (e.g. /healthz)", NAME))


def _app_gateway(args, props, report):
    probes = items(props, "probes")
    if not probes:
        report(message(args.name, args.resource_type, "probes", None,
                       "define a probe on the gateway's health path for every backend", NAME))
    for index, settings in enumerate(items(props, "backendHttpSettingsCollection")):
        if not dig(settings, "probe.id"):
            report(message(args.name, args.resource_type,
                           f"backendHttpSettingsCollection[{settings.get('name') or index}].probe", None,
                           "every backend setting needs a custom probe", NAME))


def _docker_container(args, props, report):
    component = labels_of(props).get("component")
    tests = dig(props, "healthcheck.tests") or []
    if component in CHECKED_DOCKER_COMPONENTS and (not tests or tests[0] == "NONE"):
        report(message(args.name, args.resource_type, "healthcheck.tests", tests or None,
                       f"a {component} container needs a health check (a command that probes it, "
                       "e.g. CMD-SHELL wget of its health path)", NAME))


def validate(args, report):
    t = args.resource_type
    props = plain(args.props)
    if t in K8S_LONG_RUNNING:
        _kubernetes(args, props, report)
    elif t in AWS_TARGET_GROUPS:
        _target_group(args, props, report)
    elif t == AZ_APP_GATEWAY:
        _app_gateway(args, props, report)
    elif t in GCP_BACKEND_SERVICES and not props.get("healthChecks"):  # a link or a list of links
        report(message(args.name, t, "healthChecks", None, "attach a health check to every backend service", NAME))
    elif t == DOCKER_CONTAINER:
        _docker_container(args, props, report)


POLICY = resource_policy(
    NAME,
    "Every load-balancer backend has a health check; every container has readiness and liveness probes.",
    validate,
    "Set load_balancer.health_check and each service's health_check_path in the stack file; the program "
    "turns them into target-group health checks, probes, Application Gateway probes and Docker health checks "
    "(docker.container_health_checks: none only for a service whose image has no shell).",
)
