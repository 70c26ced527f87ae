"""The Kubernetes workloads component built alone, from its typed Args, under mocks."""
from __future__ import annotations

import dataclasses

import pytest

from components.kubernetes.args import (
    BackendServiceArgs,
    ExposureArgs,
    GatewayArgs,
    IngressArgs,
    InstanceRange,
    PodSettings,
    ProbeArgs,
    ServiceArgs,
    WorkloadsArgs,
)
from tools.offline import capture

SERVICE = "kubernetes:core/v1:Service"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
GCP_HEALTH_CHECK_RANGES = ["35.191.0.0/16", "130.211.0.0/22"]


def workloads_args(**changes) -> WorkloadsArgs:
    args = WorkloadsArgs(
        namespace="shop",
        gateway=GatewayArgs(image="nginxinc/nginx-unprivileged:1.27.3-alpine", port=8080,
                            instances=InstanceRange(3, 6), cpu_millicores=250, memory_mib=128),
        services=[ServiceArgs(name="orders", image="ghcr.io/acme/orders:1.4.2", port=9000, path_prefix="/orders",
                              health_check_path="/livez", instances=InstanceRange(2, 4), cpu_millicores=100,
                              memory_mib=256, environment={"LOG_LEVEL": "info"})],
        probe=ProbeArgs(),
        part_of="shop",
    )
    return dataclasses.replace(args, **changes)


def build(args: WorkloadsArgs):
    from components.kubernetes.workloads import Workloads
    return capture(lambda: Workloads("shop", args))


def test_external_exposure_takes_the_callers_service_type_annotations_and_source_ranges():
    neg = '{"exposed_ports": {"80": {"name": "shop-gateway"}}}'
    plan = build(workloads_args(exposure=ExposureArgs(
        kind="external", service_annotations={"cloud.google.com/neg": neg}, source_cidrs=GCP_HEALTH_CHECK_RANGES)))
    service = plan.one(SERVICE, "shop-gateway-service").inputs
    assert service["spec"]["type"] == "ClusterIP"
    assert service["metadata"]["annotations"] == {"cloud.google.com/neg": neg}
    admit = plan.one(POLICY, "shop-network-allow-lb-to-gateway").inputs["spec"]["ingress"]
    assert admit == [{"from": [{"ipBlock": {"cidr": "35.191.0.0/16"}}, {"ipBlock": {"cidr": "130.211.0.0/22"}}],
                      "ports": [{"protocol": "TCP", "port": 8080}]}]
    assert plan.by_type(INGRESS) == []


def test_external_exposure_through_an_internal_load_balancer():
    internal = {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}
    plan = build(workloads_args(exposure=ExposureArgs(kind="external", service_type="LoadBalancer",
                                                      service_annotations=internal, source_cidrs=["10.1.0.0/24"])))
    service = plan.one(SERVICE, "shop-gateway-service").inputs
    assert (service["spec"]["type"], service["metadata"]["annotations"]) == ("LoadBalancer", internal)


def test_external_exposure_without_source_ranges_is_refused_before_anything_registers():
    plan_holder = {}

    def program():
        from components.kubernetes.workloads import Workloads
        with pytest.raises(ValueError, match="exposure external: source_cidrs must name the ranges"):
            Workloads("shop", workloads_args(exposure=ExposureArgs(kind="external")))
        plan_holder["ok"] = True

    plan = capture(program)
    assert plan_holder == {"ok": True} and plan.resources == []


def test_unknown_exposure_and_mesh_are_refused_naming_the_allowed_values():
    from components.kubernetes.workloads import check_args
    with pytest.raises(ValueError) as err:
        check_args(workloads_args(exposure=ExposureArgs(kind="nodeport"), mesh="consul"))
    assert str(err.value) == ("WorkloadsArgs: exposure.kind: 'nodeport' is not one of load_balancer, ingress, "
                              "external; mesh: 'consul' is not one of none, istio, linkerd")


def test_ingress_exposure_and_the_workloads_alias():
    plan = build(workloads_args(exposure=ExposureArgs(kind="ingress", ingress=IngressArgs(
        host="shop.example.com", tls_secret="shop-tls", https_redirect=True))))
    ingress = plan.one(INGRESS, "shop-gateway-ingress").inputs
    assert ingress["spec"]["tls"] == [{"secretName": "shop-tls", "hosts": ["shop.example.com"]}]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert plan.one(SERVICE, "shop-gateway-service").inputs["spec"]["type"] == "ClusterIP"
    (workloads,) = [r for r in plan.resources if r.type == "apigw:kubernetes:Workloads"]
    assert workloads.aliases == [{"type": "apigw:kubernetes:Platform"}]


def test_a_backend_service_alone_from_its_own_args():
    from components.kubernetes.service import BackendService
    pods = PodSettings(namespace="team-a", probe=ProbeArgs(interval_s=5, timeout_s=2), labels={"team": "a"},
                       spread_min_zones=3)
    service = ServiceArgs(name="search", image="ghcr.io/acme/search:2.0.1", port=7000, path_prefix="/search",
                          health_check_path="/ready", instances=InstanceRange(2, 9), cpu_millicores=500,
                          memory_mib=512)
    plan = capture(lambda: BackendService("search", BackendServiceArgs(service, pods)))
    deployment = plan.one("kubernetes:apps/v1:Deployment", "search-deployment").inputs
    assert deployment["metadata"] == {"name": "search", "namespace": "team-a", "labels": {
        "team": "a", "app": "search", "component": "service", "app.kubernetes.io/managed-by": "pulumi"}}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["readinessProbe"] == {
        "httpGet": {"path": "/ready", "port": 7000.0}, "periodSeconds": 5.0, "timeoutSeconds": 2.0,
        "successThreshold": 2.0, "failureThreshold": 3.0}
    assert pod["topologySpreadConstraints"][0]["minDomains"] == 3.0
    hpa = plan.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "search-hpa").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2.0, 9.0)
    assert plan.one(SERVICE, "search-service").inputs["metadata"]["namespace"] == "team-a"


def test_a_probe_that_outlasts_its_interval_is_refused():
    from components.kubernetes.workloads import check_args
    with pytest.raises(ValueError, match=r"probe.timeout_s: 10 is not less than interval_s \(10\)"):
        check_args(workloads_args(probe=ProbeArgs(interval_s=10, timeout_s=10)))


def test_network_policies_alone_from_their_args():
    from components.kubernetes.args import NetworkPoliciesArgs, PeerArgs
    from components.kubernetes.network import NetworkPolicies
    args = NetworkPoliciesArgs(namespace="shop", gateway_port=8080, service_ports={"orders": 9000, "stock": 9100},
                               exposure=ExposureArgs(kind="external", source_cidrs=["10.1.0.0/24"]),
                               dns=PeerArgs(cidrs=["169.254.20.10/32"]), labels={"team": "shop"})
    plan = capture(lambda: NetworkPolicies("shop-network", args))
    policies = {r.inputs["metadata"]["name"]: r.inputs for r in plan.by_type(POLICY)}
    assert sorted(policies) == ["allow-dns", "allow-gateway-to-orders", "allow-gateway-to-services",
                                "allow-gateway-to-stock", "allow-lb-to-gateway", "default-deny"]
    assert policies["allow-dns"]["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "169.254.20.10/32"}}]
    assert policies["allow-lb-to-gateway"]["spec"]["ingress"] == [
        {"from": [{"ipBlock": {"cidr": "10.1.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 8080}]}]
    assert policies["allow-gateway-to-stock"]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9100}]
    assert policies["default-deny"]["metadata"]["labels"]["team"] == "shop"


def test_monitoring_alone_from_its_args():
    from components.kubernetes.args import MonitoringArgs
    from components.kubernetes.monitoring import Monitoring
    args = MonitoringArgs(install_stack=False, watched_namespace="shop", apps=["gateway", "orders"], part_of="shop",
                          single_instance_severity="critical")
    plan = capture(lambda: Monitoring("shop-monitoring", args))
    assert plan.by_type("kubernetes:helm.sh/v3:Release") == []
    rule = plan.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "shop-monitoring-alerts").inputs
    assert rule["metadata"]["namespace"] == "shop"
    single = rule["spec"]["groups"][1]["rules"][1]
    assert single["expr"] == ('kube_deployment_status_replicas_available{namespace="shop", '
                              'deployment=~"gateway|orders"} < 2')
    assert single["labels"] == {"severity": "critical"}
