"""The Azure rules of the spec, called directly (no Pulumi): each refusal names the key path, the
value found and what Azure allows; each phase gets its documented defaults; nothing is registered
when a stack is refused."""
from __future__ import annotations

import copy

import pytest

from components.azure.options import AzureNetwork, AzureOptions, NodeRange
from components.spec import SpecError, parse_spec
from tools.offline import capture, stack_config

VAULT = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/shared/providers/"
         "Microsoft.KeyVault/vaults/certs")
SECRET = "https://certs.vault.azure.net/secrets/api-example-com"
ACTION_GROUP = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/shared/providers/"
                "microsoft.insights/actionGroups/oncall")
SUBNET = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/network/providers/Microsoft.Network/"
          "virtualNetworks/hub/subnets/{}")


def raw(phase: str = "dev", azure: dict | None = None, **top) -> dict:
    """A valid azure stack's config for `phase`, with `azure` as its azure block and `top` overriding keys."""
    config: dict = {
        "target": "azure", "phase": phase,
        "services": {"users-api": {"image": "traefik/whoami:v1.10.3", "port": 8080}},
        "load_balancer": {"tls_certificate": SECRET} if phase == "prod" else {},
        "monitoring": {"alarm_topic": ACTION_GROUP} if phase == "prod" else {},
        "azure": {"key_vault_id": VAULT} if phase == "prod" else {},
    }
    if azure is not None:
        config["azure"] = {**config["azure"], **azure}
    config.update(copy.deepcopy(top))
    return config


def problems(config: dict) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(config)
    return [str(p) for p in err.value.problems]


def options(config: dict) -> AzureOptions:
    return parse_spec(config).options.azure


# --- accepted, and the per-phase defaults ----------------------------------------------------

def test_dev_defaults_one_workload_node_no_zones_no_waf_no_locks():
    assert options(raw("dev")) == AzureOptions(
        resource_group="apigw-dev", zones=(), system_nodes=NodeRange(1, 1), user_nodes=NodeRange(1, 3),
        app_gateway_capacity=NodeRange(1, 2), waf=False, lock=False, log_retention_days=30, dns_label="apigw-dev",
        gateway_private_ip="10.224.31.254", waf_rate_limit_per_minute=6000)


def test_prod_defaults_zones_one_to_three_three_nodes_per_pool_waf_and_locks():
    prod = options(raw("prod"))
    assert (prod.zones, prod.system_nodes, prod.user_nodes, prod.app_gateway_capacity, prod.waf, prod.waf_mode,
            prod.lock, prod.log_retention_days) == (("1", "2", "3"), NodeRange(3, 5), NodeRange(3, 10),
                                                    NodeRange(2, 10), True, "Prevention", True, 90)
    # The WAF's per-client limit is twice the gateway's own (50 r/s in prod), so the gateway's JSON 429 comes first.
    assert prod.waf_rate_limit_per_minute == 6000


def test_existing_subnets_are_used_with_their_ranges():
    given = options(raw("dev", {"application_gateway_subnet_id": SUBNET.format("appgw"),
                                "aks_subnet_id": SUBNET.format("aks"), "application_gateway_subnet_cidr": "10.1.0.0/24",
                                "aks_subnet_cidr": "10.1.16.0/20", "gateway_private_ip": "10.1.16.100"}))
    assert given.network == AzureNetwork(None, "10.1.0.0/24", "10.1.16.0/20", SUBNET.format("appgw"),
                                         SUBNET.format("aks"))
    assert given.gateway_private_ip == "10.1.16.100"


# --- refusals ---------------------------------------------------------------------------------

def test_another_algorithm_is_refused_without_a_mesh_and_the_message_says_where_it_applies():
    assert problems(raw("dev", load_balancer={"algorithm": "least_connections"})) == [
        "load_balancer.algorithm: found 'least_connections'; allowed: one of round_robin on the azure target with "
        "mesh none (Application Gateway balances round robin only; with mesh istio or linkerd the algorithm applies "
        "inside the mesh, between the gateway and the services)"]
    assert parse_spec(raw("dev", mesh="istio", load_balancer={"algorithm": "least_connections"})).load_balancer \
        .algorithm == "least_connections"


def test_exposure_keys_of_the_kubernetes_block_are_refused():
    assert problems(raw("dev", kubernetes={"exposure": "ingress", "host": "api.example.com"})) == [
        "kubernetes.exposure: found 'ingress'; allowed: nothing on the azure target: the Application Gateway reaches "
        "the gateway through an internal load balancer (see the azure block)",
        "kubernetes.host: found 'api.example.com'; allowed: nothing on the azure target: the Application Gateway "
        "reaches the gateway through an internal load balancer (see the azure block)"]


def test_the_local_command_key_is_refused():
    config = raw("dev")
    config["services"]["users-api"]["command"] = "./serve --port {port}"
    assert problems(config) == ["services.users-api.command: found './serve --port {port}'; allowed: nothing on the "
                                "azure target, which does not honour it: Kubernetes runs the image's own command; "
                                "`command` is for the local target"]


def test_the_gateway_address_must_be_a_usable_address_of_the_aks_subnet():
    assert problems(raw("dev", {"gateway_private_ip": "10.224.16.3"})) == [
        "azure.gateway_private_ip: found '10.224.16.3'; allowed: an address of the AKS subnet 10.224.16.0/20 that "
        "Azure does not reserve: 10.224.16.4 to 10.224.31.254"]
    assert problems(raw("dev", {"gateway_private_ip": "10.224.0.10"}))[0].startswith(
        "azure.gateway_private_ip: found '10.224.0.10'")


@pytest.mark.parametrize("azure, expected", [
    ({"aks_subnet_cidr": "10.224.0.0/20"},
     "azure.aks_subnet_cidr: found '10.224.0.0/20'; allowed: a range apart from the Application Gateway's subnet "
     "10.224.0.0/24"),
    ({"application_gateway_subnet_cidr": "10.99.0.0/24"},
     "azure.application_gateway_subnet_cidr: found '10.99.0.0/24'; allowed: a range inside azure.vnet_cidr "
     "10.224.0.0/16"),
    ({"application_gateway_subnet_cidr": "10.224.0.0/28", "app_gateway_capacity": {"min": 1, "max": 20}},
     "azure.app_gateway_capacity.max: found 20; allowed: at most 11: the Application Gateway subnet 10.224.0.0/28 has "
     "11 usable addresses, one per instance (or a larger azure.application_gateway_subnet_cidr; /24 recommended)"),
    ({"service_cidr": "10.224.0.0/16", "dns_service_ip": "10.224.0.10"},
     "azure.service_cidr: found '10.224.0.0/16'; allowed: a range apart from azure.vnet_cidr 10.224.0.0/16 (AKS "
     "refuses overlapping ranges)"),
    ({"dns_service_ip": "10.1.0.10"},
     "azure.dns_service_ip: found '10.1.0.10'; allowed: an address inside azure.service_cidr 10.0.0.0/16, not its "
     "first (e.g. 10.0.0.10)"),
    ({"aks_subnet_id": SUBNET.format("aks")},
     "azure.application_gateway_subnet_id: found None; allowed: a subnet id too: existing subnets are given both or "
     "neither"),
    ({"zones": ["1", "4"]},
     "azure.zones: found ['1', '4']; allowed: distinct zones from \"1\", \"2\", \"3\" (quoted), or [] for no zones "
     "(quote numbers, booleans and dates in YAML)"),
    ({"kubernetes_version": "latest"},
     "azure.kubernetes_version: found 'latest'; allowed: a Kubernetes version AKS offers, \"1.33\" or \"1.33.2\" "
     "(quoted)"),
    ({"app_gateway_capacity": {"min": 0, "max": 1}},
     "azure.app_gateway_capacity.max: found 1; allowed: an integer from 2 to 125"),
    ({"kubelogin_mode": "browser"},
     "azure.kubelogin_mode: found 'browser'; allowed: one of azurecli, workloadidentity, devicecode"),
    ({"resource_grup": "x"},
     None),
])
def test_bad_azure_values_name_the_key_and_what_azure_allows(azure, expected):
    found = problems(raw("dev", azure))
    if expected is None:  # an unknown key: refused with the known ones listed
        assert len(found) == 1 and found[0].startswith("azure.resource_grup: found 'x'; allowed: known keys: "
                                                       "resource_group, network,")
    else:
        assert expected in found


def test_existing_subnets_need_their_ranges_and_refuse_a_vnet_range():
    found = problems({**raw("dev", {"application_gateway_subnet_id": SUBNET.format("appgw"),
                                    "aks_subnet_id": SUBNET.format("aks"), "vnet_cidr": "10.9.0.0/16"})})
    assert found == [
        "azure.vnet_cidr: found '10.9.0.0/16'; allowed: nothing with existing subnets (the stack creates no network)",
        "azure.application_gateway_subnet_cidr: found None; allowed: the existing subnet's address range (the "
        "NetworkPolicy and the gateway's private IP are checked against it)",
        "azure.aks_subnet_cidr: found None; allowed: the existing subnet's address range (the NetworkPolicy and the "
        "gateway's private IP are checked against it)"]


def test_a_probe_may_count_other_codes_as_healthy():
    """Application Gateway takes custom match codes (e.g. 401 for an endpoint behind authentication)."""
    spec = parse_spec(raw("dev", load_balancer={"health_check": {"matcher": "200-299,401"}}))
    assert spec.load_balancer.health_check.matcher == "200-299,401"


def test_certificate_must_be_a_key_vault_secret_of_the_named_vault():
    assert problems(raw("prod", load_balancer={"tls_certificate": "arn:aws:acm:x"})) == [
        "load_balancer.tls_certificate: found 'arn:aws:acm:x'; allowed: a Key Vault secret id: "
        "https://<vault>.vault.azure.net/secrets/<name> (without a version, so renewals roll out)"]
    other = VAULT.replace("vaults/certs", "vaults/other")
    assert problems(raw("prod", {"key_vault_id": other})) == [
        f"azure.key_vault_id: found '{other}'; allowed: the id of vault certs, which load_balancer.tls_certificate "
        "names"]
    assert problems(raw("staging", load_balancer={"tls_certificate": SECRET})) == [
        "azure.key_vault_id: found None; allowed: the resource id of Key Vault certs: the Application Gateway's "
        "identity is granted read access to its secrets there"]


def test_prod_keeps_the_waf_in_prevention_the_locks_and_an_action_group():
    assert problems(raw("prod", {"waf": False, "lock": False}, monitoring={})) == [
        "monitoring.alarm_topic: found None; allowed: an action group resource id: prod alerts must reach someone",
        "azure.waf: found False; allowed: true in prod (the Application Gateway faces the internet)",
        "azure.lock: found False; allowed: true in prod (the Application Gateway and its address are the platform's "
        "front door)"]
    assert problems(raw("prod", {"waf_mode": "Detection"})) == [
        "azure.waf_mode: found 'Detection'; allowed: Prevention in prod (Detection only logs attacks)"]


def test_a_waf_limit_below_the_gateways_own_is_refused():
    assert problems(raw("prod", {"waf_rate_limit_per_minute": 1000})) == [
        "azure.waf_rate_limit_per_minute: found 1000; allowed: at least 3000 (gateway.limits.requests_per_second 50 "
        "a minute): the WAF would block clients the gateway admits, without the gateway's JSON 429"]


def test_a_refused_stack_registers_nothing():
    from pulumi import RunError

    import infra.program
    config = copy.deepcopy(stack_config("azure-prod"))
    config["apigw:azure"] = {**config["apigw:azure"], "zones": ["1", "4"]}
    refused = {}

    def program():
        with pytest.raises(RunError, match="1 problem"):
            infra.program.main()
        refused["ok"] = True

    plan = capture(program, stack="azure-prod", config=config)
    assert refused == {"ok": True} and plan.resources == []
