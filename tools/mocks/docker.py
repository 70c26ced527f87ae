"""Fake answers for the offline plan of the docker target: what the engine reports after a pull. The ids are
shaped like Docker's (sha256:<64 hex digits>) and derived from the reference, so plans are stable; none
is a real image."""
from __future__ import annotations

import hashlib
from collections.abc import Callable


def _pulled(args) -> dict:
    reference = args.inputs.get("name", "")
    digest = hashlib.sha256(f"image:{reference}".encode()).hexdigest()
    head, _, last = reference.split("@", 1)[0].rpartition("/")
    repository = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
    return {"imageId": f"sha256:{digest}", "repoDigest": f"{repository}@sha256:{digest[::-1]}"}


MOCK_OUTPUTS: dict[str, Callable] = {"docker:index/remoteImage:RemoteImage": _pulled}
MOCK_CALLS: dict[str, Callable] = {}
