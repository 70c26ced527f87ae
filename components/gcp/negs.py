"""GKE's standalone NEGs in the stack's lifecycle: GKE, not Pulumi, creates and deletes them.

Two dynamic resources (`pulumi-python:dynamic/gcp:NetworkEndpointGroups`) that run `gcloud`:

- `await` (after the gateway Service; the backend service depends on it): create waits until the
  NEG exists in every zone, since GKE's NEG controller makes them a little after the Service and
  a backend service naming a missing NEG fails.
- `cleanup` (after the cluster; the workloads depend on it, so `pulumi destroy` deletes it after the
  backend service and the gateway Service and before the cluster): delete removes the NEGs that
  GKE's controller may not have garbage-collected yet. A NEG left behind keeps the subnet and
  network from being deleted, and the controller stops with the cluster.

`gcloud` must be on PATH where `pulumi up` runs (it already is for gke-gcloud-auth-plugin).
The provider class is built inside a function so Pulumi's pickler (dill) takes it by value: it
works from the apigw_platform wheel as from a checkout, with the standard library only.
"""
from __future__ import annotations

import pulumi
from pulumi.dynamic import Resource

ACTIONS = ("await", "cleanup")
NEG_TYPE = "pulumi-python:dynamic/gcp:NetworkEndpointGroups"


def _make_provider():
    from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider

    class NetworkEndpointGroupsProvider(ResourceProvider):
        serialize_as_secret_always = False  # names and zones only

        def _gcloud(self, props: dict, *args: str) -> tuple[int, str]:
            import subprocess
            command = [props.get("gcloud") or "gcloud", "compute", "network-endpoint-groups", *args,
                       "--project", props["project"], "--quiet"]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=120)
            except FileNotFoundError:
                raise RuntimeError(f"{command[0]} is not on PATH: the gcp target needs the Google Cloud CLI where "
                                   "`pulumi up` runs (see the README's GCP section)") from None
            return done.returncode, (done.stdout + done.stderr).strip()

        def _each_zone(self, props: dict, act) -> None:
            import time
            deadline = time.monotonic() + float(props.get("timeout_s") or 600)
            pending = list(props["zones"])
            while pending:
                pending = [zone for zone in pending if not act(zone)]
                if pending and time.monotonic() > deadline:
                    raise RuntimeError(f"NEG {props['name']} in {', '.join(pending)}: still not "
                                       f"{'there' if props['action'] == 'await' else 'deleted'} after "
                                       f"{props.get('timeout_s') or 600} s")
                if pending:
                    time.sleep(float(props.get("poll_s") or 10))

        def _exists(self, props: dict, zone: str) -> bool:
            return self._gcloud(props, "describe", props["name"], "--zone", zone, "--format=value(name)")[0] == 0

        def _deleted(self, props: dict, zone: str) -> bool:
            code, out = self._gcloud(props, "delete", props["name"], "--zone", zone)
            if code == 0 or "not found" in out.lower():
                return True
            if "in use" in out.lower() or "being used" in out.lower():
                return False  # a backend service still names it: retry until it is gone
            raise RuntimeError(f"deleting NEG {props['name']} in {zone}: {out}")

        def create(self, props):
            if props["action"] == "await":
                self._each_zone(props, lambda zone: self._exists(props, zone))
            return CreateResult(id_=f"{props['project']}/{props['name']}/{props['action']}", outs=props)

        def diff(self, id_, olds, news):
            keys = ("name", "zones", "project", "action")
            changed = [key for key in keys if olds.get(key) != news.get(key)]
            return DiffResult(changes=bool(changed) or olds != news, replaces=changed, delete_before_replace=True)

        def update(self, id_, olds, news):
            from pulumi.dynamic import UpdateResult
            return UpdateResult(outs=news)

        def delete(self, id_, props):
            if props["action"] == "cleanup":
                self._each_zone(props, lambda zone: self._deleted(props, zone))

    return NetworkEndpointGroupsProvider()


class NetworkEndpointGroups(Resource, module="gcp", name="NetworkEndpointGroups"):
    """The NEG named `name` in each of `zones`: awaited after creation, or deleted before the cluster."""

    def __init__(self, name: str, action: str, project: str, neg_name: str, zones: pulumi.Input[list],
                 timeout_s: int = 600, opts: pulumi.ResourceOptions | None = None):
        if action not in ACTIONS:
            raise ValueError(f"NetworkEndpointGroups: action {action!r} is not one of {', '.join(ACTIONS)}")
        super().__init__(_make_provider(), name, {"action": action, "project": project, "name": neg_name,
                                                  "zones": zones, "timeout_s": timeout_s, "gcloud": "gcloud",
                                                  "poll_s": 10}, opts)
