"""The docs tell the truth about what can be run and where links go (issue 20): every `make` target and
`python -m tools.<x>` command the README and docs/ name exists, and every relative link resolves."""
from __future__ import annotations

import importlib.util
import re

import pytest

from tools.offline import REPO

DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
MAKE_IN_CODE = re.compile(r"`make ([a-z][a-z-]*)")
MAKE_IN_BLOCK = re.compile(r"^\s*(?:\$ )?make ([a-z][a-z-]*)", re.MULTILINE)
TOOL = re.compile(r"python -m (tools(?:\.[a-z_]+)+)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    targets = set()
    for line in text.splitlines():
        match = re.match(r"^([a-z][a-z -]*):(?!=)", line)
        if match:
            targets.update(match.group(1).split())
    return targets


def named_make_targets(text: str) -> set[str]:
    blocks = "\n".join(FENCE.findall(text))
    return set(MAKE_IN_CODE.findall(text)) | set(MAKE_IN_BLOCK.findall(blocks))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_make_target_named_exists(doc):
    missing = named_make_targets(doc.read_text()) - make_targets()
    assert not missing, f"{doc.name} names make targets the Makefile lacks: {sorted(missing)}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_tool_named_exists(doc):
    missing = sorted({m for m in TOOL.findall(doc.read_text()) if importlib.util.find_spec(m) is None})
    assert not missing, f"{doc.name} names modules that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves(doc):
    broken = []
    for target in LINK.findall(FENCE.sub("", doc.read_text())):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{doc.name} links to what does not exist: {broken}"


def test_the_checks_can_fail():
    assert named_make_targets("run `make nothing-here`") - make_targets() == {"nothing-here"}
    assert "docs" not in make_targets() and {"plan", "check", "up", "preview", "lint"} <= make_targets()


# --- config keys: the docs and the spec agree ---------------------------------------------------

def block_keys() -> dict[str, set[str]]:
    """Each target option block's keys, as its own parser declares them (the "known keys" of a refusal)."""
    from components import targets
    from components.spec import parse_spec
    from components.validation import SpecError
    from tools.offline import project_keys, stack_config, stack_names

    keys: dict[str, set[str]] = {}
    for target in targets.all_targets():
        stack = next(s for s in stack_names() if s.startswith(f"{target.name}-"))
        for block in target.option_blocks:
            raw = project_keys(stack_config(stack))
            raw[block] = {**(raw.get(block) or {}), "zz_not_a_key": 1}
            with pytest.raises(SpecError) as err:
                parse_spec(raw)
            allowed = next(p.allowed for p in err.value.problems if p.path == f"{block}.zz_not_a_key")
            keys.setdefault(block, set()).update(allowed.removeprefix("known keys: ").split(", "))
    return keys


def neutral_patterns() -> list[str]:
    from components.targets import NEUTRAL_KEYS
    return list(NEUTRAL_KEYS)


def all_docs_text() -> str:
    return "\n".join(doc.read_text() for doc in DOCS)


def test_every_option_key_is_documented():
    text = all_docs_text()
    missing = sorted(f"{block}.{key}" for block, keys in block_keys().items() for key in keys
                     if not re.search(rf"`(?:apigw:)?(?:{re.escape(block)}\.)?{re.escape(key)}\b", text))
    assert not missing, f"option keys no doc mentions: {missing}"


def test_every_option_key_the_docs_name_exists():
    keys = block_keys()
    # Not keys: host names (docker.io, kubernetes.io/tls) and resource tokens (aws.ecr.PullThroughCacheRule).
    named = re.findall(rf"`(?:apigw:)?({'|'.join(map(re.escape, keys))})\.([a-z_]+)(?![a-z_])(?!\.[A-Z]|/)",
                       all_docs_text())
    unknown = sorted({f"{block}.{key}" for block, key in named if key not in keys[block] and key != "io"})
    assert not unknown, f"the docs name option keys the spec does not know: {unknown}"


def _neutral(path: str) -> str:
    path = re.sub(r"<[^>]+>|\b(users|locations|payments|orders)-api\b", "*", path)
    return re.sub(r"^(services\.\*\.environment)\..*$", r"\1", path)


def test_every_neutral_key_is_documented_and_every_one_named_exists():
    text = (REPO / "docs" / "configuration.md").read_text()
    patterns = neutral_patterns()
    undocumented = [k for k in patterns if f"`{k}`" not in text and f"`apigw:{k}`" not in text
                    and f".{k.rsplit('.', 1)[-1]}`" not in text]
    assert not undocumented, f"neutral keys docs/configuration.md does not document: {undocumented}"
    neutral_ref = r"`(?:apigw:)?((?:gateway|load_balancer|monitoring|services)\.[a-z_.*<>-]+)`"
    named = {_neutral(m) for m in re.findall(neutral_ref, all_docs_text())}
    unknown = sorted(k for k in named if not any(p == k or p.startswith(f"{k}.") for p in patterns))
    assert not unknown, f"the docs name neutral keys the spec does not know: {unknown}"


def test_pulumi_yaml_describes_every_key_or_names_a_page_that_does():
    import yaml
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    keys = block_keys()
    for block, body in declared.items():
        description = body.get("description", "")
        assert "README" not in description, f"{block}: the README no longer holds the reference"
        pages = re.findall(r"docs/[a-z-]+\.md", description)
        assert all((REPO / page).exists() for page in pages), (block, pages)
        if block in keys and not re.search(r"options: see docs/", description):  # a list of keys: all of them
            missing = sorted(k for k in keys[block] if k not in description)
            assert not missing, f"Pulumi.yaml's {block} description omits {missing}"


def test_the_layout_names_every_top_level_entry_and_every_tool():
    import subprocess
    layout = (REPO / "docs" / "development.md").read_text()
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    top = {line.split("/", 1)[0] for line in tracked.splitlines()}
    tools = {p.name for p in (REPO / "tools").glob("*.py") if p.name != "__init__.py"}
    missing = sorted(name for name in top | tools | {p.name for p in (REPO / "components").iterdir()
                                                     if p.suffix == ".py" and p.name != "__init__.py"}
                     if name.removesuffix(".py") not in layout)
    assert not missing, f"docs/development.md's layout misses {missing}"


def test_the_offline_samples_are_what_the_commands_print_now():
    """`python -m tools.docs_samples --write` refreshes them; the live ones (`--live`) vary by run."""
    from tools import docs_samples
    assert docs_samples.refresh(live=False, write=False) == []
    assert set(docs_samples.OFFLINE) <= {n for doc in docs_samples.documents()
                                         for n in docs_samples.samples_in(doc.read_text())}
    assert "bench-local" in docs_samples.samples_in((REPO / "docs" / "local.md").read_text())
