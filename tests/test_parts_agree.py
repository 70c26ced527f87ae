"""Parts that must agree are derived from one source, and each join is tested here:
- the path every load balancer probes is a location every gateway answers itself;
- no service route claims the gateway's own path;
- nginx keeps idle connections longer than any load balancer in front of it;
- the aws gateway config fits its task definition, up to at least 200 services.
"""
from __future__ import annotations

import base64
import gzip
import re

import pytest

from components.aws.gateway import CONFIG_ENV, MAX_CONFIG_B64
from components.aws.options import MAX_IDLE_TIMEOUT_S
from components.gateway.nginx import KEEPALIVE_TIMEOUT_S
from components.spec import SpecError, parse_spec
from tests.conftest import variant_config
from tools.offline import project_keys, run_program, stack_config
from tools.plan import spec_problems

PROBE_PATH = "/ready"


def _with_health_path(stack: str, path: str) -> dict:
    def change(config):
        lb = config.setdefault("apigw:load_balancer", {})
        lb.setdefault("health_check", {})["path"] = path
    return variant_config(stack, change)


def _exact_locations(nginx_conf: str) -> set[str]:
    return set(re.findall(r"location = (\S+) \{\n\s+access_log off;", nginx_conf))


def _aws_gateway_conf(plan) -> str:
    task = next(r for r in plan.by_type("aws:ecs/taskDefinition:TaskDefinition") if r.name == "apigw-gateway-task")
    import json
    (container,) = json.loads(task.inputs["containerDefinitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    return gzip.decompress(base64.b64decode(env[CONFIG_ENV])).decode()


@pytest.mark.parametrize("path", ["/healthz", PROBE_PATH])
def test_aws_target_group_probes_a_path_the_gateway_serves(path):
    plan = run_program("aws-dev", _with_health_path("aws-dev", path))
    (target_group,) = plan.by_type("aws:lb/targetGroup:TargetGroup")
    probed = target_group.inputs["healthCheck"]["path"]
    assert probed == path and _exact_locations(_aws_gateway_conf(plan)) == {path}


@pytest.mark.parametrize("path", ["/healthz", PROBE_PATH])
def test_haproxy_probes_a_path_every_local_gateway_serves(path):
    plan = run_program("local-dev", _with_health_path("local-dev", path))
    processes = plan.by_type("pulumi-python:dynamic/local:Process")
    haproxy_cfg = next(f["content"] for p in processes if p.name == "apigw-lb-haproxy"
                       for f in p.inputs["files"] if f["path"].endswith(".cfg"))
    assert re.findall(r"option httpchk GET (\S+)", haproxy_cfg) == [path]
    gateways = [p for p in processes if p.inputs["role"] == "gateway"]
    assert len(gateways) == 2
    for gateway in gateways:
        conf = next(f["content"] for f in gateway.inputs["files"] if f["path"].endswith("nginx.conf"))
        assert _exact_locations(conf) == {path}
        assert gateway.inputs["health_url"].endswith(path)


@pytest.mark.parametrize("path", ["/healthz", PROBE_PATH])
def test_kubernetes_gateway_probes_hit_the_path_its_nginx_serves(path):
    plan = run_program("kubernetes-dev", _with_health_path("kubernetes-dev", path))
    conf = plan.one("kubernetes:core/v1:ConfigMap", "apigw-gateway-config").inputs["data"]["nginx.conf"]
    pod = plan.one("kubernetes:apps/v1:Deployment", "apigw-gateway-deployment").inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == path
    assert container["livenessProbe"]["httpGet"]["path"] == path
    assert _exact_locations(conf) == {path}


def _raw(stack: str) -> dict:
    return project_keys(stack_config(stack))


def test_a_service_prefix_equal_to_the_health_path_is_refused_with_the_rest():
    raw = _raw("kubernetes-dev")
    raw["services"]["users-api"]["path_prefix"] = "/healthz/"
    raw["phase"] = "qa"
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert [str(p) for p in err.value.problems] == [
        "phase: found 'qa'; allowed: one of dev, staging, prod",
        "services.users-api.path_prefix: found '/healthz/'; allowed: a prefix other than the gateway's "
        "health path '/healthz' (load_balancer.health_check.path)"]


def test_a_health_path_inside_a_service_prefix_is_refused():
    raw = _raw("aws-dev")
    raw["load_balancer"]["health_check"] = {"path": "/users/healthz"}
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert [str(p) for p in err.value.problems] == [
        "load_balancer.health_check.path: found '/users/healthz'; allowed: a path outside "
        "services.users-api.path_prefix '/users': the gateway answers it itself, so users-api would never see it"]


def test_a_root_prefix_service_leaves_the_health_path_to_the_gateway():
    raw = _raw("kubernetes-dev")
    raw["services"] = {"web": {**raw["services"]["users-api"], "path_prefix": "/"}}
    assert parse_spec(raw).gateway.health_check_path == "/healthz"


def test_the_colliding_stack_is_refused_by_make_plan_without_a_traceback():
    config = stack_config("aws-prod")
    config["apigw:services"]["users-api"]["path_prefix"] = "/healthz"
    assert spec_problems("aws-prod", config, "apigw") == [
        "apigw:services.users-api.path_prefix: found '/healthz'; allowed: a prefix other than the gateway's "
        "health path '/healthz' (load_balancer.health_check.path)"]


def test_nginx_outlives_the_longest_alb_idle_timeout():
    plan = run_program("aws-dev")
    conf = _aws_gateway_conf(plan)
    (keepalive,) = re.findall(r"^\s*keepalive_timeout (\d+)s;", conf, re.M)
    assert int(keepalive) == KEEPALIVE_TIMEOUT_S > MAX_IDLE_TIMEOUT_S
    raw = _raw("aws-dev")
    raw["aws"]["idle_timeout_s"] = MAX_IDLE_TIMEOUT_S
    assert parse_spec(raw).options.idle_timeout_s == MAX_IDLE_TIMEOUT_S
    raw["aws"]["idle_timeout_s"] = KEEPALIVE_TIMEOUT_S
    with pytest.raises(SpecError, match=rf"aws.idle_timeout_s: found {KEEPALIVE_TIMEOUT_S}; "
                                        rf"allowed: an integer from 1 to {MAX_IDLE_TIMEOUT_S}"):
        parse_spec(raw)


def _many_services(stack: str, count: int, name=lambda i: f"svc-{i:03d}", rule_quota: int = 1000) -> dict:
    config = stack_config(stack)
    template = config["apigw:services"]["users-api"]
    config["apigw:services"] = {name(i): {**template, "path_prefix": f"/v1/{name(i)}"} for i in range(count)}
    aws = config.setdefault("apigw:aws", {})
    for per_program in ("container_health_checks", "container_users"):
        aws.pop(per_program, None)
    # The gateway's security group has an egress rule per service: past AWS's default quota of 60
    # the account's quota must be raised, and the stack says so.
    aws["security_group_rule_quota"] = rule_quota
    return config


def test_past_the_default_security_group_rule_quota_the_stack_must_say_it_was_raised():
    assert spec_problems("aws-dev", _many_services("aws-dev", 59, rule_quota=60), "apigw") == []
    assert spec_problems("aws-dev", _many_services("aws-dev", 60, rule_quota=60), "apigw") == [
        "apigw:services: found '60 services'; allowed: at most 59 services: the gateway's security group needs "
        "61 egress rules and aws.security_group_rule_quota is 60 (raise the account's quota in Service Quotas, "
        "then this key)"]


def test_a_200_service_aws_stack_plans_and_its_config_fits():
    plan = run_program("aws-dev", _many_services("aws-dev", 200, rule_quota=250))
    conf = _aws_gateway_conf(plan)
    assert conf.count("upstream svc_svc_") == 200
    task = next(r for r in plan.by_type("aws:ecs/taskDefinition:TaskDefinition") if r.name == "apigw-gateway-task")
    assert len(task.inputs["containerDefinitions"]) < MAX_CONFIG_B64 + 4096


def test_an_aws_stack_whose_config_cannot_fit_is_refused_naming_the_limit():
    import hashlib
    # Names that do not compress: 990 services of random-looking 30-character names.
    config = _many_services("aws-dev", 990, name=lambda i: "s" + hashlib.sha256(str(i).encode()).hexdigest()[:29])
    (problem,) = spec_problems("aws-dev", config, "apigw")
    assert problem.startswith("apigw:services: found '990 services'; allowed: a gateway config that fits the "
                              "ECS task definition: 990 services give ")
    assert f"the limit is {MAX_CONFIG_B64} (fewer services or shorter names and paths)" in problem


def test_service_connect_lets_a_request_run_longer_than_the_gateway_waits(plan_of):
    """Between nginx and each service sits Service Connect's proxy (default: 15 s per request): it must not
    cut a request the gateway is still waiting for."""
    from components.gateway.nginx import PROXY_READ_TIMEOUT_S
    plan = plan_of("aws-prod")
    services = [s for s in plan.by_type("aws:ecs/service:Service") if s.inputs["serviceConnectConfiguration"].get(
        "services")]
    assert len(services) == 3
    for service in services:
        (entry,) = service.inputs["serviceConnectConfiguration"]["services"]
        assert entry["timeout"] == {"perRequestTimeoutSeconds": 35.0, "idleTimeoutSeconds": 300.0}
        assert entry["timeout"]["perRequestTimeoutSeconds"] > PROXY_READ_TIMEOUT_S
