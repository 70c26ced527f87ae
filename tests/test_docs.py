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
