"""The strict reader of a stack file (`stacks/Pulumi.<stack>.yaml`).

The Pulumi CLI reads stack files leniently: a key given twice keeps its last value, and YAML 1.1
turns unquoted `0022` into 18, `yes` into true and `2024-01-01` into a date. So the plan, the
policy check and the program itself (under `pulumi up`, which only sees the merged config) read
the file here too:

- a key given twice in one mapping is a problem, with both line numbers;
- every plain scalar YAML did not read as a string is remembered with its source text, so where
  the spec wants a string it can refuse the value and say how to quote it;
- a secret (`secure: <ciphertext>`) is checked by its shape only, never decrypted.

Pure Python (PyYAML only); no Pulumi import.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Any

import yaml

from .validation import Problem

STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class Scalar:
    """A plain scalar that YAML turned into something other than a string."""

    text: str
    """What the file says, e.g. 0022."""
    line: int


@dataclass
class StackFile:
    config: dict[str, Any]
    """The `config:` mapping as the CLI would merge it (last duplicate wins, for compatibility)."""
    problems: list[Problem] = field(default_factory=list)
    """Duplicate keys and malformed secrets, each naming its key path and lines."""
    scalars: dict[str, Scalar] = field(default_factory=dict)
    """Key path without the project prefix (services.users-api.environment.UMASK) -> its source."""
    secrets: set[str] = field(default_factory=set)
    """Key paths without the project prefix of `secure:` values (pulumi config set --secret --path):
    the program keeps them secret end to end (services.<name>.environment.<KEY> becomes a secret setting)."""


OPAQUE_SECRET = "[secret]"
"""What the offline tools hand the program instead of a `secure:` value (they cannot decrypt it, and
never show one); the spec reads it as a secret setting, as it reads a path the stack file marks secure."""


class StackFileError(Exception):
    pass


def _entries(node: yaml.MappingNode, path: str, out: StackFile, strip: str = ""):
    """(key, its path, value node, line) of a mapping's entries, recording every key given twice.
    `strip`: the prefix taken off the keys (the project's, at the config's top level)."""
    seen: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key, line = key_node.value, key_node.start_mark.line + 1
        name = key[len(strip):] if strip and isinstance(key, str) and key.startswith(strip) else str(key)
        child = f"{path}.{name}" if path else name
        if key in seen:
            out.problems.append(Problem(child, f"lines {seen[key]} and {line}",
                                        "each key once per mapping (the Pulumi CLI would silently keep "
                                        "the last value)"))
        seen.setdefault(key, line)
        yield key, child, value_node, line


def _walk(node: yaml.Node, path: str, out: StackFile, strip: str = "") -> None:
    """Record duplicates, secrets' shape and non-string plain scalars below `node`."""
    if isinstance(node, yaml.MappingNode):
        for key, child, value_node, line in _entries(node, path, out, strip):
            if key == "secure" and isinstance(value_node, yaml.ScalarNode):
                if len(node.value) != 1 or not value_node.value.strip():
                    out.problems.append(Problem(path, f"line {line}", "a secret as `secure: <ciphertext>` alone "
                                                                      "in its mapping (pulumi config set --secret)"))
                out.secrets.add(path)
                continue
            _walk(value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, f"{path}[{i}]", out)
    elif isinstance(node, yaml.ScalarNode) and node.style is None and node.tag != STR_TAG and path:
        out.scalars[path] = Scalar(node.value, node.start_mark.line + 1)


def load(text: str, project: str, name: str = "stack file") -> StackFile:
    """Read a stack file's text; raises StackFileError when it is not YAML or not shaped like one."""
    loader = yaml.SafeLoader(text)
    try:  # one parse: the node tree is read here, then built into data (the last duplicate wins)
        document = loader.get_single_node()
        data = loader.construct_document(document) if document is not None else {}
    except yaml.YAMLError as err:
        raise StackFileError(f"{name}: not valid YAML: {err}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict) or not isinstance(data.get("config") or {}, dict):
        raise StackFileError(f"{name}: expected a mapping with a `config:` mapping of "
                             "`<project>:<key>: value` entries")
    out = StackFile(config=dict(data.get("config") or {}))
    if document is None:
        return out
    for key, _, value_node, _ in _entries(document, "", out):
        if key == "config":
            _walk(value_node, "", out, strip=f"{project}:")
    return out


def load_file(path: pathlib.Path, project: str) -> StackFile:
    return load(path.read_text(), project, path.name)
