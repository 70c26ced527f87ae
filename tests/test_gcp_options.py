"""The GCP rules of the spec, called directly (no Pulumi): each refusal names the key path, the value
found and what GCP allows; each phase gets its documented defaults."""
from __future__ import annotations

import copy

import pytest

from components.gcp.options import GcpNetwork, NodeRange
from components.spec import SpecError, parse_spec

CHANNEL = "projects/my-project/notificationChannels/123"


def raw(phase: str = "dev", gcp: dict | None = None, **top) -> dict:
    config: dict = {
        "target": "gcp", "phase": phase,
        "services": {"users-api": {"image": "traefik/whoami:v1.10.3", "port": 8080}},
        "load_balancer": {"tls_certificate": "api.example.com"} if phase == "prod" else {},
        "monitoring": {"alarm_topic": CHANNEL} if phase == "prod" else {},
        "gcp": {"project": "my-project", **(gcp or {})},
    }
    config.update(copy.deepcopy(top))
    return config


def problems(config: dict) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(config)
    return [str(p) for p in err.value.problems]


def options(config: dict):
    return parse_spec(config).options.gcp


def test_dev_is_zonal_with_one_to_three_nodes_and_no_armor():
    dev = options(raw("dev"))
    assert (dev.regional, dev.zone_count, dev.nodes_per_zone, dev.machine_type, dev.cloud_armor,
            dev.deletion_protection, dev.network, dev.neg_name) == (
        False, 1, NodeRange(1, 3), "e2-standard-2", False, False, GcpNetwork(), "apigw-dev-gateway")


def test_prod_is_regional_over_three_zones_with_armor_and_deletion_protection():
    prod = options(raw("prod"))
    assert (prod.regional, prod.zone_count, prod.nodes_per_zone, prod.cloud_armor, prod.deletion_protection,
            prod.rate_limit_per_minute) == (True, 3, NodeRange(1, 5), True, True, 6000)


@pytest.mark.parametrize("algorithm, policy", [("round_robin", "ROUND_ROBIN"),
                                               ("least_outstanding_requests", "LEAST_REQUEST"),
                                               ("random", "RANDOM"), ("source_ip_hash", "RING_HASH"),
                                               ("maglev", "MAGLEV")])
def test_each_gcp_locality_policy_has_a_spec_name(algorithm, policy):
    from components.gcp.options import LOCALITY_POLICIES
    assert parse_spec(raw("dev", load_balancer={"algorithm": algorithm})).load_balancer.algorithm == algorithm
    assert LOCALITY_POLICIES[algorithm] == policy


def test_another_algorithm_is_refused_naming_what_gcp_supports():
    assert problems(raw("dev", load_balancer={"algorithm": "least_connections"})) == [
        "load_balancer.algorithm: found 'least_connections'; allowed: one of round_robin, least_outstanding_requests, "
        "random, source_ip_hash, maglev on the gcp target with mesh none (the global external Application Load "
        "Balancer's locality policies: round_robin (ROUND_ROBIN), least_outstanding_requests (LEAST_REQUEST), random "
        "(RANDOM), source_ip_hash (RING_HASH), maglev (MAGLEV); with mesh istio or linkerd the algorithm applies "
        "inside the mesh)"]


@pytest.mark.parametrize("gcp, top, expected", [
    ({"project": "X"}, {}, "gcp.project: found 'X'; allowed: a GCP project id: 6-30 lowercase letters, digits and '-', "
                           "starting with a letter"),
    ({"pods_cidr": "10.10.0.0/16"}, {}, "gcp.pods_cidr: found '10.10.0.0/16'; allowed: a range apart from "
                                       "gcp.subnet_cidr 10.10.0.0/20"),
    ({"zones": ["us-east1-b"]}, {}, "gcp.zones: found ['us-east1-b']; allowed: zones of the stack's region "
                                    "europe-west1 (us-east1-b is not)"),
    ({"zones": ["europe-west1-b", "europe-west1-c"]}, {},
     "gcp.zones: found ['europe-west1-b', 'europe-west1-c']; allowed: one zone for a zonal cluster "
     "(gcp.regional: false)"),
    ({"network": "projects/host-project/global/networks/shared"}, {},
     "gcp.subnetwork: found None; allowed: an existing network and subnetwork are given both or neither"),
    ({"network": "projects/host-project/global/networks/shared",
      "subnetwork": "projects/host-project/regions/us-east1/subnetworks/gke"}, {},
     "gcp.subnetwork: found 'projects/host-project/regions/us-east1/subnetworks/gke'; allowed: a subnetwork of the "
     "stack's region europe-west1"),
    ({"release_channel": "EXTENDED"}, {}, "gcp.release_channel: found 'EXTENDED'; allowed: one of RAPID, REGULAR, "
                                          "STABLE"),
    ({}, {"load_balancer": {"health_check": {"matcher": "200-299"}}},
     'load_balancer.health_check.matcher: found \'200-299\'; allowed: "200" on the gcp target (GCP HTTP health checks '
     'accept only 200 as healthy)'),
    ({}, {"load_balancer": {"tls_certificate": "api-example-com-tls"}},
     "load_balancer.tls_certificate: found 'api-example-com-tls'; allowed: the domain name of a Google-managed "
     "certificate, such as api.example.com (its DNS must point at the stack's address)"),
    ({}, {"monitoring": {"alarm_topic": "arn:aws:sns:x"}},
     "monitoring.alarm_topic: found 'arn:aws:sns:x'; allowed: a notification channel: "
     "projects/<project>/notificationChannels/<id>"),
    ({}, {"labels": {"Team": "Platform"}},
     "labels.Team: found 'Platform'; allowed: a GCP label: key and value of lowercase letters, digits, '-' and '_', "
     "at most 63 characters (labels are also the GCP resources' labels)"),
    ({}, {"kubernetes": {"exposure": "ingress"}},
     "kubernetes.exposure: found 'ingress'; allowed: nothing on the gcp target: the load balancer reaches the "
     "gateway through a standalone NEG (see the gcp block)"),
])
def test_bad_gcp_values_name_the_key_and_what_gcp_allows(gcp, top, expected):
    assert expected in problems(raw("dev", gcp, **top))


def test_the_project_is_required():
    config = raw("dev")
    config["gcp"] = {}
    assert problems(config) == ["gcp.project: found None; allowed: the GCP project id (required), e.g. "
                                "my-platform-prod"]


def test_prod_keeps_cloud_armor_deletion_protection_and_a_channel():
    assert problems(raw("prod", {"cloud_armor": False, "deletion_protection": False}, monitoring={})) == [
        "monitoring.alarm_topic: found None; allowed: a notification channel: prod alerts must reach someone",
        "gcp.cloud_armor: found False; allowed: true in prod (the load balancer faces the internet)",
        "gcp.deletion_protection: found False; allowed: true in prod (the cluster runs prod)"]


def test_a_cloud_armor_limit_below_the_gateways_own_is_refused():
    assert problems(raw("prod", {"rate_limit_per_minute": 100})) == [
        "gcp.rate_limit_per_minute: found 100; allowed: at least 3000 "
        "(gateway.limits.requests_per_second 50 a minute): Cloud Armor would ban clients the gateway admits"]


def test_cloud_armor_values_outside_what_it_documents_are_refused():
    assert problems(raw("dev", {"rate_limit_per_minute": 20000, "ban_duration_s": 700})) == [
        "gcp.rate_limit_per_minute: found 20000; allowed: an integer from 1 to 10000",
        "gcp.ban_duration_s: found 700; allowed: one of Cloud Armor's durations: 60, 120, 180, 240, 300, 600, 900, "
        "1200, 1800, 2700, 3600"]


def test_bad_load_balancer_args_are_refused_before_anything_registers():
    from components.gcp.args import HealthCheckArgs, LoadBalancerArgs
    from tools.offline import capture
    refused = {}

    def program():
        from components.gcp.load_balancer import LoadBalancer
        with pytest.raises(ValueError) as err:
            LoadBalancer("lb", LoadBalancerArgs(project="p", name="lb", neg_name="neg", zones=["z"],
                                                health_check=HealthCheckArgs(interval_s=5, timeout_s=10),
                                                locality_lb_policy="LEAST_CONNECTIONS"))
        refused["message"] = str(err.value)

    assert capture(program).resources == []
    assert refused["message"] == ("LoadBalancerArgs: health_check.timeout_s: 10 is above interval_s 5; "
                                  "locality_lb_policy: 'LEAST_CONNECTIONS' is not one of ROUND_ROBIN, LEAST_REQUEST, "
                                  "RANDOM, RING_HASH, MAGLEV")
