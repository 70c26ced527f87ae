"""security-image-tag: no image without a tag, none with `latest`.

An untagged or `latest` image changes under a running fleet: two instances of the "same"
program run different code, and a rollback cannot name what it rolls back to.
"""
from __future__ import annotations

from .common import message, plain, resource_policy, unknown
from .images import TOKENS, image_refs, split

NAME = "security-image-tag"
__all__ = ["NAME", "TOKENS", "POLICY"]


def validate(args, report):
    props = plain(args.props)
    for path, image in image_refs(args.resource_type, props):
        if not isinstance(image, str) or unknown(image):
            continue
        _, tag, digest = split(image)
        if digest:
            continue
        if tag is None:
            report(message(args.name, args.resource_type, path, image,
                           "prod needs an explicit tag or digest (repo:1.2.3 or repo@sha256:...)", NAME,
                           f'"{image}" (no tag: the registry serves latest)'))
        elif tag == "latest":
            report(message(args.name, args.resource_type, path, image,
                           "prod needs a pinned version tag or digest, never latest", NAME))


POLICY = resource_policy(
    NAME,
    "Every image names a tag or digest, and never `latest`.",
    validate,
    "Pin every image in the stack file (gateway.image, services.*.image) to a version tag or a digest.",
)
