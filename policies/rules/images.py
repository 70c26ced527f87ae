"""Where images are named: Kubernetes containers, ECS container definitions and the images the docker
target pulls (a Docker container runs the pulled image's id, so its image is judged where it is named)."""
from __future__ import annotations

import json
from collections.abc import Iterator

from .common import UnknownValueError, unknown
from .kube import container_path, containers, pod_spec
from .types import AWS_ECS_TASK_DEFINITION, DOCKER_REMOTE_IMAGE, K8S_POD_BEARING

TOKENS = {**{t: ("spec",) for t in K8S_POD_BEARING}, AWS_ECS_TASK_DEFINITION: ("containerDefinitions",),
          DOCKER_REMOTE_IMAGE: ("name",)}


def image_refs(resource_type: str, props: dict) -> Iterator[tuple[str, str]]:
    """(property path, image) for every container the resource runs."""
    if resource_type in K8S_POD_BEARING:
        spec = pod_spec(props, resource_type)
        for index, (field, container) in enumerate(containers(spec, init=True)):
            yield f"{container_path(resource_type, field, container, index)}.image", container.get("image")
    elif resource_type == AWS_ECS_TASK_DEFINITION:
        raw = props.get("containerDefinitions")
        if unknown(raw):
            raise UnknownValueError(raw, ["containerDefinitions"])
        try:
            definitions = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return
        for index, container in enumerate(definitions if isinstance(definitions, list) else []):
            if isinstance(container, dict):
                yield f"containerDefinitions[{container.get('name') or index}].image", container.get("image")
    elif resource_type == DOCKER_REMOTE_IMAGE:
        yield "name", props.get("name")


def split(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference; a registry port is not a tag."""
    rest, _, digest = image.partition("@")
    last = rest.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else None
    repository = rest[:-(len(tag) + 1)] if tag else rest
    return repository, tag, digest or None
