"""The offline check on resources from a real run: `pulumi stack export` and `pulumi preview --json`.

The samples in tests/fixtures/ have the shape those commands print: an export of a kubernetes-prod
stack whose gateway was scaled to one instance (with an encrypted secret in a ConfigMap), and a
preview of the aws-prod gateway path with the unknown ARNs a real preview carries.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from tools.check import UNKNOWN, CheckError, load_resources_json, main

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
EXPORT = FIXTURES / "kubernetes-prod-single-gateway.export.json"
PREVIEW = FIXTURES / "aws-prod-gateway.preview.json"


def test_export_is_read_with_parents_dependencies_and_secrets():
    resources, config, kind = load_resources_json(EXPORT)
    assert kind == "pulumi stack export" and config == {}
    by_name = {r.name: r for r in resources}
    assert by_name["apigw-kubernetes-prod"].type == "pulumi:pulumi:Stack"
    hpa = by_name["apigw-gateway-hpa"]
    assert hpa.properties["spec"]["minReplicas"] == 1 and hpa.parent.endswith("GatewayFleet::apigw-gateway")
    assert by_name["apigw-gateway-deployment"].urn in hpa.dependencies
    # An encrypted secret cannot be read offline: it travels as an unknown value.
    assert by_name["apigw-gateway-config"].properties["data"]["token"] == UNKNOWN


def test_export_of_a_single_gateway_fails_naming_rule_resource_and_value(capsys):
    assert main(["--resources-json", str(EXPORT), "--stack-config", "kubernetes-prod"]) == 1
    out = capsys.readouterr().out
    assert "apigw-gateway-hpa (kubernetes:autoscaling/v2:HorizontalPodAutoscaler)\n" \
           "  mandatory  prod-min-instances: spec.minReplicas is 1; prod needs at least 3 for the gateway fleet" in out
    assert "mandatory  prod-load-balanced-gateway: routes to apigw-gateway-deployment" in out
    # The export predates the mesh: its namespace injects none, which prod now refuses too.
    assert "mandatory  prod-service-mesh: metadata.labels" in out
    assert "kubernetes-prod: FAIL: 4 mandatory" in out and "from pulumi stack export" in out


def test_the_same_export_is_advisory_for_a_dev_stack_file(capsys):
    assert main(["--resources-json", str(EXPORT), "--stack-config",
                 str(REPO / "stacks" / "Pulumi.kubernetes-dev.yaml")]) == 0
    out = capsys.readouterr().out
    assert "mandatory" not in out.replace("0 mandatory", "") and "advisory   prod-min-instances" in out


def test_preview_json_carries_its_config_and_unknown_arns(capsys):
    resources, config, kind = load_resources_json(PREVIEW)
    assert kind == "pulumi preview --json" and config["apigw:phase"] == "prod"
    waf = next(r for r in resources if r.type == "aws:wafv2/webAclAssociation:WebAclAssociation")
    assert waf.properties["resourceArn"] == UNKNOWN and waf.property_dependencies["resourceArn"]
    assert main(["--resources-json", str(PREVIEW)]) == 0
    out = capsys.readouterr().out
    assert "aws-prod: pass: 0 mandatory" in out and "from pulumi preview --json" in out


def test_preview_without_its_waf_fails(tmp_path, capsys):
    data = json.loads(PREVIEW.read_text())
    data["steps"] = [s for s in data["steps"] if "webAclAssociation" not in s["newState"]["type"]]
    sample = tmp_path / "preview.json"
    sample.write_text(json.dumps(data))
    assert main(["--resources-json", str(sample)]) == 1
    assert "mandatory  security-waf: is internet-facing and no aws:wafv2/webAclAssociation:WebAclAssociation" \
        in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    ("{", "not valid JSON"),
    ('{"something": 1}', "expected the output of `pulumi preview --json`"),
    ('[{"type": "x"}]', "every resource needs a urn and a type"),
    ('[{"urn": "urn:pulumi:s::apigw::t::n", "type": "t", "inputs": [1]}]',
     "urn:pulumi:s::apigw::t::n: inputs is list; expected an object"),
    ('[{"urn": "urn:pulumi:s::apigw::t::n", "type": "t", "dependencies": "urn:x"}]',
     "dependencies is str; expected a list"),
    ('[{"urn": "urn:pulumi:s::apigw::t::n", "type": "t", "propertyDependencies": {"spec": "urn:x"}}]',
     "propertyDependencies.spec is str; expected a list of URNs"),
])
def test_malformed_json_is_refused(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CheckError, match=message):
        load_resources_json(path)


def test_export_without_a_stack_config_asks_for_one(capsys):
    assert main(["--resources-json", str(EXPORT)]) == 2
    assert "pass --stack-config" in capsys.readouterr().err


def test_cli_subprocess_reads_a_real_run(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tools.check", "--resources-json", str(EXPORT),
                             "--stack-config", "stacks/Pulumi.kubernetes-prod.yaml"], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 1 and "prod-min-instances" in result.stdout and not result.stderr.strip()


def test_a_config_without_the_phase_is_refused_not_taken_for_advisory(tmp_path, capsys):
    """Without `apigw:phase` every rule would default to advisory and a prod plan would pass unseen."""
    stack_file = tmp_path / "Pulumi.nophase.yaml"
    stack_file.write_text("config:\n  apigw:target: kubernetes\n")
    assert main(["--resources-json", str(EXPORT), "--stack-config", str(stack_file)]) == 2
    err = capsys.readouterr().err
    assert f"error: no apigw:phase in the config of {stack_file}" in err and "Traceback" not in err
    preview = json.loads(PREVIEW.read_text())
    preview["config"].pop("apigw:phase")
    sample = tmp_path / "preview.json"
    sample.write_text(json.dumps(preview))
    assert main(["--resources-json", str(sample)]) == 2
    assert "no apigw:phase in the config of" in capsys.readouterr().err
