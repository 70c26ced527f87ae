"""Collect every problem in a raw config before failing, each with its key path.

Pure Python (no Pulumi import) so the spec and target options can be tested
directly and so `make plan` can report bad input without a traceback.
"""
from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
# Kubernetes label syntax (kubernetes.io/docs/concepts/overview/working-with-objects/labels).
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_KEY_RULE = ("a Kubernetes label key: an optional DNS-subdomain prefix (at most 253 characters) and '/', "
                  "then a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a "
                  "letter or digit")
LABEL_VALUE_RULE = "a Kubernetes label value: empty, or at most 63 letters, digits, '-', '_' or '.', " \
                   "starting and ending with a letter or digit"


def is_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_NAME.match(name)) and (
        not prefix or (len(prefix) <= 253 and bool(DNS_SUBDOMAIN.match(prefix))))


def is_label_value(value: str) -> bool:
    return value == "" or bool(_LABEL_NAME.match(value))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the config: where, what was found, what is allowed."""

    path: str
    found: Any
    allowed: str

    def __str__(self) -> str:
        return f"{self.path}: found {self.found!r}; allowed: {self.allowed}"


class SpecError(ValueError):
    """Raised once with every problem found, so a user fixes them all in one pass."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


_MISSING = object()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "the boolean"
    if isinstance(value, (int, float)):
        return "the number"
    if value is None:
        return "null:"
    return f"a {type(value).__name__}:"


@dataclass
class Problems:
    """A collector handed to every parser; `raise_if_any` ends validation."""

    items: list[Problem] = field(default_factory=list)
    sources: dict[str, Any] = field(default_factory=dict)
    """Key path -> the stack file's text of a plain scalar YAML did not read as a string
    (components.stackfile.Scalar), so a refusal can say how to quote it."""

    def text_wanted(self, path: str, value: Any, wanted: str = "a string") -> str:
        """What to say when `wanted` (some kind of string) got `value`, another type."""
        source = self.sources.get(path)
        if source is not None:
            return (f'{wanted}: YAML reads {source.text} (line {source.line}) as {_kind(value)} {value!r}; '
                    f'quote it: "{source.text}"')
        return f"{wanted} (quote numbers, booleans and dates in YAML)"

    def add(self, path: str, found: Any, allowed: str) -> None:
        self.items.append(Problem(path, found, allowed))

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError(self.items)

    # Typed readers: each returns the default (or None) after recording a problem,
    # so parsing continues and later problems are reported too.

    def mapping(self, raw: dict, key: str, path: str, default: dict | None = None) -> dict:
        value = raw.get(key, _MISSING)
        if value is _MISSING or value is None:
            return dict(default or {})
        if not isinstance(value, dict):
            self.add(path, value, "a mapping of keys to values")
            return dict(default or {})
        return value

    def integer(self, raw: dict, key: str, path: str, default: int | None, lo: int, hi: int) -> int | None:
        value = raw.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is None:
                self.add(path, None, f"an integer from {lo} to {hi} (required)")
            return default
        # YAML's .inf and .nan are floats too: no integer, and int() would raise on them.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or int(value) != value:
            self.add(path, value, f"an integer from {lo} to {hi}")
            return default
        if not lo <= value <= hi:
            self.add(path, value, f"an integer from {lo} to {hi}")
            return default
        return int(value)

    def boolean(self, raw: dict, key: str, path: str, default: bool) -> bool:
        value = raw.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            self.add(path, value, "true or false")
            return default
        return value

    def string(self, raw: dict, key: str, path: str, default: str | None) -> str | None:
        value = raw.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, str):
            self.add(path, value, self.text_wanted(path, value, "a non-empty string"))
            return default
        if not value:
            self.add(path, value, "a non-empty string")
            return default
        return value

    def choice(self, raw: dict, key: str, path: str, default: str | None, allowed: Iterable[str]) -> str | None:
        allowed = tuple(allowed)
        value = raw.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is None:
                self.add(path, None, f"one of {', '.join(allowed)} (required)")
            return default
        if value not in allowed:
            wanted = f"one of {', '.join(allowed)}"
            self.add(path, value, wanted if isinstance(value, str) else self.text_wanted(path, value, wanted))
            return default
        return value

    def string_map(self, raw: dict, key: str, path: str) -> dict[str, str]:
        value = self.mapping(raw, key, path)
        result: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                self.add(f"{path}.{k}", k, self.text_wanted(f"{path}.{k}", k, "a key that is a string"))
                continue
            if not isinstance(v, str):
                self.add(f"{path}.{k}", v, self.text_wanted(f"{path}.{k}", v))
                continue
            result[k] = v
        return result

    def matching(self, raw: dict, key: str, path: str, default: str | None, pattern: re.Pattern,
                 allowed: str) -> str | None:
        """A string the pattern matches (the default is taken as given)."""
        value = self.string(raw, key, path, default)
        if value is not None and value != default and not pattern.match(value):
            self.add(path, value, allowed)
            return default
        return value

    def private_network(self, raw: dict, key: str, path: str, default: str, allowed: str) -> str:
        """A private IPv4 range in CIDR form, normalised (10.1.0.0/16)."""
        value = self.string(raw, key, path, default) or default
        try:
            network = ipaddress.IPv4Network(value)
        except ValueError:
            network = None
        if network is None or not network.is_private:
            self.add(path, value, allowed)
            return default
        return str(network)

    def bounds(self, raw: dict, key: str, path: str, default: tuple[int, int], lo: int, hi: int,
               lo_max: int = 1) -> tuple[int, int]:
        """A `{min, max}` block: min from lo to hi, max from lo_max to hi, min <= max; else the default."""
        block = self.mapping(raw, key, path)
        self.unknown_keys(block, ("min", "max"), path)
        low = self.integer(block, "min", f"{path}.min", default[0], lo, hi)
        high = self.integer(block, "max", f"{path}.max", max(default[1], low or 0, lo_max), lo_max, hi)
        low, high = default[0] if low is None else low, default[1] if high is None else high
        if low > high:
            self.add(path, {"min": low, "max": high}, "min <= max")
            return default
        return low, high

    def unknown_keys(self, raw: dict, known: Iterable[str], path: str) -> None:
        known = tuple(known)
        for key in raw:
            if key not in known:
                self.add(f"{path}.{key}" if path else key, raw[key], f"known keys: {', '.join(known)}")

    def per_program(self, raw: dict, key: str, path: str, programs: Iterable[str],
                    check: Callable[[str], str | None]) -> dict[str, str]:
        """A map of program name (gateway, a service, ...) -> a string `check` accepts (it returns what
        is wrong, or None); entries for other names, or that `check` refuses, are reported and dropped."""
        programs = tuple(programs)
        result = {}
        for name, entry in self.string_map(raw, key, path).items():
            if name not in programs:
                self.add(f"{path}.{name}", entry, f"a program of this stack: {', '.join(programs)}")
            elif problem := check(entry):
                self.add(f"{path}.{name}", entry, problem)
            else:
                result[name] = entry
        return result


CONTAINER_USER = re.compile(r"^[0-9]+(:[0-9]+)?$")


def container_user_problem(value: str) -> str | None:
    """What is wrong with a per-program container user: "uid[:gid]" (numbers, not root), or `image` to
    keep the image's own USER."""
    if value == "image":
        return None
    if not CONTAINER_USER.match(value):
        return '"uid" or "uid:gid" (numbers), or image to keep the image\'s USER'
    if value.split(":")[0] == "0":
        return "a non-root uid (not 0); image keeps the image's USER"
    return None


def shell_command_problem(value: str) -> str | None:
    """What is wrong with a per-program container health check: a shell command on one line, or none."""
    return None if value.strip() and "\n" not in value else "a shell command on one line, or none"
