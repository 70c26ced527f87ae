"""tools/preflight.py: with credentials, the stack's certificate, alarm topic and image-cache secret are looked
up before `pulumi up`, and a missing or unusable one is refused naming its key (issue 17, item 6). The AWS
answers are botocore's own stubs: no request leaves the machine."""
from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from tools import preflight

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
TOPIC = "arn:aws:sns:us-east-1:123456789012:apigw-prod-alarms"
SECRET = "ecr-pullthroughcache/docker-hub"


class StubbedAws:
    """One stubbed client per service; `answer` queues a response or an error code."""

    def __init__(self):
        session = boto3.Session(aws_access_key_id="AKIAOFFLINE", aws_secret_access_key="offline",
                                region_name="us-east-1")
        self.clients = {name: session.client(name) for name in ("acm", "sns", "secretsmanager")}
        self.stubs = {name: Stubber(client) for name, client in self.clients.items()}
        self.regions = set()

    def answer(self, service, operation, params, response=None, error=None):
        if error:
            self.stubs[service].add_client_error(operation, service_error_code=error, expected_params=params)
        else:
            self.stubs[service].add_response(operation, response, params)

    def __call__(self, service, region):
        self.regions.add(region)
        return self.clients[service]

    def __enter__(self):
        for stub in self.stubs.values():
            stub.activate()
        return self

    def __exit__(self, *exc):
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()
            stub.deactivate()


def ok_topic_and_secret(aws):
    aws.answer("sns", "get_topic_attributes", {"TopicArn": TOPIC}, {"Attributes": {}})
    aws.answer("secretsmanager", "describe_secret", {"SecretId": SECRET}, {"Name": SECRET})


def test_everything_found_passes_and_is_asked_in_the_stacks_region(capsys):
    with StubbedAws() as aws:
        aws.answer("acm", "describe_certificate", {"CertificateArn": CERT}, {"Certificate": {"Status": "ISSUED"}})
        ok_topic_and_secret(aws)
        assert preflight.main(["aws-prod"], client=aws) == 0
    assert aws.regions == {"us-east-1"}
    assert "the certificate, the alarm topic and the image cache's secrets exist" in capsys.readouterr().out


def test_a_certificate_still_pending_validation_is_refused_naming_the_key(capsys):
    with StubbedAws() as aws:
        aws.answer("acm", "describe_certificate", {"CertificateArn": CERT},
                   {"Certificate": {"Status": "PENDING_VALIDATION"}})
        ok_topic_and_secret(aws)
        assert preflight.main(["aws-prod"], client=aws) == 1
    assert capsys.readouterr().err == (
        f"preflight aws-prod: load_balancer.tls_certificate: {CERT} is PENDING_VALIDATION in ACM; the HTTPS listener "
        "needs an ISSUED certificate (finish its DNS validation, or name another)\n")


def test_the_shipped_placeholders_are_refused_each_with_its_key(capsys):
    with StubbedAws() as aws:
        aws.answer("acm", "describe_certificate", {"CertificateArn": CERT}, error="ResourceNotFoundException")
        aws.answer("sns", "get_topic_attributes", {"TopicArn": TOPIC}, error="NotFound")
        aws.answer("secretsmanager", "describe_secret", {"SecretId": SECRET}, error="ResourceNotFoundException")
        assert preflight.main(["aws-prod"], client=aws) == 1
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "load_balancer.tls_certificate", "monitoring.alarm_topic", "aws.image_cache_credentials.docker.io"]
    assert lines[1] == (f"preflight aws-prod: monitoring.alarm_topic: {TOPIC} cannot be read in SNS (NotFound); "
                        "create the topic and subscribe your on-call to it, or name an existing one")


def test_without_credentials_it_says_what_it_skipped(monkeypatch, capsys):
    monkeypatch.setattr(preflight, "_boto3_client", lambda: None)
    assert preflight.main(["aws-prod"]) == 0
    assert capsys.readouterr().out == ("preflight aws-prod: no AWS credentials; skipped the lookups of the "
                                       "certificate, the alarm topic and the image cache's secrets\n")


def test_dev_without_certificate_or_cache_asks_nothing():
    with StubbedAws() as aws:
        assert preflight.main(["aws-dev"], client=aws) == 0
    assert aws.regions == set()


def test_other_targets_and_unknown_stacks(capsys):
    assert preflight.main(["kubernetes-prod"], client=lambda *a: pytest.fail("no lookup")) == 0
    assert preflight.main(["no-such-stack"]) == 2
    assert "no stack file stacks/Pulumi.no-such-stack.yaml" in capsys.readouterr().err
