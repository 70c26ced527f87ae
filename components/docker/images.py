"""The images the containers run: each pinned reference pulled once onto the Docker host."""
from __future__ import annotations

import re

import pulumi
import pulumi_docker as docker

from .args import ImagesArgs


def image_key(reference: str) -> str:
    """A stable resource-name key for an image reference (traefik/whoami:v1.10.3 -> traefik-whoami-v1.10.3)."""
    return re.sub(r"[^a-z0-9.]+", "-", reference.lower()).strip("-")


class Images(pulumi.ComponentResource):
    TYPE = "apigw:docker:Images"

    def __init__(self, name: str, args: ImagesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        references = sorted(set(args.references))
        keys = {image_key(ref): ref for ref in references}
        if len(keys) != len(references):
            raise ValueError(f"image references that differ only in punctuation: {references}")
        # Keyed by the reference: a new version is a new image, pulled before the containers move to it.
        self.images = {ref: docker.RemoteImage(f"{name}-{key}", name=ref, keep_locally=args.keep_locally,
                                               opts=pulumi.ResourceOptions(parent=self))
                       for key, ref in keys.items()}
        self.image_ids = {ref: image.image_id for ref, image in self.images.items()}
        """Reference -> the pulled image's id: a container runs the id, so new content under the same tag
        (which a pinned tag should never get) would replace it rather than go unnoticed."""
        self.register_outputs({"image_ids": self.image_ids})
