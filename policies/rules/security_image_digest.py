"""security-image-digest (advisory everywhere): images are pinned by digest.

A tag can be moved to other content; a digest cannot. Advisory even in prod: pinning by digest
needs a release process that records digests, which the reference does not require.
"""
from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from .common import message, plain, resource_policy, unknown
from .images import TOKENS, image_refs, split

NAME = "security-image-digest"
__all__ = ["NAME", "TOKENS", "POLICY"]


def validate(args, report):
    props = plain(args.props)
    for path, image in image_refs(args.resource_type, props):
        if isinstance(image, str) and not unknown(image) and not split(image)[2]:
            report(message(args.name, args.resource_type, path, image,
                           "pin it by digest (repo@sha256:...) so every instance runs the same bytes", NAME))


POLICY = resource_policy(
    NAME,
    "Images are pinned by digest (advisory).",
    validate,
    "Replace the tag with its digest (`docker buildx imagetools inspect <image>` prints it).",
    severity=Severity.LOW,
    prod_level=EnforcementLevel.ADVISORY,
)
