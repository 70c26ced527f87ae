"""AWS: an optional domain in config, whose certificate the stack makes and validates in Route 53, with an
alias record to the ALB, instead of a pasted certificate ARN (issue 17, production addition 2)."""
from __future__ import annotations

import pytest

from components.spec import parse_spec
from components.validation import SpecError
from tests.conftest import variant_config
from tools import check
from tools.offline import project_keys, run_program

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")
CERT, RECORD = "aws:acm/certificate:Certificate", "aws:route53/record:Record"
VALIDATION, LISTENER = "aws:acm/certificateValidation:CertificateValidation", "aws:lb/listener:Listener"
ZONE_ID = "Z0123456789ABCDEFGHIJ"


def with_domain(config, zone="example.com", name="api.example.com"):
    config["apigw:aws"].update(domain=name, hosted_zone=zone)
    config["apigw:load_balancer"].pop("tls_certificate", None)


@pytest.fixture(scope="module")
def plan():
    return run_program("aws-prod", variant_config("aws-prod", with_domain))


def test_the_certificate_is_requested_for_the_domain_and_validated_in_its_zone(plan):
    assert plan.one(CERT, "apigw-domain-certificate").inputs == {
        "domainName": "api.example.com", "validationMethod": "DNS", "keyAlgorithm": "RSA_2048"}
    record = plan.one(RECORD, "apigw-domain-validation").inputs
    # The zone found by name (the mock's answer), and the record ACM asked for, word for word.
    assert (record["type"], record["ttl"], record["allowOverwrite"]) == ("CNAME", 60.0, True)
    assert record["name"].endswith(".api.example.com.") and record["records"][0].endswith(".acm-validations.aws.")
    validation = plan.one(VALIDATION, "apigw-domain-validation").inputs
    assert validation["validationRecordFqdns"] == [record["name"].rstrip(".")]


def test_the_https_listener_uses_the_validated_certificate(plan):
    certificate = plan.one(VALIDATION, "apigw-domain-validation").inputs["certificateArn"]
    https = plan.one(LISTENER, "apigw-lb-https")
    assert https.inputs["certificateArn"] == certificate
    # ... and waits for the validation (the certificate is usable only once issued).
    assert any(urn.endswith("::apigw-domain-validation") for urn in https.dependencies)
    assert plan.one(LISTENER, "apigw-lb-http").inputs["defaultActions"][0]["type"] == "redirect"


def test_the_domain_is_an_alias_of_the_load_balancer_in_the_same_zone(plan):
    alias = plan.one(RECORD, "apigw-domain-alias").inputs
    assert alias["name"] == "api.example.com" and alias["type"] == "A"
    assert alias["zoneId"] == plan.one(RECORD, "apigw-domain-validation").inputs["zoneId"]
    # The ALB's own DNS name and hosted zone, as the provider reports them (the mock's answer).
    assert alias["aliases"] == [{"name": "apigw-lb-alb-3452234621.us-east-1.elb.amazonaws.com",
                                 "zoneId": "Z35SXDOTRQ7X7K", "evaluateTargetHealth": True}]


def test_a_zone_id_is_used_as_it_is_and_the_policy_pack_passes():
    config = variant_config("aws-prod", lambda c: with_domain(c, zone=ZONE_ID))
    plan = run_program("aws-prod", config)
    assert {r.inputs["zoneId"] for r in plan.by_type(RECORD)} == {ZONE_ID}
    report = check.check_stack("aws-prod", config)
    assert (report.problems, report.mandatory) == ([], 0)


def problems(change) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(project_keys(variant_config("aws-prod", change)))
    return [str(p) for p in err.value.problems]


def test_domain_and_a_pasted_certificate_are_one_or_the_other():
    found = problems(lambda c: c["apigw:aws"].update(domain="api.example.com", hosted_zone="example.com"))
    assert found == ["load_balancer.tls_certificate: found 'arn:aws:acm:us-east-1:123456789012:certificate/"
                     "00000000-0000-0000-0000-000000000000'; allowed: unset with aws.domain: the stack makes and "
                     "validates the domain's certificate itself (one or the other)"]


def test_a_domain_needs_its_zone_and_must_be_in_it():
    assert problems(lambda c: (with_domain(c), c["apigw:aws"].pop("hosted_zone"))) == [
        "aws.hosted_zone: found None; allowed: set together with aws.domain: the stack writes the certificate's "
        "validation record and the alias into that zone"]
    assert problems(lambda c: with_domain(c, zone="example.org")) == [
        "aws.domain: found 'api.example.com'; allowed: a name in the hosted zone example.org (aws.hosted_zone)"]
    assert problems(lambda c: with_domain(c, name="API.example.com"))[0].startswith(
        "aws.domain: found 'API.example.com'; allowed: a lowercase DNS name such as api.example.com")
