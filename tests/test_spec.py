"""The stack spec: every rejection names its key path, the value found and what is allowed."""
from __future__ import annotations

import copy

import pytest

from components.spec import SpecError, parse_spec
from tools.offline import project_keys, project_name, stack_config, stack_names


def base(**overrides) -> dict:
    raw = {
        "target": "kubernetes",
        "phase": "dev",
        "services": {
            "users-api": {"image": "traefik/whoami:v1.10.3", "port": 8080, "path_prefix": "/users"},
            "payments-api": {"image": "traefik/whoami:v1.10.3", "port": 8080, "path_prefix": "/payments"},
        },
    }
    raw.update(overrides)
    return raw


def problems(raw: dict) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    return [str(p) for p in err.value.problems]


def with_service(**fields) -> dict:
    raw = base()
    raw["services"]["users-api"].update(fields)
    return raw


@pytest.mark.parametrize("raw, expected", [
    (base(target="openstack"), "target: found 'openstack'; allowed: one of aws, azure, docker, gcp, kubernetes, local"),
    (base(phase="qa"), "phase: found 'qa'; allowed: one of dev, staging, prod"),
    (with_service(instances={"min": 3, "max": 2}),
     "services.users-api.instances: found {'min': 3, 'max': 2}; allowed: min <= max"),
    (with_service(instances={"min": 0, "max": 2}),
     "services.users-api.instances.min: found 0; allowed: an integer from 1 to 1000"),
    (base(gateway={"instances": {"min": 0}}),
     "gateway.instances.min: found 0; allowed: an integer from 1 to 1000"),
    (base(load_balancer={"health_check": {"interval_s": 5, "timeout_s": 5}}),
     "load_balancer.health_check.timeout_s: found 5; allowed: less than interval_s (5), "
     "so one check ends before the next starts"),
    (with_service(path_prefix="users"),
     "services.users-api.path_prefix: found 'users'; allowed: a path starting with '/'"),
    (with_service(path_prefix="/payments/"),
     "services.users-api.path_prefix: found '/payments/'; allowed: a prefix not already used by "
     "services.payments-api"),
    (with_service(port=70000), "services.users-api.port: found 70000; allowed: an integer from 1 to 65535"),
    (with_service(port=0), "services.users-api.port: found 0; allowed: an integer from 1 to 65535"),
    (base(gateway={"port": 65536}), "gateway.port: found 65536; allowed: an integer from 1 to 65535"),
    (base(load_balancer={"algorithm": "least_connections"}),
     "load_balancer.algorithm: found 'least_connections'; allowed: one of round_robin on the kubernetes "
     "target with mesh none"),
    (base(mesh="istio", load_balancer={"algorithm": "least_outstanding_requests"}),
     "load_balancer.algorithm: found 'least_outstanding_requests'; allowed: one of round_robin, "
     "least_connections, random, source_ip_hash on the kubernetes target with mesh istio (Istio's DestinationRule "
     "load balancers)"),
    (base(mesh="linkerd", load_balancer={"algorithm": "round_robin"}),
     "load_balancer.algorithm: found 'round_robin'; allowed: one of ewma on the kubernetes target with mesh linkerd "
     "(Linkerd balances by latency (EWMA) and has no algorithm setting: leave load_balancer.algorithm out)"),
    (base(target="aws", load_balancer={"algorithm": "least_connections"}),
     "load_balancer.algorithm: found 'least_connections'; allowed: one of round_robin, "
     "least_outstanding_requests, weighted_random on the aws target"),
    (base(target="local", phase="prod"),
     "phase: found 'prod'; allowed: dev only on the local target (one host is never staging or prod: "
     "prod runs on aws, azure, gcp, kubernetes)"),
    (with_service(image="traefik/whoami:latest"),
     "services.users-api.image: found 'traefik/whoami:latest'; allowed: a pinned tag or digest, never 'latest'"),
    (with_service(image="traefik/whoami"),
     "services.users-api.image: found 'traefik/whoami'; allowed: an image with an explicit tag or digest "
     "(repo:tag or repo@sha256:...)"),
    (base(phase="prod"),
     "load_balancer.tls_certificate: found None; allowed: a certificate reference: prod serves HTTPS"),
    (base(gatway={}), "gatway: found {}; allowed: known keys: target, phase, region, gateway, services, "
                      "load_balancer, mesh, monitoring, labels, aws, azure, docker, gcp, kubernetes, local"),
    (base(mesh="consul"), "mesh: found 'consul'; allowed: one of none, istio, linkerd"),
    (base(load_balancer={"health_check": {"matcher": "600"}}),
     "load_balancer.health_check.matcher: found '600'; allowed: HTTP codes from 200 to 499: "
     "\"200\", \"200-299\" or \"200,204\""),
    (base(kubernetes={"exposure": "nodeport"}),
     "kubernetes.exposure: found 'nodeport'; allowed: one of load_balancer, ingress"),
    (base(aws={"zones": 3}),
     "aws: found {'zones': 3}; allowed: only the blocks the kubernetes target reads: kubernetes"),
])
def test_rejection_names_key_value_and_allowed(raw, expected):
    assert expected in problems(raw)


def test_service_name_must_be_a_dns_label():
    raw = base()
    raw["services"]["Users_API"] = raw["services"].pop("users-api")
    assert ("services.Users_API: found 'Users_API'; allowed: a DNS label: lowercase letters, digits and '-', "
            "starting with a letter, at most 63 characters") in problems(raw)


def test_every_problem_is_reported_at_once():
    raw = with_service(port=0, instances={"min": 4, "max": 1})
    raw["phase"] = "qa"
    found = problems(raw)
    assert len(found) == 3, found
    assert [line.split(":")[0] for line in found] == [
        "phase", "services.users-api.port", "services.users-api.instances"]


def test_phase_presets_fill_what_a_stack_leaves_out():
    dev = parse_spec(base())
    assert (dev.gateway.instances.min, dev.gateway.instances.max) == (1, 2)
    assert dev.monitoring.enabled is False and dev.min_zones == 1
    staging = parse_spec(base(phase="staging"))
    assert (staging.service("users-api").instances.min, staging.service("users-api").instances.max) == (2, 4)
    assert staging.monitoring.enabled is True
    prod = parse_spec(base(phase="prod", load_balancer={"tls_certificate": "tls-secret"},
                           kubernetes={"exposure": "ingress", "host": "api.example.com"}))
    assert prod.gateway.instances.min == 3 and prod.service("users-api").instances.min == 2
    assert prod.min_zones == 2 and prod.load_balancer.http_to_https_redirect is True
    assert prod.monitoring.enabled is True


def test_explicit_values_win_over_presets():
    spec = parse_spec(with_service(instances={"min": 2, "max": 5}))
    assert (spec.service("users-api").instances.min, spec.service("users-api").instances.max) == (2, 5)


def test_routes_are_longest_prefix_first():
    raw = base()
    raw["services"]["users-admin"] = {"image": "traefik/whoami:v1.10.3", "path_prefix": "/users/admin"}
    assert [r.path_prefix for r in parse_spec(raw).routes] == ["/users/admin", "/payments", "/users"]


@pytest.mark.parametrize("stack", stack_names())
def test_shipped_stack_is_valid(stack):
    project = project_name()
    raw = project_keys(stack_config(stack), project)
    spec = parse_spec(copy.deepcopy(raw), project)
    assert spec.target == raw["target"] and spec.phase == raw["phase"]
    assert stack == f"{spec.target}-{spec.phase}", "stack names follow <target>-<phase>"


def test_pulumi_yaml_declares_every_key_the_spec_reads():
    from components.spec import top_level_keys
    from tools.offline import project_file

    declared = project_file()["config"]
    assert sorted(declared) == sorted(top_level_keys())
    for key, declaration in declared.items():
        assert declaration["description"], key
        assert "type" in declaration or declaration.get("default") == {}, key


def test_program_reads_engine_config_objects_and_keeps_odd_strings():
    import json

    from pulumi.runtime.config import set_all_config

    from infra.program import read_project_config

    set_all_config({"apigw:target": "kubernetes", "apigw:gateway": json.dumps({"port": 8080}),
                    "apigw:region": "{not json", "aws:region": "us-east-1"})
    try:
        assert read_project_config("apigw") == {"target": "kubernetes", "gateway": {"port": 8080},
                                                "region": "{not json"}
    finally:
        set_all_config({})
