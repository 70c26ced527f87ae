"""`@args_class`: the one decorator every component's Args uses.

It makes a frozen dataclass, and then makes the fields that have a default optional in the
Pulumi package schema. Pulumi's component provider (which serves the components to TypeScript,
Go, C# and YAML) reads a class's annotations and treats every field as required unless its
annotation is `Optional[...]`; so the annotations of defaulted fields are widened to `Optional`
after the dataclass is built. A program in another language may then leave such a field out,
and None (what a left-out or null field arrives as) is replaced by the field's default, so the
component never sees None where the Python signature promises a value.
"""
import dataclasses
from typing import Optional


def _has_default(f: dataclasses.Field) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _default(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def _defaults_for_none(self) -> None:
    for f in dataclasses.fields(self):
        if _has_default(f) and getattr(self, f.name) is None:
            object.__setattr__(self, f.name, _default(f))


def args_class(cls):
    cls.__post_init__ = _defaults_for_none  # before the dataclass is built, so its __init__ calls it
    cls = dataclasses.dataclass(frozen=True)(cls)
    defaulted = [f for f in dataclasses.fields(cls) if _has_default(f)]
    annotations = dict(cls.__dict__.get("__annotations__", {}))
    for f in defaulted:
        # Optional[...] on purpose: the annotation may be a string (`from __future__ import annotations`),
        # which `X | None` cannot take.
        annotations[f.name] = Optional[annotations[f.name]]  # noqa: UP045
    cls.__annotations__ = annotations
    return cls
