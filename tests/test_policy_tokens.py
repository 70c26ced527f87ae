"""The pack's rules against the installed provider SDKs: every type token a rule matches, and
every top-level property it reads, still exists, so a renamed type cannot switch a rule off."""
from __future__ import annotations

import functools
import importlib.util
import pathlib
import re

import pytest
import yaml

from components import phases
from policies.rules import RULES, common
from policies.rules import types as T

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = {"aws": "pulumi_aws", "azure-native": "pulumi_azure_native", "docker": "pulumi_docker", "gcp": "pulumi_gcp",
            "kubernetes": "pulumi_kubernetes"}


def _all_tokens(crds: bool = False) -> list[tuple[str, str, tuple[str, ...]]]:
    """(rule, token, properties) of the provider SDK tokens; of the custom-resource tokens with `crds`."""
    return sorted({(rule.NAME, token, props) for rule in RULES for token, props in rule.TOKENS.items()
                   if (token in T.CRD_TOKENS) == crds})


@functools.cache
def _resource_file(token: str) -> pathlib.Path | None:
    """The SDK file that declares `token` (searched under the token's module directory only)."""
    provider, module, _ = token.split(":")
    spec = importlib.util.find_spec(PACKAGES[provider])
    root = pathlib.Path(next(iter(spec.submodule_search_locations)))
    quoted = (f"'{token}'", f'"{token}"')
    # A provider's `index` module is the package itself (pulumi_docker.Container), whose __init__.py only
    # registers the tokens: the class is declared in a module of its own.
    folder = re.split(r"[/.]", module)[0]
    found = [p for p in root.glob("*.py") if p.name != "__init__.py"] if folder == "index" \
        else (root / folder).rglob("*.py")
    for path in sorted(found):
        text = path.read_text()
        if any(q in text for q in quoted):
            return path
    return None


@pytest.mark.parametrize("rule, token, props", _all_tokens(), ids=lambda v: v if isinstance(v, str) else None)
def test_token_and_properties_exist_in_the_installed_sdk(rule, token, props):
    path = _resource_file(token)
    assert path is not None, f"{rule}: {token} is not declared by the installed {PACKAGES[token.split(':')[0]]}"
    text = path.read_text()
    for prop in props:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", prop).lower()
        declared = f'@pulumi.getter(name="{prop}")' in text or re.search(rf"\n    def {prop}\(self\)", text) \
            or re.search(rf"\n    def {snake}\(self\)", text) and prop == snake
        assert declared, f"{rule}: {token} has no property {prop!r} in {path.name}"


def test_every_rule_is_one_module_named_after_it():
    names = [rule.NAME for rule in RULES]
    assert len(names) == len(set(names)) == 18
    for rule in RULES:
        assert rule.__name__.rsplit(".", 1)[-1] == rule.NAME.replace("-", "_")
        assert rule.POLICY.name == rule.NAME and rule.POLICY.remediation_steps and rule.POLICY.description


def test_pack_floors_agree_with_the_prod_preset():
    assert common.PROD_MIN_INSTANCES == phases.PROD_MIN_SERVICE_INSTANCES
    assert common.PROD_MIN_GATEWAY_INSTANCES == phases.PROD_MIN_GATEWAY_INSTANCES
    assert common.PROD_MIN_ZONES == phases.PROD_MIN_ZONES
    assert phases.PRESETS["prod"].gateway_min >= common.PROD_MIN_GATEWAY_INSTANCES


def test_pack_pins_the_project_sdk_versions():
    pinned = {line.split("==")[0]: line.split("==")[1] for line in (REPO / "requirements.txt").read_text().split()
              if "==" in line}
    pack = [line for line in (REPO / "policies/requirements.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert pack == [f"pulumi=={pinned['pulumi']}", f"pulumi-policy=={pinned['pulumi-policy']}"]
    project = yaml.safe_load((REPO / "policies/PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python" and project["version"]


def test_the_docker_labels_the_rules_read_are_the_ones_the_docker_target_sets(plan_of):
    from policies.rules.common import GATEWAY_COMPONENT, labels_of
    from policies.rules.prod_load_balanced_gateway import DOCKER_LOAD_BALANCER
    from policies.rules.types import DOCKER_CONTAINER

    containers = plan_of("docker-staging").by_type(DOCKER_CONTAINER)
    components = sorted(labels_of(r.inputs).get("component") for r in containers)
    assert components.count(DOCKER_LOAD_BALANCER) == 1 and components.count(GATEWAY_COMPONENT) == 3


def test_local_process_token_and_roles_match_the_local_target(plan_of):
    from policies.rules.prod_load_balanced_gateway import LOCAL_PROCESS

    roles = sorted(r.inputs.get("role") for r in plan_of("local-dev").by_type(LOCAL_PROCESS))
    assert roles.count("load_balancer") == 1 and roles.count("gateway") == 2


# --- nested property names --------------------------------------------------------------------
# The top-level check above cannot see a misspelt nested field (agentPoolProfiles[].minCount,
# autoscaling.totalMinNodeCount, ...): a rule reading it would quietly find nothing. These paths
# are walked through the SDK's input types (`<Resource>Args` and the `*Args` classes below it),
# using the wire names the engine sends, and so are the synthetic Azure and GCP resources the
# rule tests build, since those targets have no program yet to capture them from.

NESTED_PATHS = {
    "azure-native:containerservice:ManagedCluster": [
        "serviceMeshProfile.mode", "serviceMeshProfile.istio.revisions", "agentPoolProfiles.name",
        "agentPoolProfiles.availabilityZones", "agentPoolProfiles.count",
        "agentPoolProfiles.minCount", "agentPoolProfiles.enableAutoScaling", "agentPoolProfiles.enableNodePublicIP"],
    "azure-native:containerservice:AgentPool": ["availabilityZones", "count", "minCount", "enableAutoScaling",
                                                "enableNodePublicIP"],
    "azure-native:network:ApplicationGateway": [
        "zones", "sku.tier", "firewallPolicy.id", "webApplicationFirewallConfiguration.enabled",
        "webApplicationFirewallConfiguration.firewallMode", "probes.path", "backendHttpSettingsCollection.name",
        "backendHttpSettingsCollection.probe.id", "httpListeners.name", "httpListeners.protocol",
        "httpListeners.sslCertificate.id", "requestRoutingRules.httpListener.id",
        "requestRoutingRules.redirectConfiguration.id"],
    "azure-native:authorization:ManagementLockByScope": ["level", "scope"],
    "gcp:container/cluster:Cluster": [
        "location", "nodeLocations", "initialNodeCount", "removeDefaultNodePool", "enableAutopilot",
        "deletionProtection", "privateClusterConfig.enablePrivateNodes", "nodePools.name", "nodePools.nodeLocations",
        "nodePools.nodeCount", "nodePools.initialNodeCount", "nodePools.autoscaling.minNodeCount",
        "nodePools.autoscaling.totalMinNodeCount", "nodePools.networkConfig.enablePrivateNodes"],
    "gcp:container/nodePool:NodePool": [
        "cluster", "location", "nodeLocations", "nodeCount", "initialNodeCount", "autoscaling.minNodeCount",
        "autoscaling.totalMinNodeCount", "networkConfig.enablePrivateNodes"],
    "gcp:compute/backendService:BackendService": ["healthChecks", "securityPolicy", "loadBalancingScheme",
                                                  "backends.group"],
    "gcp:compute/regionBackendService:RegionBackendService": ["healthChecks", "securityPolicy", "loadBalancingScheme",
                                                              "backends.group"],
    "gcp:compute/uRLMap:URLMap": ["defaultUrlRedirect.httpsRedirect"],
    "aws:ecs/service:Service": [
        "networkConfiguration.subnets", "networkConfiguration.assignPublicIp",
        "capacityProviderStrategies.capacityProvider",
        "orderedPlacementStrategies.type", "orderedPlacementStrategies.field", "placementConstraints.type",
        "loadBalancers.targetGroupArn", "serviceConnectConfiguration.enabled"],
    "aws:lb/loadBalancer:LoadBalancer": ["subnetMappings.subnetId"],
    "aws:lb/targetGroup:TargetGroup": ["healthCheck.enabled", "healthCheck.path", "healthCheck.protocol"],
    "aws:lb/listener:Listener": ["defaultActions.type", "defaultActions.redirect.protocol"],
    "aws:ec2/launchTemplate:LaunchTemplate": ["networkInterfaces.associatePublicIpAddress"],
    "aws:autoscaling/group:Group": ["tags.key", "tags.value"],
    "docker:index/container:Container": ["healthcheck.tests", "labels.label", "labels.value", "ports.ip",
                                         "ports.external", "ports.internal", "envs"],
    "docker:index/remoteImage:RemoteImage": ["name"],
}


def _args_class(token: str) -> type:
    provider, module, name = token.split(":")
    folder = module.split("/")[0]
    package = importlib.import_module(PACKAGES[provider] if folder == "index" else f"{PACKAGES[provider]}.{folder}")
    return getattr(package, f"{name}Args")


def _input_types(annotation) -> list[type]:
    """The SDK input classes inside an annotation such as Optional[Input[Sequence[Input[XArgs]]]]."""
    import typing

    from pulumi import _types

    found, todo = [], [annotation]
    while todo:
        current = todo.pop()
        if isinstance(current, type) and _types.is_input_type(current):
            found.append(current)
        else:
            todo.extend(typing.get_args(current))
    return found


def _missing(classes: list[type], path: str) -> str | None:
    """None when the dotted wire path exists below `classes`, else the first step that does not."""
    from pulumi import _types

    for depth, step in enumerate(path.split(".")):
        fields = [_types.input_type_types(c) for c in classes]
        if not any(step in f for f in fields):
            return ".".join(path.split(".")[:depth + 1])
        classes = [t for f in fields if step in f for t in _input_types(f[step])]
        if not classes:
            return None  # a scalar, list of scalars or map: nothing below it to check
    return None


def _paths(value, prefix: str = "") -> list[str]:
    """Every dotted key path of a wire-form property tree (list items share their list's path)."""
    if isinstance(value, list):
        return [p for item in value for p in _paths(item, prefix)]
    if not isinstance(value, dict):
        return []
    return [p for key, item in value.items() for p in [f"{prefix}{key}", *_paths(item, f"{prefix}{key}.")]]


@pytest.mark.parametrize("token", sorted(NESTED_PATHS))
def test_nested_properties_the_rules_read_exist_in_the_installed_sdk(token):
    args = _args_class(token)
    missing = [path for path in NESTED_PATHS[token] if _missing([args], path)]
    assert not missing, f"{token}: {[_missing([args], p) for p in missing]} not in {args.__name__}"


def test_synthetic_azure_and_gcp_resources_use_the_providers_property_names():
    from tests.test_policy_rules import azure_resources, gcp_resources

    for resource in azure_resources() + gcp_resources():
        args = _args_class(resource.type)
        missing = sorted({_missing([args], p) for p in _paths(resource.properties)} - {None})
        assert not missing, f"{resource.name} ({resource.type}): {missing} not in {args.__name__}"


def test_the_alert_rules_kind_the_monitoring_rule_looks_for_is_the_one_the_workloads_emit(plan_of):
    from policies.rules.prod_monitoring import K8S_ALERT_RULES
    assert [r.name for r in plan_of("kubernetes-prod").by_type(K8S_ALERT_RULES)] == ["apigw-monitoring-alerts"]


# --- custom resources -------------------------------------------------------------------------
# Istio's PeerAuthentication and DestinationRule are CustomResources: their tokens
# (`kubernetes:<group>/<version>:<Kind>`) are in no provider SDK, so they are listed in
# policies/rules/types.CRD_TOKENS and checked here against the CRD schemas the kubernetes target
# installs (components/kubernetes/crds/): the version is served and the fields the rules read exist.

CRD_DIR = REPO / "components/kubernetes/crds"
CRD_PATHS = {
    "PeerAuthentication": ["spec.mtls.mode", "spec.portLevelMtls.mode", "spec.selector.matchLabels"],
    "DestinationRule": ["spec.trafficPolicy.tls.mode", "spec.trafficPolicy.portLevelSettings.port.number",
                        "spec.trafficPolicy.portLevelSettings.tls.mode", "spec.subsets.name",
                        "spec.subsets.trafficPolicy.tls.mode", "spec.subsets.trafficPolicy.portLevelSettings.tls.mode"],
}


@functools.cache
def _crd_schemas() -> dict[str, dict]:
    """`kubernetes:<group>/<version>:<Kind>` -> that version's openAPIV3Schema, for every vendored CRD."""
    found = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    token = f"kubernetes:{spec['group']}/{version['name']}:{spec['names']['kind']}"
                    found[token] = version["schema"]["openAPIV3Schema"]
    return found


def _schema_missing(schema: dict, path: str) -> str | None:
    """None when the dotted path exists in an OpenAPI schema (through arrays and maps), else the first missing step."""
    steps = path.split(".")
    for depth, step in enumerate(steps):
        while "properties" not in schema and ("items" in schema
                                              or isinstance(schema.get("additionalProperties"), dict)):
            schema = schema.get("items") or schema["additionalProperties"]
        if step not in (schema.get("properties") or {}):
            return ".".join(steps[:depth + 1])
        schema = schema["properties"][step]
    return None


def test_crd_tokens_are_custom_resources_not_sdk_types():
    assert _all_tokens(crds=True), "no rule reads a custom resource"
    for rule, token, _ in _all_tokens(crds=True):
        provider, module, kind = token.split(":")
        group, version = module.split("/")
        assert provider == "kubernetes" and "." in group and re.fullmatch(r"v\d+((alpha|beta)\d+)?", version), token
        assert _resource_file(token) is None, f"{rule}: {token} is an SDK type: list it as one, not in CRD_TOKENS"


@pytest.mark.parametrize("rule, token, props", _all_tokens(crds=True), ids=lambda v: v if isinstance(v, str) else None)
def test_crd_token_and_fields_exist_in_the_vendored_crds(rule, token, props):
    if not _crd_schemas():
        pytest.skip(f"no CRDs under {CRD_DIR.relative_to(REPO)} yet")
    schema = _crd_schemas().get(token)
    assert schema is not None, f"{rule}: {token} is served by none of the CRDs in {CRD_DIR.relative_to(REPO)}"
    assert set(props) <= {"apiVersion", "kind", "metadata", *schema.get("properties", {})}, (rule, token, props)
    missing = [_schema_missing(schema, p) for p in CRD_PATHS[token.rsplit(":", 1)[1]]]
    assert missing == [None] * len(missing), f"{rule}: {token}: {missing}"


def test_the_crd_walker_notices_a_misspelt_field():
    if not _crd_schemas():
        pytest.skip("no vendored CRDs yet")
    assert _schema_missing(_crd_schemas()[T.K8S_PEER_AUTHENTICATION], "spec.mtls.mod") == "spec.mtls.mod"
