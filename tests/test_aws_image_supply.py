"""AWS: tasks pull through an ECR pull-through cache, not anonymously from Docker Hub (issue 17, item 2)."""
from __future__ import annotations

import json

import pytest

from components.aws.image_cache import IMPORT_ACTIONS
from components.aws.images import cached_image, parse_image, upstreams_used
from components.spec import parse_spec
from components.validation import SpecError
from tests.conftest import variant_config
from tools.offline import project_keys, run_program

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")
RULE, POLICY = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule", "aws:iam/rolePolicy:RolePolicy"
TASK, SERVICE = "aws:ecs/taskDefinition:TaskDefinition", "aws:ecs/service:Service"
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def container(plan, program):
    return json.loads(plan.one(TASK, f"apigw-{program}-task").inputs["containerDefinitions"])[0]


@pytest.mark.parametrize("ref, host, repository, suffix", [
    ("nginx:1.27", "docker.io", "library/nginx", ":1.27"),
    ("traefik/whoami:v1.10.3", "docker.io", "traefik/whoami", ":v1.10.3"),
    ("docker.io/library/nginx@sha256:" + "a" * 64, "docker.io", "library/nginx", "@sha256:" + "a" * 64),
    ("ghcr.io/org/api:2.0@sha256:" + "b" * 64, "ghcr.io", "org/api", ":2.0@sha256:" + "b" * 64),
    ("localhost:5000/api:1", "localhost:5000", "api", ":1"),
    ("registry.k8s.io/pause:3.10", "registry.k8s.io", "pause", ":3.10"),
])
def test_image_references_are_read_as_docker_reads_them(ref, host, repository, suffix):
    image = parse_image(ref)
    assert (image.host, image.repository, image.suffix) == (host, repository, suffix)


def test_cached_references_name_the_accounts_registry_and_the_rules_prefix():
    assert cached_image("traefik/whoami:v1.10.3", "apigw-prod", "123456789012", "us-east-1") == \
        f"{REGISTRY}/apigw-prod/docker-hub/traefik/whoami:v1.10.3"
    assert cached_image("nginx:1.27", "p", "123456789012", "cn-north-1") == \
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/p/docker-hub/library/nginx:1.27"
    mirrored = f"{REGISTRY}/mirror/api:1.0"  # already mirrored to a private ECR: pulled as it is
    assert cached_image(mirrored, "apigw-prod", "123456789012", "us-east-1") == mirrored
    assert upstreams_used([mirrored, "nginx:1", "quay.io/a/b:1"]) == ["docker.io", "quay.io"]


def test_prod_caches_docker_hub_with_the_named_secret(plan_of):
    plan = plan_of("aws-prod")
    rule = plan.one(RULE, "apigw-images-docker-hub").inputs
    assert rule == {"ecrRepositoryPrefix": "apigw-prod/docker-hub", "upstreamRegistryUrl": "registry-1.docker.io",
                    "credentialArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
                                     "ecr-pullthroughcache/docker-hub-" + rule["credentialArn"][-6:]}
    assert len(plan.by_type(RULE)) == 1


def test_every_task_pulls_its_image_through_the_cache(plan_of):
    plan = plan_of("aws-prod")
    assert container(plan, "gateway")["image"] == \
        f"{REGISTRY}/apigw-prod/docker-hub/nginxinc/nginx-unprivileged:1.27.3-alpine"
    for program in ("users-api", "locations-api", "payments-api"):
        assert container(plan, program)["image"] == f"{REGISTRY}/apigw-prod/docker-hub/traefik/whoami:v1.10.3"


def test_the_execution_role_may_import_into_exactly_the_caches_repositories(plan_of):
    plan = plan_of("aws-prod")
    policy = plan.one(POLICY, "apigw-images-import").inputs
    assert policy["role"] == "apigw-cluster-execution"
    assert json.loads(policy["policy"])["Statement"] == [{
        "Sid": "PullThroughCache", "Effect": "Allow", "Action": IMPORT_ACTIONS,
        "Resource": ["arn:aws:ecr:us-east-1:123456789012:repository/apigw-prod/docker-hub/*"]}]
    assert IMPORT_ACTIONS == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]


def test_no_task_starts_before_it_can_pull(plan_of):
    plan = plan_of("aws-prod")
    for program in ("gateway", "users-api"):
        depends = {urn.rsplit("::", 1)[-1] for urn in plan.one(SERVICE, f"apigw-{program}-service").dependencies}
        assert {"apigw-images-docker-hub", "apigw-images-import", "apigw-cluster-execution"} <= depends


def test_dev_pulls_from_the_public_registry(plan_of):
    plan = plan_of("aws-dev")
    assert not plan.by_type(RULE)
    assert container(plan, "users-api")["image"] == "traefik/whoami:v1.10.3"


def test_a_secret_given_by_arn_is_used_as_it_is():
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf"
    plan = run_program("aws-prod", variant_config(
        "aws-prod", lambda c: c["apigw:aws"].update(image_cache_credentials={"docker.io": arn})))
    assert plan.one(RULE, "apigw-images-docker-hub").inputs["credentialArn"] == arn


def problems(change) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(project_keys(variant_config("aws-prod", change)))
    return [str(p) for p in err.value.problems]


def test_docker_hub_without_credentials_is_refused_naming_the_key():
    found = problems(lambda c: c["apigw:aws"].pop("image_cache_credentials"))
    assert found == ["aws.image_cache_credentials.docker.io: found None; allowed: a Secrets Manager secret named "
                     "ecr-pullthroughcache/<name> holding the docker.io username and access token (ECR caches this "
                     "registry only with credentials; see the README, Image supply); or aws.image_cache: false"]


@pytest.mark.parametrize("secret", ["docker-hub", "arn:aws:secretsmanager:us-east-1:123456789012:secret:hub-AbCdEf"])
def test_a_secret_without_the_prefix_aws_requires_is_refused(secret):
    found = problems(lambda c: c["apigw:aws"].update(image_cache_credentials={"docker.io": secret}))
    assert any(f.startswith(f"aws.image_cache_credentials.docker.io: found {secret!r}; allowed: a Secrets Manager "
                            "secret name (or its ARN) starting with ecr-pullthroughcache/") for f in found)


def test_a_secret_in_another_region_and_an_unknown_registry_are_refused():
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf"
    found = problems(lambda c: c["apigw:aws"].update(image_cache_credentials={"docker.io": arn, "mcr.io": "x"}))
    assert "aws.image_cache_credentials.mcr.io: found 'x'; allowed: a registry the ECR pull-through cache supports: " \
           "docker.io, public.ecr.aws, registry.k8s.io, quay.io, ghcr.io, registry.gitlab.com" in found
    assert f"aws.image_cache_credentials.docker.io: found {arn!r}; allowed: a secret in the stack's region us-east-1 " \
           "(ECR reads it in its own region)" in found


def test_an_image_from_a_registry_ecr_cannot_cache_is_refused():
    found = problems(lambda c: c["apigw:services"]["users-api"].update(image="mcr.microsoft.com/dotnet/aspnet:9.0"))
    assert found == ["services.users-api.image: found 'mcr.microsoft.com/dotnet/aspnet:9.0'; allowed: with "
                     "aws.image_cache on, an image from a registry the ECR pull-through cache supports (docker.io, "
                     "public.ecr.aws, registry.k8s.io, quay.io, ghcr.io, registry.gitlab.com) or from a private ECR; "
                     "or aws.image_cache: false"]


def test_a_prefix_too_long_for_ecr_is_refused():
    found = problems(lambda c: c["apigw:aws"].update(image_cache_prefix="a-very-long-cache-prefix"))
    assert found == ["aws.image_cache_prefix: found 'a-very-long-cache-prefix'; allowed: lowercase letters, digits "
                     "and . _ - / (ECR repository syntax), at most 19 characters (ECR allows 30 for the rule's prefix "
                     "<image_cache_prefix>/<registry>)"]
