"""Where the aws target's tasks pull their images from: the public registry, or an ECR pull-through
cache of it.

Why a cache: every task start pulls its image, and Docker Hub allows about 10 anonymous pulls per
hour per address. Tasks pull through the NAT gateways' few addresses, so one prod rollout at minimum
size (12 tasks) uses the hour's allowance, and the next rollout or a scale-out fails with
`toomanyrequests`. A pull-through cache rule makes ECR fetch each image once, authenticated, and
serve every later pull from the account's private registry.

Pure Python (no Pulumi import): the spec check and the tests use it directly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..validation import Problems

SECRET_PREFIX = "ecr-pullthroughcache/"
"""AWS requires this name prefix on the Secrets Manager secret of a pull-through cache rule."""
PRIVATE_ECR_RE = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SECRET_NAME_RE = re.compile(r"^ecr-pullthroughcache/[A-Za-z0-9/_+=.@-]{1,492}$")
SECRET_ARN_RE = re.compile(r"^arn:aws(?:-cn|-us-gov)?:secretsmanager:(?P<region>[a-z0-9-]+):\d{12}:secret:"
                           r"(?P<name>[A-Za-z0-9/_+=.@-]+)$")
REPOSITORY_PREFIX_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
MAX_REPOSITORY_PREFIX = 30
"""ECR's limit on a pull-through cache rule's repository prefix (2-30 characters)."""


@dataclass(frozen=True)
class Upstream:
    url: str
    """The rule's upstream_registry_url, in ECR's own spelling."""
    short: str
    """The last part of the rule's repository prefix."""
    needs_credentials: bool
    """ECR refuses a rule for this registry without a Secrets Manager secret."""


UPSTREAMS = {
    # image host -> the registry ECR caches (ECR API reference, CreatePullThroughCacheRule).
    "docker.io": Upstream("registry-1.docker.io", "docker-hub", True),
    "public.ecr.aws": Upstream("public.ecr.aws", "ecr-public", False),
    "registry.k8s.io": Upstream("registry.k8s.io", "k8s", False),
    "quay.io": Upstream("quay.io", "quay", False),
    "ghcr.io": Upstream("ghcr.io", "github", True),
    "registry.gitlab.com": Upstream("registry.gitlab.com", "gitlab", True),
}


@dataclass(frozen=True)
class ImageRef:
    host: str
    """docker.io for references without a registry, as Docker reads them."""
    repository: str
    """library/<name> for Docker Hub's official images, as the registry names them."""
    suffix: str
    """:tag, @digest or both, as written."""


def parse_image(ref: str) -> ImageRef:
    """Docker's reading of a reference: the first part is a registry host only when it has a dot or a
    port or is localhost."""
    name, suffix = ref, ""
    at = ref.find("@")
    if at >= 0:
        name, suffix = ref[:at], ref[at:]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, suffix = name[:colon], name[colon:] + suffix
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ImageRef(first, rest, suffix)
    host = "docker.io"
    if first in ("docker.io", "index.docker.io") and rest:
        name = rest
    return ImageRef(host, name if "/" in name else f"library/{name}", suffix)


def registry_host(account_id: str, region: str) -> str:
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account_id}.dkr.ecr.{region}.{domain}"


def rule_prefix(cache_prefix: str, upstream: Upstream) -> str:
    return f"{cache_prefix}/{upstream.short}"


def cached_image(ref: str, cache_prefix: str, account_id: str, region: str) -> str:
    """The reference tasks pull instead of `ref`; images already in a private ECR stay as they are."""
    image = parse_image(ref)
    if PRIVATE_ECR_RE.match(image.host):
        return ref
    upstream = UPSTREAMS[image.host]
    return f"{registry_host(account_id, region)}/{rule_prefix(cache_prefix, upstream)}/{image.repository}{image.suffix}"


def upstreams_used(images: list[str]) -> list[str]:
    """The image hosts that need a cache rule (sorted; private ECR needs none)."""
    hosts = {parse_image(ref).host for ref in images}
    return sorted(h for h in hosts if not PRIVATE_ECR_RE.match(h))


def parse_credentials(p: Problems, raw: dict) -> dict[str, str]:
    """`aws.image_cache_credentials`: image host -> the Secrets Manager secret (name or ARN) ECR
    signs in to that registry with."""
    path = "aws.image_cache_credentials"
    result = {}
    for host, secret in p.string_map(raw, "image_cache_credentials", path).items():
        if host not in UPSTREAMS:
            p.add(f"{path}.{host}", secret, f"a registry the ECR pull-through cache supports: {', '.join(UPSTREAMS)}")
            continue
        arn = SECRET_ARN_RE.match(secret)
        name = arn.group("name") if arn else secret
        if not SECRET_NAME_RE.match(name):
            p.add(f"{path}.{host}", secret, f"a Secrets Manager secret name (or its ARN) starting with {SECRET_PREFIX} "
                                            "(AWS requires the prefix for pull-through cache credentials)")
            continue
        result[host] = secret
    return result


def check_image_cache(p: Problems, spec) -> None:
    """With the cache on, every image comes from a registry ECR can cache (or from a private ECR),
    and every registry that needs credentials has a secret."""
    options = spec.options
    if not options.image_cache:
        return
    programs = [("gateway.image", spec.gateway.image), *((f"services.{s.name}.image", s.image) for s in spec.services)]
    for path, ref in programs:
        host = parse_image(ref).host
        if PRIVATE_ECR_RE.match(host) or host in UPSTREAMS:
            continue
        p.add(path, ref, f"with aws.image_cache on, an image from a registry the ECR pull-through cache supports "
                         f"({', '.join(UPSTREAMS)}) or from a private ECR; or aws.image_cache: false")
    hosts = upstreams_used([ref for _, ref in programs])
    used = [UPSTREAMS[h] for h in hosts if h in UPSTREAMS]
    prefix, room = options.image_cache_prefix, MAX_REPOSITORY_PREFIX - 1 - max((len(u.short) for u in used), default=0)
    if not REPOSITORY_PREFIX_RE.match(prefix) or len(prefix) > room:
        p.add("aws.image_cache_prefix", prefix,
              f"lowercase letters, digits and . _ - / (ECR repository syntax), at most {room} characters "
              f"(ECR allows {MAX_REPOSITORY_PREFIX} for the rule's prefix <image_cache_prefix>/<registry>)")
    for host in hosts:
        upstream = UPSTREAMS.get(host)
        if upstream and upstream.needs_credentials and host not in options.image_cache_credentials:
            p.add(f"aws.image_cache_credentials.{host}", None,
                  f"a Secrets Manager secret named {SECRET_PREFIX}<name> holding the {host} username and access "
                  "token (ECR caches this registry only with credentials; see the README, Image supply); "
                  "or aws.image_cache: false")
    for host, secret in options.image_cache_credentials.items():
        arn = SECRET_ARN_RE.match(secret)
        if arn and arn.group("region") != spec.region:
            p.add(f"aws.image_cache_credentials.{host}", secret,
                  f"a secret in the stack's region {spec.region} (ECR reads it in its own region)")
