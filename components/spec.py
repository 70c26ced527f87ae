"""The stack spec: one typed, validated model of a stack, read from its config.

`parse_spec(raw)` takes the project's config as plain data (key -> value, objects
already decoded) and returns a `StackSpec`, or raises `SpecError` listing every
problem with its key path, the value found and what is allowed. Nothing here
imports Pulumi: validation runs before any resource is registered.

Units are in the names (cpu_millicores, memory_mib, interval_s) so one key never
means different things on different targets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import targets
from .gateway.limits import PHASE_LIMITS, GatewayLimits
from .phases import PHASES, PRESETS
from .stackfile import OPAQUE_SECRET, StackFile
from .validation import DNS_LABEL, Problems, SpecError

MESHES = ("none", "istio", "linkerd")

GATEWAY_NAME = "gateway"
"""The gateway fleet's own name on every target (Deployment, task family, instance ids): no
service may take it."""
PLATFORM_LABELS = ("app", "component", "phase", "project", "stack", "managed-by", "app.kubernetes.io/part-of",
                   "app.kubernetes.io/managed-by")
"""Label and tag keys the platform sets itself; a user label with one of them would be overwritten."""

DEFAULT_GATEWAY_IMAGE = "nginxinc/nginx-unprivileged:1.27.3-alpine"
GATEWAY_HEALTH_PATH = "/healthz"
"""The default of load_balancer.health_check.path: what the load balancer probes and, from the
same key, the location every gateway instance answers itself."""


def allowed_algorithms(target: str, mesh: str) -> tuple[str, ...]:
    """The load_balancer.algorithm values `target` honours with `mesh` (the default first)."""
    return targets.target(target).allowed_algorithms(mesh)


@dataclass(frozen=True)
class Instances:
    """How many copies of a program run: `instances: {min: N, max: M}`, 1 <= min <= max."""

    min: int
    max: int


@dataclass(frozen=True)
class HealthCheck:
    path: str = "/healthz"
    interval_s: int = 10
    timeout_s: int = 5
    healthy_threshold: int = 2
    unhealthy_threshold: int = 3
    matcher: str = "200"
    """HTTP status codes that count as healthy: "200", "200-299" or "200,204"."""


@dataclass(frozen=True)
class Gateway:
    image: str
    port: int
    instances: Instances
    cpu_millicores: int
    memory_mib: int
    health_check_path: str = GATEWAY_HEALTH_PATH
    limits: GatewayLimits = field(default_factory=GatewayLimits)
    """Per-client rate, burst, body size and connection limits (defaults per phase)."""


@dataclass(frozen=True)
class SecretSetting:
    """A service setting that must stay secret: its value (set with `pulumi config set --secret`), or a
    reference to a secret that already exists in the target's store. Never both."""

    value: str | None = field(default=None, repr=False)
    """The plain value, as the CLI decrypted it (the offline run sees "[secret]"); the program wraps it in
    pulumi.Output.secret and hands it to the target's store, never to a plain environment variable."""
    ref: str | None = None
    """The target's own reference: <Secret name>/<key> (kubernetes), a Secrets Manager or SSM parameter ARN
    (aws), a Key Vault secret name (azure), a Secret Manager secret (gcp)."""


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    port: int
    path_prefix: str
    health_check_path: str
    instances: Instances
    cpu_millicores: int
    memory_mib: int
    environment: dict[str, str] = field(default_factory=dict)
    """Plain settings only: a secret one is in `secrets`."""
    command: str | None = None
    """local target only: the program to run, with `{port}` where its port goes."""
    secrets: dict[str, SecretSetting] = field(default_factory=dict)
    """Environment variables whose value stays secret: `secure:` values and `{secret_ref: ...}` entries of
    `environment`. Each target stores them in its secret store; the service reads them by reference."""


@dataclass(frozen=True)
class Route:
    path_prefix: str
    service: str
    port: int


@dataclass(frozen=True)
class LoadBalancer:
    algorithm: str
    health_check: HealthCheck
    tls_certificate: str | None
    """Target-specific reference: an ACM ARN (aws), a TLS Secret name (kubernetes), ..."""
    http_to_https_redirect: bool


@dataclass(frozen=True)
class Monitoring:
    enabled: bool
    alarm_topic: str | None = None
    """Where alarms go: an SNS topic ARN (aws), an action group id (azure), ..."""


@dataclass(frozen=True)
class StackSpec:
    project: str
    target: str
    phase: str
    region: str
    gateway: Gateway
    services: tuple[Service, ...]
    load_balancer: LoadBalancer
    mesh: str
    monitoring: Monitoring
    labels: dict[str, str]
    min_zones: int
    options: Any = None
    """The parsed `<project>:<target>` block (a target-specific dataclass)."""

    @property
    def routes(self) -> tuple[Route, ...]:
        """The gateway's routes, longest prefix first so nginx and HAProxy agree on matching."""
        return tuple(sorted((Route(s.path_prefix, s.name, s.port) for s in self.services),
                            key=lambda r: (-len(r.path_prefix), r.path_prefix)))

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)


def platform_tags(spec: StackSpec, stack: str) -> dict[str, str]:
    """The tags a cloud target puts on every resource: the stack's labels and what the platform sets
    itself (PLATFORM_LABELS keeps a stack from setting these)."""
    return {**spec.labels, "project": spec.project, "phase": spec.phase, "stack": stack, "managed-by": "pulumi"}


NEUTRAL_TOP_LEVEL_KEYS = ("target", "phase", "region", "gateway", "services", "load_balancer", "mesh",
                          "monitoring", "labels")


def top_level_keys() -> tuple[str, ...]:
    """The neutral keys and every registered target's option blocks."""
    return (*NEUTRAL_TOP_LEVEL_KEYS, *targets.option_blocks())


def parse_spec(raw: dict[str, Any], project: str = "apigw", stack_file: StackFile | None = None) -> StackSpec:
    """Validate `raw` (the project's config keys without the `project:` prefix). `stack_file`: what
    the strict reader found in the stack file (components/stackfile.py): its problems (duplicate
    keys) come first, and its record of values YAML did not read as text tells how to quote them."""
    p = Problems(items=list(stack_file.problems) if stack_file else [],
                 sources=dict(stack_file.scalars) if stack_file else {})
    # The target first: much of the rest depends on it, and is not guessed at without one.
    target_name = p.choice(raw, "target", "target", None, targets.names())
    declared = targets.target(target_name) if target_name else None
    # A block named after an unknown target belongs to that problem, not to a second one.
    p.unknown_keys({k: v for k, v in raw.items() if declared or k != raw.get("target")}, top_level_keys(), "")
    phase = p.choice(raw, "phase", "phase", None, PHASES)
    preset = PRESETS[phase or "dev"]
    mesh = p.choice(raw, "mesh", "mesh", "none", MESHES)
    # Pulumi.yaml declares region with default "" (= the target's default region).
    region = p.string({k: v for k, v in raw.items() if v != ""}, "region", "region",
                      declared.default_region if declared else "")

    if declared and phase and phase not in declared.phases:
        elsewhere = [t.name for t in targets.all_targets() if phase in t.phases]
        p.add("phase", phase, f"{', '.join(declared.phases)} only on the {declared.name} target "
                              f"({declared.phase_reason}: {phase} runs on {', '.join(elsewhere)})")
    if declared and mesh and mesh not in declared.meshes and declared.honours("mesh"):
        p.add("mesh", mesh, f"{', '.join(declared.meshes)} on the {declared.name} target")

    own_certificate = bool(declared and declared.makes_certificate and declared.makes_certificate(raw))
    lb = _parse_load_balancer(p.mapping(raw, "load_balancer", "load_balancer"), p, preset,
                              declared, mesh or "none", phase, own_certificate)
    gateway = _parse_gateway(p.mapping(raw, "gateway", "gateway"), p, preset, lb.health_check.path,
                             PHASE_LIMITS[phase or "dev"])
    services = _parse_services(raw, p, preset, images=declared is None or declared.honours("services.*.image"),
                               secret_paths=frozenset(stack_file.secrets) if stack_file else frozenset())
    _check_gateway_paths(p, lb.health_check.path, services)
    monitoring_raw = p.mapping(raw, "monitoring", "monitoring")
    p.unknown_keys(monitoring_raw, ("enabled", "alarm_topic"), "monitoring")
    monitoring = Monitoring(p.boolean(monitoring_raw, "enabled", "monitoring.enabled", preset.monitoring),
                            p.string(monitoring_raw, "alarm_topic", "monitoring.alarm_topic", None))
    labels = p.string_map(raw, "labels", "labels")
    for key in (k for k in labels if k in PLATFORM_LABELS):
        p.add(f"labels.{key}", labels[key],
              f"a key the platform does not set itself (it sets {', '.join(PLATFORM_LABELS)})")
    if phase == "prod" and not monitoring.enabled:
        p.add("monitoring.enabled", False, "true in prod: without it prod has no dashboards and no alerts "
                                          "(unavailable instances, error rate, latency)")
    own_blocks = declared.option_blocks if declared else targets.option_blocks()
    for key in (k for k in raw if k in targets.option_blocks() and k not in own_blocks and raw[k] != {}):
        p.add(key, raw[key], f"only the blocks the {target_name} target reads: {', '.join(own_blocks)}")

    if declared is not None:
        _refuse_unhonoured(p, raw, declared)
    spec = StackSpec(project=project, target=target_name or "", phase=phase or "", region=region or "",
                     gateway=gateway, services=services, load_balancer=lb, mesh=mesh or "none",
                     monitoring=monitoring, labels=labels, min_zones=preset.min_zones)
    if declared is not None:
        blocks = {block: p.mapping(raw, block, block) for block in declared.option_blocks}
        spec = _replace(spec, options=declared.parse_options(blocks, p, spec))
        declared.check_spec(spec, p)
    p.raise_if_any()
    return spec


def _refuse_unhonoured(p: Problems, raw: dict, declared: targets.Target) -> None:
    """A key the target does not carry out is refused, saying what the target does instead."""
    for path, pattern, value in targets.unhonoured_keys(raw, declared):
        p.add(path, value, f"nothing on the {declared.name} target, which does not honour it: "
                           f"{declared.notes.get(pattern, 'see docs/targets.md')}")


def _replace(spec: StackSpec, **changes: Any) -> StackSpec:
    from dataclasses import replace
    return replace(spec, **changes)


def _parse_instances(raw: dict, path: str, p: Problems, default_min: int, default_max: int) -> Instances:
    block = p.mapping(raw, "instances", path)
    p.unknown_keys(block, ("min", "max"), path)
    lo = p.integer(block, "min", f"{path}.min", default_min, 1, 1000)
    hi = p.integer(block, "max", f"{path}.max", max(default_max, lo or 0), 1, 1000)
    if lo is not None and hi is not None and lo > hi:
        p.add(path, {"min": lo, "max": hi}, "min <= max")
    return Instances(lo or default_min, hi or default_max)


def _parse_path(p: Problems, raw: dict, key: str, path: str, default: str | None) -> str | None:
    value = p.string(raw, key, path, default)
    if value is not None and not value.startswith("/"):
        p.add(path, value, "a path starting with '/'")
    elif value is not None and any(c.isspace() or c in "{};#\"'" for c in value):
        p.add(path, value, "a path without spaces, quotes, braces, ';' or '#'")
    return value


def _parse_limits(raw: dict, p: Problems, defaults: GatewayLimits) -> GatewayLimits:
    block = p.mapping(raw, "limits", "gateway.limits")
    p.unknown_keys(block, ("requests_per_second", "burst", "max_body_mib", "connections_per_client"),
                   "gateway.limits")

    def number(key: str, lo: int, hi: int) -> int:
        value = p.integer(block, key, f"gateway.limits.{key}", getattr(defaults, key), lo, hi)
        return getattr(defaults, key) if value is None else value

    limits = GatewayLimits(requests_per_second=number("requests_per_second", 0, 100_000),
                           burst=number("burst", 0, 1_000_000), max_body_mib=number("max_body_mib", 1, 1024),
                           connections_per_client=number("connections_per_client", 0, 100_000))
    if limits.burst and not limits.requests_per_second:
        p.add("gateway.limits.burst", limits.burst, "0 when requests_per_second is 0 (no rate limit to burst over)")
    return limits


def _parse_gateway(raw: dict, p: Problems, preset, health_check_path: str, limits: GatewayLimits) -> Gateway:
    p.unknown_keys(raw, ("image", "port", "instances", "cpu_millicores", "memory_mib", "limits"), "gateway")
    image = _parse_image(p, raw, "image", "gateway.image", DEFAULT_GATEWAY_IMAGE)
    return Gateway(
        image=image,
        port=p.integer(raw, "port", "gateway.port", 8080, 1, 65535),
        instances=_parse_instances(raw, "gateway.instances", p, preset.gateway_min, preset.gateway_max),
        cpu_millicores=p.integer(raw, "cpu_millicores", "gateway.cpu_millicores", 250, 10, 64000),
        memory_mib=p.integer(raw, "memory_mib", "gateway.memory_mib", 128, 16, 262144),
        health_check_path=health_check_path,
        limits=_parse_limits(raw, p, limits),
    )


def _parse_image(p: Problems, raw: dict, key: str, path: str, default: str | None) -> str:
    image = p.string(raw, key, path, default)
    if image is None:
        p.add(path, None, "an image reference with a pinned tag or digest (required)")
        return ""
    name, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
    if "@" not in image and ("/" in tag or not name):
        p.add(path, image, "an image with an explicit tag or digest (repo:tag or repo@sha256:...)")
    elif tag == "latest":
        p.add(path, image, "a pinned tag or digest, never 'latest'")
    return image


def parse_image(p: Problems, raw: dict, key: str, path: str, default: str | None) -> str:
    """An image reference pinned by tag or digest, never `latest`: the rule of gateway.image and
    services.*.image, for the images a target's own block names (docker.haproxy_image)."""
    return _parse_image(p, raw, key, path, default)


SERVICE_KEYS = ("image", "port", "path_prefix", "health_check_path", "instances", "cpu_millicores",
                "memory_mib", "environment", "command")


def _parse_services(raw: dict, p: Problems, preset, images: bool = True,
                    secret_paths: frozenset[str] = frozenset()) -> tuple[Service, ...]:
    """`images`: whether the target runs images (then each service names one; the local target runs
    processes and refuses the key, see `_refuse_unhonoured`). `secret_paths`: the stack file's `secure:`
    key paths."""
    block = p.mapping(raw, "services", "services")
    if not block:
        p.add("services", raw.get("services"), "at least one service, keyed by its name")
    services: list[Service] = []
    seen_prefixes: dict[str, str] = {}
    for name in sorted(block):
        path = f"services.{name}"
        body = block[name] if isinstance(block[name], dict) else {}
        if not isinstance(block[name], dict):
            p.add(path, block[name], "a mapping with image, port, path_prefix, ...")
        if name == GATEWAY_NAME:
            p.add(path, name, f"a name other than {GATEWAY_NAME!r}: the gateway fleet's own name (its Deployment, "
                              "task family and instance ids)")
        elif not DNS_LABEL.match(str(name)):
            p.add(path, name, "a DNS label: lowercase letters, digits and '-', starting with a letter, "
                              "at most 63 characters")
        p.unknown_keys(body, SERVICE_KEYS, path)
        prefix = _parse_path(p, body, "path_prefix", f"{path}.path_prefix", f"/{name}")
        if prefix is not None:
            normalized = prefix.rstrip("/") or "/"
            if normalized in seen_prefixes:
                p.add(f"{path}.path_prefix", prefix,
                      f"a prefix not already used by services.{seen_prefixes[normalized]}")
            seen_prefixes.setdefault(normalized, name)
        command = p.string(body, "command", f"{path}.command", None)
        if command is not None and "{port}" not in command:
            p.add(f"{path}.command", command, "a command containing {port} where the port goes")
        services.append(Service(
            name=str(name),
            image=_parse_image(p, body, "image", f"{path}.image", None) if images else "",
            port=p.integer(body, "port", f"{path}.port", 8080, 1, 65535),
            path_prefix=prefix or f"/{name}",
            health_check_path=_parse_path(p, body, "health_check_path", f"{path}.health_check_path",
                                          "/health") or "/health",
            instances=_parse_instances(body, f"{path}.instances", p, preset.service_min, preset.service_max),
            cpu_millicores=p.integer(body, "cpu_millicores", f"{path}.cpu_millicores", 100, 10, 64000),
            memory_mib=p.integer(body, "memory_mib", f"{path}.memory_mib", 128, 16, 262144),
            **_parse_environment(p, body, f"{path}.environment", secret_paths),
            command=command,
        ))
    return tuple(services)


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_REF_KEY = "secret_ref"


def _parse_environment(p: Problems, body: dict, path: str, secret_paths: frozenset[str]) -> dict:
    """`environment` split into plain settings and secret ones: a value set with `--secret` (its key path is
    `secure:` in the stack file) or `{secret_ref: <the target store's reference>}`."""
    raw = p.mapping(body, "environment", path)
    plain: dict[str, str] = {}
    secrets: dict[str, SecretSetting] = {}
    for key, value in raw.items():
        where = f"{path}.{key}"
        if not isinstance(key, str) or not ENV_NAME.match(key):
            p.add(where, key, "an environment variable name: letters, digits and '_', not starting with a digit")
            continue
        if isinstance(value, dict):
            ref = value.get(SECRET_REF_KEY)
            if set(value) != {SECRET_REF_KEY} or not isinstance(ref, str) or not ref.strip():
                p.add(where, value, f"a string, a secret (pulumi config set --secret --path '<project>:{where}' ...) "
                                    f"or {{{SECRET_REF_KEY}: <a secret in the target's store>}}")
                continue
            secrets[key] = SecretSetting(ref=ref)
        elif isinstance(value, str) and (where in secret_paths or value == OPAQUE_SECRET):
            secrets[key] = SecretSetting(value=value)
        elif isinstance(value, str):
            plain[key] = value
        else:
            p.add(where, value, p.text_wanted(where, value))
    return {"environment": plain, "secrets": secrets}


def _check_gateway_paths(p: Problems, health_path: str, services: tuple[Service, ...]) -> None:
    """The gateway answers load_balancer.health_check.path itself, so no service route may claim it:
    nginx would send that path to one of them, or keep a service's own path for itself."""
    health = health_path.rstrip("/") or "/"
    for service in services:
        base = service.path_prefix.rstrip("/")
        if base == health:
            p.add(f"services.{service.name}.path_prefix", service.path_prefix,
                  f"a prefix other than the gateway's health path {health_path!r} (load_balancer.health_check.path)")
        elif base and health.startswith(base + "/"):
            p.add("load_balancer.health_check.path", health_path,
                  f"a path outside services.{service.name}.path_prefix {service.path_prefix!r}: the gateway "
                  f"answers it itself, so {service.name} would never see it")


def _parse_load_balancer(raw: dict, p: Problems, preset, declared: targets.Target | None, mesh: str,
                         phase: str | None, own_certificate: bool = False) -> LoadBalancer:
    """`own_certificate`: the target makes the certificate (aws.domain), so HTTPS needs no tls_certificate."""
    p.unknown_keys(raw, ("algorithm", "health_check", "tls_certificate", "http_to_https_redirect"),
                   "load_balancer")
    allowed = declared.allowed_algorithms(mesh) if declared else ("round_robin",)
    algorithm = raw.get("algorithm", allowed[0])
    if declared and algorithm not in allowed:
        where = f"the {declared.name} target" + (f" with mesh {mesh}" if len(declared.meshes) > 1 else "")
        note = f" ({declared.algorithm_notes[mesh]})" if mesh in declared.algorithm_notes else ""
        p.add("load_balancer.algorithm", algorithm, f"one of {', '.join(allowed)} on {where}{note}")
    hc_raw = p.mapping(raw, "health_check", "load_balancer.health_check")
    p.unknown_keys(hc_raw, ("path", "interval_s", "timeout_s", "healthy_threshold", "unhealthy_threshold",
                            "matcher"), "load_balancer.health_check")
    hp = "load_balancer.health_check"
    defaults = HealthCheck()
    health = HealthCheck(
        path=_parse_path(p, hc_raw, "path", f"{hp}.path", GATEWAY_HEALTH_PATH) or GATEWAY_HEALTH_PATH,
        interval_s=p.integer(hc_raw, "interval_s", f"{hp}.interval_s", defaults.interval_s, 1, 300),
        timeout_s=p.integer(hc_raw, "timeout_s", f"{hp}.timeout_s", defaults.timeout_s, 1, 120),
        healthy_threshold=p.integer(hc_raw, "healthy_threshold", f"{hp}.healthy_threshold",
                                    defaults.healthy_threshold, 1, 10),
        unhealthy_threshold=p.integer(hc_raw, "unhealthy_threshold", f"{hp}.unhealthy_threshold",
                                      defaults.unhealthy_threshold, 1, 10),
        matcher=_parse_matcher(p, hc_raw, f"{hp}.matcher"),
    )
    if health.timeout_s >= health.interval_s:
        p.add(f"{hp}.timeout_s", health.timeout_s,
              f"less than interval_s ({health.interval_s}), so one check ends before the next starts")
    tls = p.string(raw, "tls_certificate", "load_balancer.tls_certificate", None)
    redirect = p.boolean(raw, "http_to_https_redirect", "load_balancer.http_to_https_redirect",
                         preset.http_to_https_redirect)
    if phase == "prod" and not tls and not own_certificate:
        p.add("load_balancer.tls_certificate", tls, "a certificate reference: prod serves HTTPS")
    if redirect and not tls and not own_certificate and declared \
            and declared.honours("load_balancer.http_to_https_redirect"):
        p.add("load_balancer.http_to_https_redirect", redirect,
              "false unless load_balancer.tls_certificate is set (nothing to redirect to)")
    return LoadBalancer(algorithm=str(algorithm), health_check=health, tls_certificate=tls,
                        http_to_https_redirect=redirect)


def _parse_matcher(p: Problems, raw: dict, path: str) -> str:
    value = raw.get("matcher", "200")
    if not isinstance(value, str):
        p.add(path, value, p.text_wanted(path, value, 'a string of HTTP codes: "200", "200-299" or "200,204"'))
        return "200"
    text = value
    parts = [part.split("-") for part in text.split(",")]
    valid = all(1 <= len(bounds) <= 2 and all(b.isdigit() and 200 <= int(b) <= 499 for b in bounds)
                for bounds in parts)
    if not valid:
        p.add(path, value, 'HTTP codes from 200 to 499: "200", "200-299" or "200,204"')
        return "200"
    return text


__all__ = ["StackSpec", "Service", "Gateway", "LoadBalancer", "HealthCheck", "Instances", "Route",
           "Monitoring", "SpecError", "parse_spec", "allowed_algorithms", "MESHES", "PHASES"]
