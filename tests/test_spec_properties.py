"""Property tests of the spec and the plan: valid stacks drawn at random parse and plan; random
mutations of a valid stack parse or are refused with messages that name a key path; nothing ever
ends in a traceback."""
from __future__ import annotations

import copy
import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulumi import RunError

from components.spec import SpecError, parse_spec, top_level_keys
from tools.offline import run_program

RESERVED = {"gateway", "services"}
names = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,5})?", fullmatch=True).filter(lambda n: n not in RESERVED)
env_keys = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True)
env_values = st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=12)


@st.composite
def instances(draw, floor: int = 1) -> dict:
    low = draw(st.integers(floor, 5))
    return {"min": low, "max": draw(st.integers(low, 12))}


@st.composite
def service(draw, name: str, target: str, floor: int) -> dict:
    body = {"path_prefix": f"/{name}", "instances": draw(instances(floor))}
    if target == "local":
        body["instances"].pop("max")
        return body
    body.update(image=f"ghcr.io/acme/{name}:{draw(st.integers(1, 9))}.0", port=draw(st.integers(1, 65535)),
                cpu_millicores=draw(st.integers(10, 2000)), memory_mib=draw(st.integers(16, 4096)),
                environment=draw(st.dictionaries(env_keys, env_values, max_size=3)))
    return body


@st.composite
def valid_stacks(draw, target: str) -> dict:
    # aws staging and prod need an ACM certificate and an alarm topic: dev covers the aws shapes.
    phase = "dev" if target in ("local", "aws") else draw(st.sampled_from(["dev", "staging", "prod"]))
    floor = 2 if phase == "prod" else 1
    chosen = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    raw = {"target": target, "phase": phase, "region": "", "mesh": "none",
           "services": {n: draw(service(n, target, floor)) for n in chosen},
           "gateway": {"instances": draw(instances(3 if phase == "prod" else 1))},
           # ALB health checks: interval 5-300 s, timeout 2-120 s.
           "load_balancer": {"health_check": {"interval_s": draw(st.integers(5, 30)), "timeout_s": 2}},
           "monitoring": {}, "labels": {}}
    if target == "local":
        raw["gateway"]["instances"].pop("max")
        raw["load_balancer"]["algorithm"] = draw(st.sampled_from(
            ["round_robin", "least_connections", "random", "source_ip_hash"]))
    if target == "kubernetes" and phase == "prod":
        raw["load_balancer"]["tls_certificate"] = "api-tls"
        raw["kubernetes"] = {"exposure": "ingress", "host": "api.example.com"}
    return raw


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["kubernetes", "local", "aws"]).flatmap(valid_stacks))
def test_valid_stacks_parse_and_plan(raw):
    spec = parse_spec(copy.deepcopy(raw))
    assert [s.name for s in spec.services] == sorted(raw["services"])
    config = {f"apigw:{k}": v for k, v in raw.items()}
    plan = run_program(f"{raw['target']}-{raw['phase']}", config)
    assert plan.resources and all(r.urn for r in plan.resources)


def _paths(value, prefix=""):
    """Every key path of a nested mapping (leaves and inner mappings)."""
    if isinstance(value, dict):
        for key, child in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _paths(child, path)


def _set(raw: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    node = raw
    for part in parents:
        node = node[part]
    node[last] = value


odd_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False),
                       st.text(max_size=8), st.just("yes"), st.just(""), st.just("/"),
                       st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
                       st.just(datetime.date(2024, 1, 1)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["kubernetes", "local"]).flatmap(valid_stacks), st.data())
def test_mutations_parse_or_are_refused_naming_a_key_path(raw, data):
    path = data.draw(st.sampled_from(sorted(_paths(raw))))
    _set(raw, path, data.draw(odd_values))
    try:
        parse_spec(raw)
    except SpecError as err:
        assert err.problems
        for problem in err.problems:
            head = problem.path.split(".")[0].split("[")[0]
            assert head in top_level_keys() or problem.path.startswith("<"), str(problem)
            assert str(problem).startswith(f"{problem.path}: found ")


@pytest.mark.parametrize("stack", ["kubernetes-prod", "local-dev", "aws-dev"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mutated_shipped_stack_is_refused_or_planned_never_a_traceback(stack, data):
    from tools.offline import stack_config
    config = stack_config(stack)
    raw = {k.removeprefix("apigw:"): v for k, v in config.items() if k.startswith("apigw:")}
    path = data.draw(st.sampled_from(sorted(_paths(raw))))
    _set(raw, path, data.draw(odd_values))
    try:
        parse_spec(copy.deepcopy(raw))
    except SpecError:
        return
    try:
        run_program(stack, {**config, **{f"apigw:{k}": v for k, v in raw.items()}})
    except RunError:
        pass
