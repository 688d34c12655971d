"""Which fields of a changed object changed, as `helm diff` shows them: per field its path
(`spec.template.spec.containers[0].image`) and the old and new value, for changed values,
added and removed keys, and added and removed list items.

Lists whose items are mappings with unique `name`s (containers, volumes, env, flavors) are
paired by name, so inserting one item shows one added item rather than every later item
changed; other lists are compared position by position. The work is bounded: at most
MAX_FIELDS changes per object, values shown up to VALUE_CHARS characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

MAX_FIELDS = 50  # changes listed per object; the count of the rest is kept
VALUE_CHARS = 80
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    change: str  # added | removed | changed
    before: Any = None
    after: Any = None

    def line(self) -> str:
        """`path: old -> new`, `path: +new` or `path: -old`, each value short JSON."""
        if self.change == "added":
            return f"{self.path}: + {shown(self.after)}"
        if self.change == "removed":
            return f"{self.path}: - {shown(self.before)}"
        return f"{self.path}: {shown(self.before)} -> {shown(self.after)}"


def shown(value: Any) -> str:
    """A value as compact JSON, cut to VALUE_CHARS characters."""
    text = json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 3] + "..."


def _key(path: str, key: Any) -> str:
    text = str(key)
    if _IDENTIFIER.fullmatch(text):
        return f"{path}.{text}" if path else text
    return f"{path}[{json.dumps(text, ensure_ascii=False)}]"


def _named(items: Sequence[Any]) -> dict[str, int] | None:
    """Index by name when every item is a mapping with a unique string `name`."""
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    if not items or any(not isinstance(n, str) for n in names) or len(set(names)) < len(names):
        return None
    return {name: index for index, name in enumerate(names)}


def _walk(path: str, old: Any, new: Any) -> Iterator[FieldChange]:
    if old is _MISSING:
        yield FieldChange(path, "added", after=new)
    elif new is _MISSING:
        yield FieldChange(path, "removed", before=old)
    elif isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            yield from _walk(_key(path, key), old.get(key, _MISSING), new.get(key, _MISSING))
    elif isinstance(old, list) and isinstance(new, list):
        yield from _items(path, old, new)
    elif old != new or type(old) is not type(new):
        yield FieldChange(path, "changed", old, new)


def _items(path: str, old: list[Any], new: list[Any]) -> Iterator[FieldChange]:
    before, after = _named(old), _named(new)
    if before is not None and after is not None:
        for name, index in after.items():
            yield from _walk(f"{path}[{index}]", old[before[name]] if name in before else
                             _MISSING, new[index])
        for name, index in before.items():
            if name not in after:
                yield FieldChange(f"{path}[{index}]", "removed", before=old[index])
        return
    for index in range(max(len(old), len(new))):
        yield from _walk(f"{path}[{index}]", old[index] if index < len(old) else _MISSING,
                         new[index] if index < len(new) else _MISSING)


def field_changes(old: Any, new: Any) -> tuple[list[FieldChange], int]:
    """The changes from `old` to `new` (at most MAX_FIELDS) and how many there are in all."""
    listed: list[FieldChange] = []
    total = 0
    for change in _walk("", old, new):
        total += 1
        if len(listed) < MAX_FIELDS:
            listed.append(change)
    return listed, total


def object_changes(before: bytes, after: bytes) -> tuple[list[FieldChange], int] | None:
    """The field changes between two rendered YAML objects (aifab's own canonical output);
    None when either side is not one YAML mapping."""
    try:
        old = yaml.load(before, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        new = yaml.load(after, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    if not isinstance(old, dict) or not isinstance(new, dict):
        return None
    return field_changes(old, new)
