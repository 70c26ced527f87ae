"""What every rule shares: the stack's phase, levels, floors, property access and messages.

The pack is started by the Pulumi CLI (or tools/check.py) with the stack's config in
PULUMI_CONFIG, so `pulumi.Config(<project>).get("phase")` is the stack's phase. A rule's default
level follows it: mandatory in prod, advisory elsewhere. A policy pack config file
(`--policy-pack-config`) overrides any rule's level, exactly as for any CrossGuard pack.

Rules read plain data: `plain(args.props)` strips pulumi_policy's proxies and keeps unknown
values (during a preview) as their sentinel strings, so each rule decides what an unknown value
means: "set" for a presence check, "can't tell yet" for a threshold (see `number`).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, _is_unknown

DEFAULT_PROJECT = "apigw"

# Floors for prod. components/phases.py keeps the same numbers for the presets
# (tests/test_policy_tokens.py checks that they agree).
PROD_MIN_INSTANCES = 2
PROD_MIN_GATEWAY_INSTANCES = 3
PROD_MIN_ZONES = 2
PROD_MIN_NODES = 2

GATEWAY_COMPONENT = "gateway"
"""Resources labelled or tagged `component: gateway` belong to the gateway fleet."""


# --- the stack the pack is checking -------------------------------------------------------

def project() -> str:
    return os.environ.get("PULUMI_PROJECT") or DEFAULT_PROJECT


def stack_setting(key: str) -> str | None:
    try:
        return pulumi.Config(project()).get(key)
    except Exception:  # noqa: BLE001 - no config at all (e.g. `pulumi policy publish`)
        return None


def phase() -> str:
    return stack_setting("phase") or ""


def target() -> str:
    return stack_setting("target") or ""


def is_prod() -> bool:
    return phase() == "prod"


def default_level(prod_level: EnforcementLevel = EnforcementLevel.MANDATORY) -> EnforcementLevel:
    """Mandatory in prod, advisory elsewhere (and when the phase is unknown)."""
    return prod_level if is_prod() else EnforcementLevel.ADVISORY


# --- building policies ----------------------------------------------------------------------

def _schema(config: dict[str, dict] | None) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties=config) if config else None


def _policy(kind: type, name: str, description: str, validate: Callable, remediation: str,
            severity: Severity = Severity.HIGH, config: dict[str, dict] | None = None,
            prod_level: EnforcementLevel = EnforcementLevel.MANDATORY):
    return kind(
        name=name, description=description, validate=validate, enforcement_level=default_level(prod_level),
        config_schema=_schema(config), severity=severity, remediation_steps=remediation,
        tags=["apigw", name.split("-")[0]])


def resource_policy(*args, **kwargs) -> ResourceValidationPolicy:
    """A rule that judges one resource at a time (see _policy for the arguments)."""
    return _policy(ResourceValidationPolicy, *args, **kwargs)


def stack_policy(*args, **kwargs) -> StackValidationPolicy:
    """A rule that judges the stack as a whole (see _policy for the arguments)."""
    return _policy(StackValidationPolicy, *args, **kwargs)


def setting(args: Any, key: str, default: Any) -> Any:
    """A rule's config property (pack config file), with the rule's default."""
    value = (args.get_config() or {}).get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # config travels as JSON numbers (floats)
    return default if value is None else value


# --- reading properties ---------------------------------------------------------------------

def plain(value: Any) -> Any:
    """pulumi_policy's unknown-checking proxies -> plain dicts and lists (unknowns kept as sentinels)."""
    if isinstance(value, Mapping):
        target_ = value["__target"] if not isinstance(value, dict) else value
        return {k: plain(v) for k, v in target_.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        target_ = value["__target"] if not isinstance(value, list) else value
        return [plain(v) for v in target_]
    return value


def unknown(value: Any) -> bool:
    return _is_unknown(value)


def dig(props: Any, path: str, default: Any = None) -> Any:
    """props["a"]["b"]... for a dotted path; `default` when any step is missing, null or not a mapping."""
    current = props
    for key in path.split("."):
        if not isinstance(current, dict) or current.get(key) is None:
            return default
        current = current[key]
    return current


def number(props: Any, path: str, default: float | None = None) -> float | None:
    """A numeric property; raises UnknownValueError when it cannot be known before the update
    (the pack then reports "can't run during preview" for this resource, as CrossGuard does)."""
    value = dig(props, path, default)
    if unknown(value):
        raise UnknownValueError(value, path.split("."))
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value.strip()):
        value = float(value)
    return value


def listed(value: Any) -> list:
    return list(value) if isinstance(value, list) else []


def items(props: Any, path: str) -> list:
    """A list property (empty when unset); raises UnknownValueError when the whole list is unknown,
    so "can't tell yet" is never mistaken for "empty"."""
    value = dig(props, path)
    if unknown(value):
        raise UnknownValueError(value, path.split("."))
    return listed(value)


def truthy(value: Any) -> bool:
    """true, "true" (some providers take booleans as strings) or an unknown value."""
    return value is True or (isinstance(value, str) and (value.lower() == "true" or unknown(value)))


def is_internal(props: dict) -> bool:
    """An internal (not internet-facing) load balancer; an unknown value is not assumed internal."""
    return props.get("internal") in (True, "true")


def labels_of(props: dict) -> dict:
    """Kubernetes metadata labels, AWS/Azure tags or GCP labels, whichever the resource has
    (an auto scaling group's list of {key, value} tags and a Docker container's {label, value} labels too)."""
    for path in ("metadata.labels", "tags", "labels", "resourceLabels"):
        found = dig(props, path)
        if isinstance(found, dict):
            return found
        # An auto scaling group's tags are {key, value}, a Docker container's labels {label, value}.
        pairs = {t.get("key", t.get("label")): t.get("value") for t in listed(found)
                 if isinstance(t, dict) and ("key" in t or "label" in t)}
        if pairs:  # GCP `tags` are network tags (strings): keep looking for `labels`
            return pairs
    return {}


def is_gateway(props: dict) -> bool:
    template_labels = dig(props, "spec.template.metadata.labels") or {}
    return GATEWAY_COMPONENT in (labels_of(props).get("component"), template_labels.get("component"))


# --- messages -------------------------------------------------------------------------------

def show(value: Any) -> str:
    """A value as a message shows it: 1 (not 1.0), "host", ["a"], or `not set`."""
    if value is None:
        return "not set"
    if unknown(value):
        return "unknown until the update"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return json.dumps(value, sort_keys=True)


def message(name: str, type_token: str, path: str, found: Any, passes: str, rule: str,
            found_text: str | None = None) -> str:
    """`<name> (<type>): <path> is <found>; <what would pass> (<rule>)`."""
    return f"{name} ({type_token}): {path} is {found_text or show(found)}; {passes} ({rule})"


def resource_message(name: str, type_token: str, text: str, rule: str) -> str:
    return f"{name} ({type_token}): {text} ({rule})"


# --- stack-wide lookups ---------------------------------------------------------------------

class Stack:
    """The resources of an AnalyzeStack call as plain data, with lookups by URN and type."""

    def __init__(self, resources: Iterable[Any]):
        self.resources = list(resources)
        self.props = {r.urn: plain(r.props) for r in self.resources}
        self.by_urn = {r.urn: r for r in self.resources}

    def of_type(self, *types: str) -> list[Any]:
        return [r for r in self.resources if r.resource_type in types]

    def depends_on(self, resource: Any, prop: str, other: Any) -> bool:
        """Does the engine record that `resource.<prop>` was computed from `other`?"""
        return any(getattr(d, "urn", d) == other.urn for d in resource.property_dependencies.get(prop) or [])

    def references(self, resource: Any, prop: str, other: Any, other_value_keys: Iterable[str] = ("arn", "id")) -> bool:
        """`resource.<prop>` depends on `other`, or contains one of its known arn/id values
        (state exported after an update has the values but may lack the dependency)."""
        if self.depends_on(resource, prop, other):
            return True
        known = {self.props[other.urn].get(k) for k in other_value_keys}
        known = {v for v in known if isinstance(v, str) and v and not unknown(v)}
        return bool(known) and bool(known & set(_strings(self.props[resource.urn].get(prop))))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
