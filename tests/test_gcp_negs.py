"""The NEG lifecycle resource run for real against a stand-in `gcloud` (a script keeping NEGs as files):
create waits for GKE's NEGs in every zone; delete removes what GKE left, waiting while a backend
service still uses one; a missing gcloud is a clear error."""
from __future__ import annotations

import stat
import threading

import pytest

from components.gcp.negs import _make_provider

FAKE_GCLOUD = r"""#!/bin/sh
# gcloud compute network-endpoint-groups (describe|delete) NAME --zone ZONE --project P ...
echo "$*" >> "$STATE/calls"
verb=$3; name=$4; zone=$6
case $verb in
  describe) [ -e "$STATE/$zone/$name" ] && { echo "$name"; exit 0; }
            echo "ERROR: (gcloud.compute.network-endpoint-groups.describe) Could not fetch resource:" \
                 "The resource was not found" >&2; exit 1 ;;
  delete)   if [ -e "$STATE/$zone/$name.inuse" ]; then
              echo "ERROR: The network_endpoint_group resource is already being used by backendServices/x" >&2; exit 1
            fi
            if [ -e "$STATE/$zone/$name" ]; then rm "$STATE/$zone/$name"; echo "Deleted"; exit 0; fi
            echo "ERROR: The resource 'networkEndpointGroups/$name' was not found" >&2; exit 1 ;;
esac
exit 2
"""


@pytest.fixture
def gcloud(tmp_path, monkeypatch):
    script = tmp_path / "gcloud"
    script.write_text(FAKE_GCLOUD)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    state = tmp_path / "state"
    for zone in ("z-a", "z-b"):
        (state / zone).mkdir(parents=True)
    monkeypatch.setenv("STATE", str(state))
    return script, state


def props(gcloud_path, action, **extra) -> dict:
    return {"action": action, "project": "p", "name": "neg", "zones": ["z-a", "z-b"], "gcloud": str(gcloud_path),
            "timeout_s": 5, "poll_s": 0.05, **extra}


def later(seconds: float, change) -> threading.Timer:
    timer = threading.Timer(seconds, change)
    timer.start()
    return timer


def test_await_returns_once_the_neg_exists_in_every_zone(gcloud):
    script, state = gcloud
    (state / "z-a" / "neg").touch()
    later(0.3, (state / "z-b" / "neg").touch)
    result = _make_provider().create(props(script, "await"))
    assert result.id == "p/neg/await" and (state / "z-b" / "neg").exists()
    calls = (state / "calls").read_text().splitlines()
    assert calls[0] == ("compute network-endpoint-groups describe neg --zone z-a --format=value(name) "
                        "--project p --quiet")
    assert sum("--zone z-b" in call for call in calls) > 1   # polled until GKE made it


def test_await_gives_up_naming_the_zones_still_missing(gcloud):
    script, state = gcloud
    (state / "z-a" / "neg").touch()
    with pytest.raises(RuntimeError, match=r"NEG neg in z-b: still not there after 0.3 s"):
        _make_provider().create(props(script, "await", timeout_s=0.3))


def test_cleanup_deletes_what_is_left_and_waits_while_a_backend_service_uses_it(gcloud):
    script, state = gcloud
    (state / "z-a" / "neg").touch()
    (state / "z-b" / "neg").touch()
    (state / "z-b" / "neg.inuse").touch()
    later(0.3, (state / "z-b" / "neg.inuse").unlink)
    _make_provider().delete("p/neg/cleanup", props(script, "cleanup"))
    assert not (state / "z-a" / "neg").exists() and not (state / "z-b" / "neg").exists()


def test_cleanup_of_neg_already_gone_succeeds_and_await_deletes_nothing(gcloud):
    script, state = gcloud
    _make_provider().delete("p/neg/cleanup", props(script, "cleanup"))   # GKE deleted them already
    (state / "z-a" / "neg").touch()
    _make_provider().delete("p/neg/await", props(script, "await"))
    assert (state / "z-a" / "neg").exists()


def test_a_missing_gcloud_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match=r"is not on PATH: the gcp target needs the Google Cloud CLI"):
        _make_provider().create(props(tmp_path / "no-gcloud", "await"))


def test_create_of_cleanup_calls_nothing(gcloud):
    script, state = gcloud
    assert _make_provider().create(props(script, "cleanup")).id == "p/neg/cleanup"
    assert not (state / "calls").exists()
