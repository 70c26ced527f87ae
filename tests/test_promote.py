"""`make promote`: a release moves from staging to prod by a checked, round-trip edit of the prod stack file.
Runs on a copy of stacks/ (and, for rollback, a temporary git repository), never on the repository's own files."""
from __future__ import annotations

import difflib
import json
import shutil
import subprocess

import pytest

from tools import promote
from tools.offline import STACKS_DIR

NEW_IMAGE = "traefik/whoami:v1.10.4"


@pytest.fixture
def stacks(tmp_path, monkeypatch):
    copy = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR, copy)
    monkeypatch.setattr(promote, "STACKS_DIR", copy)
    monkeypatch.setattr(promote, "ALLOW_LIST", copy / "promotion.yaml")
    monkeypatch.setattr(promote, "REPO", tmp_path)
    return copy


def set_staging_image(stacks, stack: str, image: str = NEW_IMAGE) -> None:
    path = stacks / f"Pulumi.{stack}.yaml"
    path.write_text(path.read_text().replace("image: traefik/whoami:v1.10.3", f"image: {image}"))


def refused(capsys, *argv) -> str:
    assert promote.main(list(argv)) == 1
    err = capsys.readouterr().err
    assert err.startswith("promotion refused: ") and err.rstrip().endswith("nothing was written")
    return err


def test_promotion_moves_only_the_images_and_keeps_every_comment(stacks, tmp_path, capsys):
    set_staging_image(stacks, "kubernetes-staging")
    before = (stacks / "Pulumi.kubernetes-prod.yaml").read_text()
    record = tmp_path / "record.json"
    assert promote.main(["kubernetes-staging", "kubernetes-prod", "--record", str(record)]) == 0
    after = (stacks / "Pulumi.kubernetes-prod.yaml").read_text()
    changed = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]
    assert changed == [f"{sign}       image: traefik/whoami:{tag}" for _ in range(3)
                       for sign, tag in (("-", "v1.10.3"), ("+", "v1.10.4"))]
    out = capsys.readouterr().out
    assert "  services.users-api.image: 'traefik/whoami:v1.10.3' -> 'traefik/whoami:v1.10.4'" in out
    assert "policy pack on the new config: pass: 0 mandatory violation(s)" in out
    saved = json.loads(record.read_text())
    assert (saved["from"], saved["to"], saved["policy"]) == ("kubernetes-staging", "kubernetes-prod",
                                                            "pass: 0 mandatory violation(s)")
    assert saved["images"] == {f"services.{s}.image": NEW_IMAGE for s in ("users-api", "locations-api", "payments-api")}
    assert len(saved["resources"]["changed"]) == 3 and saved["resources"]["added"] == []   # the three Deployments
    assert all("Deployment::apigw-" in urn for urn in saved["resources"]["changed"])


@pytest.mark.parametrize("target", ["kubernetes", "aws", "azure", "gcp"])
def test_each_shipped_staging_stack_promotes_to_its_prod_stack_as_a_dry_run(stacks, target, capsys):
    set_staging_image(stacks, f"{target}-staging")
    before = (stacks / f"Pulumi.{target}-prod.yaml").read_text()
    assert promote.main([f"{target}-staging", f"{target}-prod", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "services.users-api.image: 'traefik/whoami:v1.10.3' -> 'traefik/whoami:v1.10.4'" in out
    assert "dry run: nothing was written" in out and "  changed: urn:pulumi:" in out
    assert (stacks / f"Pulumi.{target}-prod.yaml").read_text() == before


def test_promoting_prod_to_staging_is_refused(stacks, capsys):
    err = refused(capsys, "kubernetes-prod", "kubernetes-staging")
    assert "TO=kubernetes-staging: phase 'staging'; a promotion writes a prod stack" in err


def test_from_must_be_a_staging_stack(stacks, capsys):
    err = refused(capsys, "kubernetes-dev", "kubernetes-prod")
    assert "FROM=kubernetes-dev: phase 'dev'; a release comes from a staging stack" in err


def test_the_two_stacks_must_share_a_target(stacks, capsys):
    err = refused(capsys, "aws-staging", "kubernetes-prod")
    assert "FROM=aws-staging runs on aws, TO=kubernetes-prod on kubernetes: a release moves within one target" in err


def test_a_program_in_one_stack_only_is_refused_unless_added(stacks, capsys):
    path = stacks / "Pulumi.kubernetes-staging.yaml"
    path.write_text(path.read_text().replace("  apigw:load_balancer:", "    orders-api:\n      image: traefik/whoami:"
                                             "v1.10.3\n      port: 8080\n      path_prefix: /orders\n\n"
                                             "  apigw:load_balancer:", 1))
    err = refused(capsys, "kubernetes-staging", "kubernetes-prod")
    assert "programs in one stack only: orders-api (kubernetes-staging) (--add-services to add FROM's to TO)" in err


@pytest.mark.parametrize("image, message", [
    ("traefik/whoami:latest", "users-api: image 'traefik/whoami:latest' has no tag or uses latest"),
    ("traefik/whoami", "users-api: image 'traefik/whoami' has no tag or uses latest"),
])
def test_an_image_without_a_pinned_tag_is_refused(stacks, capsys, image, message):
    set_staging_image(stacks, "kubernetes-staging", image)
    assert message in refused(capsys, "kubernetes-staging", "kubernetes-prod")


def test_tags_warn_and_are_refused_when_digests_are_required(stacks, capsys):
    set_staging_image(stacks, "kubernetes-staging")
    err = refused(capsys, "kubernetes-staging", "kubernetes-prod", "--require-digests")
    assert "users-api: image traefik/whoami:v1.10.4 is pinned by tag, not digest" in err
    digest = "traefik/whoami@sha256:" + "a" * 64
    set_staging_image(stacks, "kubernetes-staging", digest)
    path = stacks / "Pulumi.kubernetes-staging.yaml"
    path.write_text(path.read_text().replace(NEW_IMAGE, digest))
    assert promote.main(["kubernetes-staging", "kubernetes-prod", "--require-digests", "--dry-run"]) == 0


def test_a_promotion_that_breaks_a_mandatory_rule_writes_nothing(stacks, capsys):
    # A team allow-lists instance ranges by mistake: staging's one-instance users-api would reach prod.
    (stacks / "promotion.yaml").write_text("keys: [services.*.instances]\nenvironment: []\n")
    path = stacks / "Pulumi.kubernetes-staging.yaml"
    text = path.read_text()
    users = "      health_check_path: /health\n      instances: {min: 2, max: 4}"
    assert users in text
    path.write_text(text.replace(users, users.replace("min: 2", "min: 1")))
    before = (stacks / "Pulumi.kubernetes-prod.yaml").read_text()
    err = refused(capsys, "kubernetes-staging", "kubernetes-prod")
    assert "the policy pack refuses TO=kubernetes-prod with the new config: FAIL" in err
    assert "prod-min-instances" in err
    assert (stacks / "Pulumi.kubernetes-prod.yaml").read_text() == before


def test_a_secret_is_never_copied_and_a_missing_one_is_reported(stacks, capsys):
    (stacks / "promotion.yaml").write_text("keys: []\nenvironment: [API_KEY]\n")
    path = stacks / "Pulumi.kubernetes-staging.yaml"
    path.write_text(path.read_text().replace('        WHOAMI_PORT_NUMBER: "8080"   # whoami',
                                             '        API_KEY:\n          secure: v1:abc:def\n'
                                             '        WHOAMI_PORT_NUMBER: "8080"   # whoami', 1))
    assert promote.main(["kubernetes-staging", "kubernetes-prod", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert ("secret missing in kubernetes-prod: apigw:services.users-api.environment.API_KEY (set it with pulumi "
            "config set --secret)") in out
    assert "API_KEY: " not in out.split("resource diff")[0].split("config diff:")[1]


def test_rollback_from_an_earlier_revision_of_the_prod_stack(stacks, tmp_path, capsys):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", "stacks/Pulumi.aws-prod.yaml")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "v1.10.3 in prod")
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    set_staging_image(stacks, "aws-prod")   # a later release reached prod...
    assert promote.main([f"aws-prod@{revision}", "aws-prod"]) == 0   # ...and is rolled back
    assert "image: traefik/whoami:v1.10.3" in (stacks / "Pulumi.aws-prod.yaml").read_text()
    assert NEW_IMAGE not in (stacks / "Pulumi.aws-prod.yaml").read_text()
    assert "services.users-api.image: 'traefik/whoami:v1.10.4' -> 'traefik/whoami:v1.10.3'" in capsys.readouterr().out
    err = refused(capsys, "aws-prod@nope", "aws-prod")
    assert "aws-prod@nope: no stacks/Pulumi.aws-prod.yaml at git revision nope" in err


def test_the_promotion_workflow_requires_digests_and_opens_a_pull_request_with_the_record():
    import pathlib

    import yaml
    path = pathlib.Path(__file__).resolve().parents[1] / ".github/workflows/promote.yml"
    workflow = yaml.safe_load(path.read_text())
    assert "workflow_dispatch" in workflow[True]
    assert set(workflow[True]["workflow_dispatch"]["inputs"]) == {"from", "to"}
    steps = workflow["jobs"]["promote"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any('make promote FROM="$FROM" TO="$TO" PROMOTE_ARGS="--require-digests --record promotions/$TO.json"'
               in run for run in runs)
    [pull] = [s for s in steps if str(s.get("uses", "")).startswith("peter-evans/create-pull-request@")]
    assert pull["with"]["add-paths"].splitlines() == ["stacks/Pulumi.${{ inputs.to }}.yaml",
                                                     "promotions/${{ inputs.to }}.json"]
    # The inputs reach the scripts through the environment only.
    assert all("${{" not in run for run in runs)


def test_drift_runs_a_refresh_that_fails_on_changes_with_the_shared_credentials():
    import pathlib

    import yaml
    repo = pathlib.Path(__file__).resolve().parents[1]
    makefile = (repo / "Makefile").read_text()
    assert "$(PULUMI) preview --refresh --expect-no-changes --diff --stack $(STACK)" in makefile
    assert "PULUMI = $(PY) -m tools.pulumi_cli" in makefile  # backend and passphrase rules (tools/pulumi_cli.py)
    drift = yaml.safe_load((repo / ".github/workflows/drift.yml").read_text())
    assert drift[True]["schedule"] == [{"cron": "17 5 * * *"}]
    for workflow, job in (("drift.yml", "drift"), ("pull-request.yml", "preview")):
        steps = yaml.safe_load((repo / ".github/workflows" / workflow).read_text())["jobs"][job]["steps"]
        assert [s["with"]["target"] for s in steps if s.get("uses") == "./.github/actions/cloud-credentials"] == [
            "${{ matrix.target }}"]
    assert any(s.get("run") == 'make drift STACK="$STACK"' for s in drift["jobs"]["drift"]["steps"])


def test_a_change_to_a_load_balancer_cluster_or_network_needs_allow_replace(stacks, capsys, monkeypatch):
    # Stand the Deployments in for a load balancer: the image promotion changes them.
    monkeypatch.setattr(promote, "CRITICAL", (*promote.CRITICAL, "kubernetes:apps/v1:Deployment"))
    set_staging_image(stacks, "kubernetes-staging")
    err = refused(capsys, "kubernetes-staging", "kubernetes-prod")
    assert "the promotion changes a load balancer, cluster or network (it may be replaced): urn:pulumi:" in err
    assert err.count("kubernetes:apps/v1:Deployment::apigw-") == 3 and "(--allow-replace to go on)" in err
    assert promote.main(["kubernetes-staging", "kubernetes-prod", "--allow-replace", "--dry-run"]) == 0


def test_an_added_service_comes_without_its_secrets_and_each_is_reported(stacks, capsys):
    path = stacks / "Pulumi.kubernetes-staging.yaml"
    path.write_text(path.read_text().replace(
        "  apigw:load_balancer:", "    orders-api:\n      image: traefik/whoami:v1.10.3\n      port: 8080\n"
        "      path_prefix: /orders\n      environment:\n        LOG_LEVEL: info\n        DB_PASSWORD:\n"
        "          secure: v1:abc:def\n        STRIPE_KEY:\n          secret_ref: orders-stripe/api-key\n\n"
        "  apigw:load_balancer:", 1))
    assert promote.main(["kubernetes-staging", "kubernetes-prod", "--add-services"]) == 0
    out = capsys.readouterr().out
    written = (stacks / "Pulumi.kubernetes-prod.yaml").read_text()
    assert "orders-api:" in written and "LOG_LEVEL: info" in written
    assert "v1:abc:def" not in written and "orders-stripe" not in written
    assert ("secret missing in kubernetes-prod: apigw:services.orders-api.environment.DB_PASSWORD (set it with "
            "pulumi config set --secret)") in out
    assert ("secret reference missing in kubernetes-prod: apigw:services.orders-api.environment.STRIPE_KEY (name "
            "kubernetes-prod's own secret: {secret_ref: ...})") in out
