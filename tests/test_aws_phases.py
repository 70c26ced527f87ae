"""aws-dev and aws-staging under mocks, prod variants, stack outputs, ignore_changes, the mocks'
tokens and the gateway's boot command."""
from __future__ import annotations

import asyncio
import importlib
import json
import os
import pathlib
import shutil
import subprocess

import pulumi
import pytest

from components.aws.gateway import BOOT_COMMAND, CONFIG_ENV, CONFIG_PATH, encode_config
from components.spec import SpecError, parse_spec
from tests.conftest import variant_config
from tools import offline
from tools.mocks import aws as offline_mocks
from tools.offline import project_keys, run_program

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")

SERVICES = ("users-api", "locations-api", "payments-api")
PROGRAMS = ("gateway", *SERVICES)
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
ECS_SERVICE = "aws:ecs/service:Service"
SCALING_TARGET = "aws:appautoscaling/target:Target"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
TG_ARN = ("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/apigw-lb-gateway/de008e4e8fbedbee")


def names(plan, token):
    return sorted(r.name for r in plan.by_type(token))


# --- dev ------------------------------------------------------------------------------------------

def test_dev_serves_plain_http_on_80_only(plan_of):
    plan = plan_of("aws-dev")
    (listener,) = plan.by_type(LISTENER)
    assert listener.name == "apigw-lb-http"
    assert listener.inputs["defaultActions"] == [{"type": "forward", "targetGroupArn": TG_ARN}]
    assert [(r.inputs["fromPort"], r.inputs["cidrIpv4"]) for r in plan.by_type(INGRESS)
            if r.inputs["securityGroupId"] == "apigw-sg-alb-id"] == [(80.0, "0.0.0.0/0")]


def test_dev_is_one_task_per_program_in_one_zone_behind_one_nat(plan_of):
    plan = plan_of("aws-dev")
    for program in PROGRAMS:
        service = plan.one(ECS_SERVICE, f"apigw-{program}-service").inputs
        assert service["desiredCount"] == 1.0
        assert service["networkConfiguration"]["subnets"] == ["apigw-network-private-a-id"]
        assert service["networkConfiguration"]["assignPublicIp"] is False
        assert service["availabilityZoneRebalancing"] == "DISABLED"
        target = plan.one(SCALING_TARGET, f"apigw-{program}-scaling-target").inputs
        assert (target["minCapacity"], target["maxCapacity"]) == (1.0, 2.0)
    assert names(plan, "aws:ec2/natGateway:NatGateway") == ["apigw-network-nat-a"]
    for zone in ("a", "b"):  # both private subnets leave through zone a's NAT gateway
        route = plan.one("aws:ec2/route:Route", f"apigw-network-private-{zone}-default").inputs
        assert route["natGatewayId"] == "apigw-network-nat-a-id"


def test_dev_alb_still_spans_two_zones_and_opts_out_of_the_costly_extras(plan_of):
    plan = plan_of("aws-dev")
    alb = plan.one(LB, "apigw-lb-alb").inputs
    assert alb["subnets"] == ["apigw-network-public-a-id", "apigw-network-public-b-id"]
    assert alb["enableDeletionProtection"] is False and "accessLogs" not in alb
    for token in ("aws:wafv2/webAcl:WebAcl", "aws:wafv2/webAclAssociation:WebAclAssociation", "aws:s3/bucket:Bucket",
                  "aws:cloudwatch/dashboard:Dashboard", "aws:cloudwatch/metricAlarm:MetricAlarm"):
        assert plan.by_type(token) == [], token
    assert {r.inputs["retentionInDays"] for r in plan.by_type("aws:cloudwatch/logGroup:LogGroup")} == {7.0}


# --- staging --------------------------------------------------------------------------------------

def test_staging_has_https_with_redirect_and_two_tasks_per_program_over_two_zones(plan_of):
    plan = plan_of("aws-staging")
    assert names(plan, LISTENER) == ["apigw-lb-http", "apigw-lb-https"]
    assert plan.one(LISTENER, "apigw-lb-http").inputs["defaultActions"][0]["type"] == "redirect"
    for program in PROGRAMS:
        service = plan.one(ECS_SERVICE, f"apigw-{program}-service").inputs
        assert service["desiredCount"] == 2.0
        assert service["networkConfiguration"]["subnets"] == ["apigw-network-private-a-id",
                                                              "apigw-network-private-b-id"]
    assert names(plan, "aws:ec2/natGateway:NatGateway") == ["apigw-network-nat-a"]
    assert plan.one("aws:lb/targetGroup:TargetGroup", "apigw-lb-gateway").inputs["loadBalancingAlgorithmType"] == \
        "least_outstanding_requests"


def test_staging_alarms_exist_without_a_topic_to_notify(plan_of):
    alarms = plan_of("aws-staging").by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    # 3 on the gateway's targets, the load balancer's own 5xx, healthy gateway targets below the minimum and in
    # each of the 2 zones, one minimum per program (gateway and 3 services), each service's 5xx, the imbalance.
    assert len(alarms) == 15
    assert all(a.inputs["alarmActions"] == [] and a.inputs["okActions"] == [] for a in alarms)


# --- prod variants --------------------------------------------------------------------------------

def _every_min(value):
    def change(config):
        config["apigw:gateway"]["instances"]["min"] = value
        for service in config["apigw:services"].values():
            service["instances"]["min"] = value
    return change


def test_single_host_variant_is_refused_with_one_task_per_zone_asked_for():
    """Presets never silently fix a prod stack: on aws the spec refuses fewer tasks than zones, naming each key
    (the policy pack's own floor is tests/test_aws_policy.py's)."""
    with pytest.raises(SpecError) as err:
        parse_spec(project_keys(variant_config("aws-prod", _every_min(1))))
    assert [str(p) for p in err.value.problems] == [
        f"{path}.instances.min: found 1; allowed: at least 3 in prod: one task in each of the 3 zones (aws.zones), so "
        "one zone's outage leaves every program running"
        for path in ("gateway", *(f"services.{s}" for s in sorted(SERVICES)))]


def test_prod_uses_every_zone_of_a_two_zone_region():
    def change(config):
        config["apigw:region"] = "us-west-1"
        for key, value in (("apigw:load_balancer", "tls_certificate"), ("apigw:monitoring", "alarm_topic")):
            config[key][value] = config[key][value].replace("us-east-1", "us-west-1")
    plan = run_program("aws-prod-us-west-1", variant_config("aws-prod", change))
    assert names(plan, "aws:ec2/subnet:Subnet") == [f"apigw-network-{tier}-{z}" for tier in ("private", "public")
                                                     for z in ("b", "c")]
    assert plan.one("aws:ec2/subnet:Subnet", "apigw-network-private-b").inputs["availabilityZone"] == "us-west-1b"
    assert names(plan, "aws:ec2/natGateway:NatGateway") == ["apigw-network-nat-b", "apigw-network-nat-c"]
    # us-west-1 predates August 2022: its ALB logs come from the regional ELB account.
    policy = json.loads(plan.one("aws:s3/bucketPolicy:BucketPolicy", "apigw-access-logs-policy").inputs["policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": offline_mocks.ELB_ACCOUNT_ARN}


def test_newer_regions_grant_log_delivery_to_the_service_principal():
    def change(config):
        config["apigw:region"] = "eu-south-2"
        for key, value in (("apigw:load_balancer", "tls_certificate"), ("apigw:monitoring", "alarm_topic")):
            config[key][value] = config[key][value].replace("us-east-1", "eu-south-2")
    plan = run_program("aws-prod-eu-south-2", variant_config("aws-prod", change))
    policy = json.loads(plan.one("aws:s3/bucketPolicy:BucketPolicy", "apigw-access-logs-policy").inputs["policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    assert plan.one("aws:ec2/subnet:Subnet", "apigw-network-private-a").inputs["availabilityZone"] == "eu-south-2a"


def test_an_existing_access_log_bucket_is_used_as_is():
    def change(config):
        config["apigw:aws"]["access_logs_bucket"] = "corp-alb-logs"
    plan = run_program("aws-prod-bucket", variant_config("aws-prod", change))
    assert plan.one(LB, "apigw-lb-alb").inputs["accessLogs"] == {"enabled": True, "bucket": "corp-alb-logs",
                                                                 "prefix": "alb"}
    assert plan.by_type("aws:s3/bucket:Bucket") == []


# --- outputs and ignore_changes (one instrumented run each) ---------------------------------------

def _instrumented_run(stack, monkeypatch):
    exported = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: exported.__setitem__(name, value))
    plan = run_program(stack)
    ignored = {(r.type, r.name): r.ignore_changes for r in plan.resources}
    loop = asyncio.get_event_loop()
    outputs = {k: loop.run_until_complete(v.future()) if isinstance(v, pulumi.Output) else v
               for k, v in exported.items()}
    return plan, outputs, ignored


def test_prod_outputs_and_desired_count_left_to_autoscaling(monkeypatch):
    _, outputs, ignored = _instrumented_run("aws-prod", monkeypatch)
    dns = outputs["load_balancer_dns_name"]
    assert dns.startswith("apigw-lb-alb-") and dns.endswith(".us-east-1.elb.amazonaws.com")
    assert outputs == {
        "load_balancer_dns_name": dns, "url": f"https://{dns}",
        "dashboard_url": "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
                         "#dashboards/dashboard/apigw-aws-prod",
        "cluster": "apigw-cluster-ecs", "service_connect_namespace": "apigw-prod"}
    for program in PROGRAMS:
        assert ignored[(ECS_SERVICE, f"apigw-{program}-service")] == ["desiredCount"]


def test_dev_outputs_say_it_serves_plain_http(monkeypatch):
    _, outputs, _ = _instrumented_run("aws-dev", monkeypatch)
    assert outputs["url"] == f"http://{outputs['load_balancer_dns_name']}"
    assert outputs["warning"] == "serves plain HTTP: no load_balancer.tls_certificate (fine for dev only)"
    assert "dashboard_url" not in outputs


# --- the fakes match the SDK; the boot command works in a real shell ------------------------------

def _sdk_tokens() -> set[str]:
    root = pathlib.Path(importlib.import_module("pulumi_aws").__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        text = path.read_text(errors="ignore")
        for token in [*offline_mocks.MOCK_OUTPUTS, *offline_mocks.MOCK_CALLS]:
            if f"'{token}'" in text:
                found.add(token)
    return found


def test_every_mocked_token_exists_in_the_installed_sdk():
    tokens = {t for t in [*offline_mocks.MOCK_OUTPUTS, *offline_mocks.MOCK_CALLS] if t.startswith("aws:")}
    assert tokens - _sdk_tokens() == set()


@pytest.mark.parametrize("toolbox", ["system", "busybox"])
def test_boot_command_decodes_the_config_and_execs_nginx(tmp_path, toolbox):
    """The command runs under /bin/sh with the image's base64 and gunzip; the alpine images get
    theirs from busybox, so the command also runs with busybox's applets only."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "nginx").write_text('#!/bin/sh\necho "nginx $*"\n')
    (fake_bin / "nginx").chmod(0o755)
    shell = ["/bin/sh", "-c"]
    path = f"{fake_bin}:{os.environ['PATH']}"
    if toolbox == "busybox":
        busybox = shutil.which("busybox")
        if busybox is None:
            pytest.skip("busybox is not installed (.ci/run installs it)")
        for applet in ("sh", "base64", "gunzip", "printf"):
            (fake_bin / applet).symlink_to(busybox)
        shell, path = [str(fake_bin / "sh"), "-c"], str(fake_bin)
    config = "events {}\nhttp { server { listen 8080; } }\n" * 50
    target = tmp_path / "nginx.conf"
    command = BOOT_COMMAND.replace(CONFIG_PATH, str(target))
    result = subprocess.run([*shell, command], capture_output=True, text=True, check=True,
                            env={"PATH": path, CONFIG_ENV: encode_config(config)})
    assert target.read_text() == config
    assert result.stdout.strip() == f"nginx -c {target} -g daemon off;"


def test_data_sources_use_the_stacks_provider(monkeypatch):
    """So the zones, account, ELB account and the image cache's secret are looked up in the spec's region."""
    seen = []
    for token, answer in list(offline.MOCK_CALLS.items()):
        if token.startswith("aws:"):
            monkeypatch.setitem(offline.MOCK_CALLS, token,
                                lambda args, answer=answer: (seen.append((args.token, args.provider)), answer(args))[1])
    run_program("aws-prod")
    assert sorted(token for token, _ in seen) == ["aws:ec2/getVpcEndpointService:getVpcEndpointService"] * 4 + [
                                                  "aws:elb/getServiceAccount:getServiceAccount",
                                                  "aws:index/getAvailabilityZones:getAvailabilityZones",
                                                  "aws:index/getCallerIdentity:getCallerIdentity",
                                                  "aws:secretsmanager/getSecret:getSecret"]
    assert {provider.split("::")[-2] for _, provider in seen} == {"apigw-aws"}


def test_target_group_takes_slow_start_and_deregistration_delay_from_config():
    def change(config):
        config["apigw:aws"].update({"slow_start_s": 60, "deregistration_delay_s": 120})
        config["apigw:load_balancer"]["algorithm"] = "round_robin"
    plan = run_program("aws-dev-slow-start", variant_config("aws-dev", change))
    group = plan.one("aws:lb/targetGroup:TargetGroup", "apigw-lb-gateway").inputs
    assert (group["loadBalancingAlgorithmType"], group["slowStart"], group["deregistrationDelay"]) == \
        ("round_robin", 60.0, 120.0)
