"""Promote a release from a staging stack to its prod stack: `make promote FROM=<target>-staging TO=<target>-prod`.

What moves: every program's image; other release-bound keys only when stacks/promotion.yaml names
them. What stays: everything else of TO (phase, target, region, instance ranges, zones,
certificates, alarm destinations, the target blocks) and every secret and secret reference (never copied; one present in
FROM and missing in TO is reported). Before writing: the key-by-key config diff, TO's offline plan
before and after (resources added, removed, changed by URN; a load balancer, cluster or network
changed needs --allow-replace), and the policy pack on the new config (a mandatory violation writes
nothing). The stack file is rewritten round-trip (ruamel.yaml): comments, order and other keys stay.
A JSON record of it all is written for the pull request. Rollback: FROM=<prod stack>@<git revision>.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import pathlib
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML

from tools.offline import REPO, STACKS_DIR, project_name, read_stack, run_program

ALLOW_LIST = STACKS_DIR / "promotion.yaml"
CRITICAL = ("aws:lb/loadBalancer:LoadBalancer", "azure-native:network:ApplicationGateway",
            "gcp:compute/backendService:BackendService", "gcp:compute/globalForwardingRule:GlobalForwardingRule",
            "azure-native:containerservice:ManagedCluster", "gcp:container/cluster:Cluster", "aws:ecs/cluster:Cluster",
            "aws:ec2/vpc:Vpc", "azure-native:network:VirtualNetwork", "gcp:compute/network:Network",
            "kubernetes:networking.k8s.io/v1:Ingress")
"""Load balancers, clusters and networks: a change to one may replace it (an outage), so it needs --allow-replace."""


class PromotionError(Exception):
    """A refusal: its message says what and why; nothing was written."""


@dataclass
class Promotion:
    source: str
    target: str
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    """(key path, TO's value, the new value)."""
    warnings: list[str] = field(default_factory=list)
    missing_secrets: list[str] = field(default_factory=list)
    missing_refs: list[str] = field(default_factory=list)
    """Secret references FROM has and TO lacks: TO names its own store's secret."""
    resources: dict[str, list[str]] = field(default_factory=dict)
    verdict: str = ""
    text: str = ""
    """TO's new stack file."""


def _yaml() -> YAML:
    loader = YAML()
    loader.preserve_quotes = True
    loader.width = 4096
    return loader


def stack_text(spec: str) -> tuple[str, str, str | None]:
    """(stack name, its file's text, git revision or None) for `stack` or `stack@revision`."""
    stack, _, revision = spec.partition("@")
    path = STACKS_DIR / f"Pulumi.{stack}.yaml"
    if revision:
        shown = subprocess.run(["git", "show", f"{revision}:{path.relative_to(REPO)}"], cwd=REPO, capture_output=True,
                               text=True)
        if shown.returncode:
            raise PromotionError(f"{spec}: no {path.relative_to(REPO)} at git revision {revision}: "
                                 f"{shown.stderr.strip()}")
        return stack, shown.stdout, revision
    if not path.is_file():
        raise PromotionError(f"{spec}: no stack file {path.relative_to(REPO)}")
    return stack, path.read_text(), None


def allowed_keys() -> dict[str, list[str]]:
    if not ALLOW_LIST.is_file():
        return {"keys": [], "environment": []}
    data = YAML(typ="safe").load(ALLOW_LIST.read_text()) or {}
    return {"keys": list(data.get("keys") or []), "environment": list(data.get("environment") or [])}


def check_image(program: str, image: str, require_digest: bool) -> str | None:
    """A refusal for an image that pins nothing, a warning for one pinned by tag; None for a digest."""
    if "@sha256:" in image:
        return None
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    if not tag or tag == "latest":
        raise PromotionError(f"{program}: image {image!r} has no tag or uses latest: promote a pinned release")
    message = f"{program}: image {image} is pinned by tag, not digest: prod will not be byte-for-byte what staging ran"
    if require_digest:
        raise PromotionError(message + " (--require-digests)")
    return message


def secret_paths(value: Any, path: str = "", kind: str = "secure") -> list[str]:
    """Key paths of secrets (kind `secure`) or of secret references (kind `secret_ref`): each stack has its own."""
    if isinstance(value, dict):
        if set(value) == {kind}:
            return [path]
        return [p for key, child in value.items()
                for p in secret_paths(child, f"{path}.{key}" if path else key, kind)]
    return []


def programs(config: dict, project: str) -> dict[str, dict]:
    return {"gateway": config.get(f"{project}:gateway") or {},
            **{name: block or {} for name, block in (config.get(f"{project}:services") or {}).items()}}


def promote(source_spec: str, target_spec: str, require_digests: bool = False, add_services: bool = False,
            allow_replace: bool = False) -> Promotion:
    project = project_name()
    source, source_text, revision = stack_text(source_spec)
    target, target_text, target_revision = stack_text(target_spec)
    if target_revision:
        raise PromotionError(f"TO={target_spec}: the stack to write is the working copy's (no @revision)")
    yaml = _yaml()
    source_doc, target_doc = yaml.load(source_text), yaml.load(target_text)
    source_config, target_config = source_doc["config"], target_doc["config"]
    phase_of = {stack: config.get(f"{project}:phase") for stack, config in ((source, source_config),
                                                                               (target, target_config))}
    rollback = revision is not None and source == target
    if phase_of[target] != "prod":
        raise PromotionError(f"TO={target}: phase {phase_of[target]!r}; a promotion writes a prod stack")
    if phase_of[source] != "staging" and not rollback:
        raise PromotionError(f"FROM={source_spec}: phase {phase_of[source]!r}; a release comes from a staging stack "
                             "(or, to roll back, from the prod stack itself at an earlier revision: TO@<rev>)")
    if source_config.get(f"{project}:target") != target_config.get(f"{project}:target"):
        raise PromotionError(f"FROM={source} runs on {source_config.get(f'{project}:target')}, TO={target} on "
                             f"{target_config.get(f'{project}:target')}: a release moves within one target")
    result = Promotion(source_spec, target)
    source_programs, target_programs = programs(source_config, project), programs(target_config, project)
    only = sorted(set(source_programs) ^ set(target_programs))
    if only and not add_services:
        raise PromotionError("programs in one stack only: " + ", ".join(
            f"{name} ({source if name in source_programs else target})" for name in only)
            + " (--add-services to add FROM's to TO)")
    allow = allowed_keys()
    for name, block in source_programs.items():
        image = block.get("image")
        if image is not None:
            warning = check_image(name, str(image), require_digests)
            if warning:
                result.warnings.append(warning)
        keys = ["image", *[key.split(".", 2)[2] for key in allow["keys"] if key.startswith("services.*.")
                           and name != "gateway"]]
        if name not in target_programs:
            # Without its secrets: each stack encrypts with its own key and names its own store's secrets
            # (they are then reported missing, to be set on TO).
            added = copy.deepcopy(block)
            environment = added.get("environment") or {}
            for variable in [v for v, value in environment.items() if isinstance(value, dict)]:
                del environment[variable]
            target_config[f"{project}:services"][name] = added
            result.changes.append((f"services.{name}", None, "added from " + source))
            continue
        target_block = target_programs[name]
        for key in keys:
            if key in block and target_block.get(key) != block[key]:
                result.changes.append((f"{'gateway' if name == 'gateway' else 'services.' + name}.{key}",
                                       target_block.get(key), block[key]))
                target_block[key] = block[key]
        for variable in allow["environment"]:
            value = (block.get("environment") or {}).get(variable)
            if isinstance(value, dict):
                continue  # a secret (secure:) or a secret_ref: each stack has its own, never copied
            if value is not None and (target_block.get("environment") or {}).get(variable) != value:
                result.changes.append((f"services.{name}.environment.{variable}",
                                       (target_block.get("environment") or {}).get(variable), value))
                target_block.setdefault("environment", {})[variable] = value
    result.missing_secrets, result.missing_refs = (
        sorted(set(secret_paths(dict(source_config), kind=kind)) - set(secret_paths(dict(target_config), kind=kind)))
        for kind in ("secure", "secret_ref"))
    with tempfile.TemporaryDirectory() as scratch:
        buffer = pathlib.Path(scratch) / f"Pulumi.{target}.yaml"
        with buffer.open("w") as out:
            yaml.dump(target_doc, out)
        result.text = buffer.read_text()
        return _check(result, target, buffer, allow_replace)


def _check(result: Promotion, target: str, buffer: pathlib.Path, allow_replace: bool) -> Promotion:
    """TO's plan before and after, and the policy pack on the new config: a refusal leaves nothing written."""
    result.resources = resource_diff(target, STACKS_DIR / f"Pulumi.{target}.yaml", buffer)
    critical = [urn for urn in result.resources["changed"] + result.resources["removed"]
                if urn.split("::")[2].split("$")[-1] in CRITICAL]
    if critical and not allow_replace:
        raise PromotionError("the promotion changes a load balancer, cluster or network (it may be replaced): "
                             + ", ".join(critical) + " (--allow-replace to go on)")
    from tools.check import check_stack
    report = check_stack(target, read_stack(target, buffer)[0])
    mandatory = [v.message for v in report.violations if v.mandatory]
    result.verdict = f"{'FAIL' if report.failed else 'pass'}: {len(mandatory)} mandatory violation(s)" \
        + (f"; {report.problems}" if report.problems else "")
    if report.failed:
        raise PromotionError(f"the policy pack refuses TO={target} with the new config: {result.verdict}: "
                             + "; ".join(mandatory or report.problems))
    return result


def resource_diff(stack: str, before: pathlib.Path, after: pathlib.Path) -> dict[str, list[str]]:
    old = {r.urn: r.inputs for r in run_program(stack, read_stack(stack, before)[0]).resources}
    new = {r.urn: r.inputs for r in run_program(stack, read_stack(stack, after)[0]).resources}
    return {"added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new)),
            "changed": sorted(urn for urn in set(old) & set(new) if old[urn] != new[urn])}


def git_revision() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def report(result: Promotion) -> list[str]:
    lines = [f"promote {result.source} -> {result.target}", "config diff:"]
    lines += [f"  {path}: {old!r} -> {new!r}" for path, old, new in result.changes] or ["  (no change)"]
    lines += [f"warning: {w}" for w in result.warnings]
    lines += [f"secret missing in {result.target}: {p} (set it with pulumi config set --secret)"
              for p in result.missing_secrets]
    lines += [f"secret reference missing in {result.target}: {p} (name {result.target}'s own secret: "
              "{secret_ref: ...})" for p in result.missing_refs]
    lines.append("resource diff (offline plan of TO, before -> after):")
    for kind in ("added", "removed", "changed"):
        lines += [f"  {kind}: {urn}" for urn in result.resources.get(kind, [])]
    if not any(result.resources.values()):
        lines.append("  (no change)")
    lines.append(f"policy pack on the new config: {result.verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", metavar="FROM", help="<target>-staging, or <prod stack>@<git revision> to roll back")
    parser.add_argument("target", metavar="TO", help="<target>-prod")
    parser.add_argument("--dry-run", action="store_true", help="print the diffs and the policy result; write nothing")
    parser.add_argument("--require-digests", action="store_true", help="refuse images pinned by tag only")
    parser.add_argument("--add-services", action="store_true", help="add FROM's programs that TO lacks")
    parser.add_argument("--allow-replace", action="store_true", help="go on when a load balancer, cluster or "
                                                                      "network changes")
    parser.add_argument("--record", type=pathlib.Path, default=None, help="the JSON record's path "
                                                                          "(default build/promotions/<TO>.json)")
    args = parser.parse_args(argv)
    try:
        result = promote(args.source, args.target, args.require_digests, args.add_services, args.allow_replace)
    except PromotionError as err:
        print(f"promotion refused: {err}; nothing was written", file=sys.stderr)
        return 1
    print("\n".join(report(result)))
    if args.dry_run:
        print("dry run: nothing was written")
        return 0
    (STACKS_DIR / f"Pulumi.{result.target}.yaml").write_text(result.text)
    record = args.record or REPO / "build" / "promotions" / f"{result.target}.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({
        "from": result.source, "to": result.target, "git_revision": git_revision(),
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "changes": [{"key": p, "before": o, "after": n} for p, o, n in result.changes],
        "images": {p: n for p, _, n in result.changes if p.endswith(".image")},
        "warnings": result.warnings, "missing_secrets": result.missing_secrets, "resources": result.resources,
        "policy": result.verdict}, indent=2, default=str))
    print(f"wrote stacks/Pulumi.{result.target}.yaml and the record {record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
