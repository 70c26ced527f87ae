"""The package other Pulumi languages see: its schema, generated offline by the SDK's component
provider (the same text `pulumi package add` receives), and a construct as the host performs it."""
from __future__ import annotations

import json

import pytest
from pulumi.provider.experimental.component import ComponentProvider

from components.kubernetes.args import ExposureArgs, ProbeArgs
from components.multilang import COMPONENTS, PACKAGE, VERSION, from_wire
from tools.offline import capture


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(ComponentProvider(COMPONENTS, PACKAGE, None, VERSION).schema)


def test_the_package_serves_each_main_component(schema):
    assert (schema["name"], schema["version"]) == ("apigw", "0.1.0")
    assert sorted(schema["resources"]) == sorted(f"apigw:index:{c.__name__}" for c in COMPONENTS)
    assert all(resource["isComponent"] for resource in schema["resources"].values())


def test_workloads_inputs_outputs_and_what_is_required(schema):
    workloads = schema["resources"]["apigw:index:KubernetesWorkloads"]
    assert sorted(workloads["requiredInputs"]) == ["gateway", "namespace", "probe", "services"]
    assert sorted(workloads["inputProperties"]) == sorted([
        "namespace", "gateway", "services", "probe", "algorithm", "exposure", "mesh", "networkPolicies", "dns",
        "dnsService",
        "spreadMinZones", "hpaCpuUtilizationPercent", "partOf", "labels", "monitoring", "meshControlPlane"])
    assert workloads["inputProperties"]["meshControlPlane"]["$ref"] == "#/types/apigw:index:MeshArgs"
    services = workloads["inputProperties"]["services"]
    assert (services["type"], services["items"]["$ref"]) == ("array", "#/types/apigw:index:ServiceArgs")
    assert services["description"] == "The backend services, each routed by its path prefix."
    assert workloads["inputProperties"]["mesh"]["description"].startswith("none, istio or linkerd")
    assert workloads["properties"] == {
        "namespaceName": {"description": "The namespace the workloads run in.", "type": "string"},
        "gatewayServiceName": {"description": "The gateway fleet's Service: what a load balancer outside "
                                              "the cluster targets.", "type": "string"}}


def test_nested_types_keep_units_descriptions_and_defaults_optional(schema):
    service = schema["types"]["apigw:index:ServiceArgs"]
    assert sorted(service["required"]) == ["cpuMillicores", "healthCheckPath", "image", "instances",
                                           "memoryMib", "name", "pathPrefix", "port"]
    assert service["properties"]["memoryMib"] == {"description": "Memory request and limit.",
                                                  "type": "integer", "plain": True}
    assert "required" not in schema["types"]["apigw:index:ProbeArgs"]  # every field has a default
    exposure = schema["types"]["apigw:index:ExposureArgs"]["properties"]
    assert exposure["serviceAnnotations"]["type"] == "object"
    assert exposure["sourceCidrs"]["type"] == "array" and exposure["sourceCidrs"]["items"]["type"] == "string"
    assert exposure["sourceCidrs"]["description"].startswith("With network policies: the address ranges")


def test_gateway_fleet_inputs_and_outputs(schema):
    fleet = schema["resources"]["apigw:index:GatewayFleet"]
    assert sorted(fleet["requiredInputs"]) == ["gateway", "pods", "routes", "upstreams"]
    assert sorted(fleet["properties"]) == ["configChecksum", "serviceName"]


def test_from_wire_rebuilds_the_dataclasses_and_integers():
    exposure = from_wire(ExposureArgs, {"kind": "external", "source_cidrs": ["10.0.0.0/8"],
                                         "ingress": None, "service_annotations": {"a": "b"}})
    assert exposure == ExposureArgs(kind="external", source_cidrs=["10.0.0.0/8"], service_annotations={"a": "b"})
    assert from_wire(ProbeArgs, {"interval_s": 5.0}) == ProbeArgs(interval_s=5)
    assert isinstance(from_wire(ProbeArgs, {"interval_s": 5.0}).interval_s, int)


def test_construct_as_the_host_does_it_from_camel_case_wire_inputs():
    provider = ComponentProvider(COMPONENTS, PACKAGE, None, VERSION)
    inputs = {
        "namespace": "shop",
        "gateway": {"image": "nginxinc/nginx-unprivileged:1.27.3-alpine", "port": 8080.0,
                    "instances": {"min": 2.0, "max": 4.0}, "cpuMillicores": 250.0, "memoryMib": 128.0},
        "services": [{"name": "orders", "image": "ghcr.io/acme/orders:1.4.2", "port": 9000.0,
                      "pathPrefix": "/orders", "healthCheckPath": "/livez", "instances": {"min": 2.0, "max": 3.0},
                      "cpuMillicores": 100.0, "memoryMib": 256.0}],
        "probe": {"intervalS": 5.0, "timeoutS": 2.0},
    }
    results = []
    plan = capture(lambda: results.append(provider.construct("shop", "apigw:index:KubernetesWorkloads", inputs)))
    assert sorted(results[0].state) == ["gatewayServiceName", "namespaceName"]
    hpa = plan.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "shop-orders-hpa").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2.0, 3.0)
    probe = plan.one("kubernetes:apps/v1:Deployment", "shop-orders-deployment").inputs[
        "spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["httpGet"]["path"]) == (5.0, 2.0, "/livez")
    assert plan.one("kubernetes:core/v1:Service", "shop-gateway-service").inputs["spec"]["type"] == "LoadBalancer"
    assert {r.type for r in plan.resources if not r.custom} >= {"apigw:index:KubernetesWorkloads"}


def test_the_plugin_folder_starts_as_the_cli_starts_it_and_answers_get_schema(schema):
    """`python provider <engine>` prints its port; GetSchema over gRPC returns the same schema."""
    import pathlib
    import subprocess
    import sys

    import grpc
    from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

    plugin = pathlib.Path(__file__).resolve().parents[1] / "provider"
    assert (plugin / "PulumiPlugin.yaml").read_text().count("runtime: python") == 1
    process = subprocess.Popen([sys.executable, str(plugin), "127.0.0.1:1"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd="/")
    try:
        port = int(process.stdout.readline().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = provider_pb2_grpc.ResourceProviderStub(channel).GetSchema(
                provider_pb2.GetSchemaRequest(version=0), timeout=30)
        assert json.loads(reply.schema) == schema
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_aws_load_balancer_inputs_outputs_and_safe_defaults(schema):
    balancer = schema["resources"]["apigw:index:AwsLoadBalancer"]
    assert sorted(balancer["requiredInputs"]) == ["securityGroupId", "subnetIds", "targetPort", "vpcId"]
    assert sorted(balancer["properties"]) == ["dnsName", "loadBalancerArn", "targetGroupArn", "url"]
    assert "plain" not in balancer["inputProperties"]["vpcId"]  # another resource's output may go there
    assert balancer["inputProperties"]["deletionProtection"]["type"] == "boolean"
    assert schema["types"]["apigw:index:HealthCheckArgs"]["properties"]["path"]["type"] == "string"


def test_aws_load_balancer_constructs_with_its_safe_defaults():
    provider = ComponentProvider(COMPONENTS, PACKAGE, None, VERSION)
    inputs = {"vpcId": "vpc-0abc", "subnetIds": ["subnet-a", "subnet-b"], "securityGroupId": "sg-0abc",
              "targetPort": 8080.0, "tlsCertificateArn":
                  "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-0123456789ab"}
    results = []
    plan = capture(lambda: results.append(provider.construct("edge", "apigw:index:AwsLoadBalancer", inputs)))
    assert sorted(results[0].state) == ["dnsName", "loadBalancerArn", "targetGroupArn", "url"]
    alb = plan.one("aws:lb/loadBalancer:LoadBalancer", "edge-alb").inputs
    assert (alb["enableDeletionProtection"], alb["idleTimeout"]) == (True, 60.0)
    http = plan.one("aws:lb/listener:Listener", "edge-http").inputs["defaultActions"]
    assert http == [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}]
    health = plan.one("aws:lb/targetGroup:TargetGroup", "edge-gateway").inputs["healthCheck"]
    assert (health["path"], health["port"], health["matcher"]) == ("/healthz", "traffic-port", "200")
