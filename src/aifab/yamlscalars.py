"""How YAML readers type a plain (unquoted) scalar, by YAML 1.2 and by YAML 1.1.

The loader refuses plain scalars the two disagree on (`NO`, `on`, `0755`, `1e3`, dates); the
renderer quotes every string that any reader could take for something else. One table, both
directions, so what we refuse to read we also never write unquoted.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

TAG = "tag:yaml.org,2002:"
MAX_NUMBER_CHARS = 32

_YAML11 = Resolver()  # PyYAML's YAML 1.1 implicit resolution
_YAML11_VALUES = SafeConstructor()  # ... and its reading of 1.1 numbers (0755, 1:30, 0b101)

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
INF_NAN = re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
# Single-letter booleans of the YAML 1.1 spec that Go yaml.v2 reads and PyYAML does not
_BOOL11_LETTERS = re.compile(r"^(?:y|Y|n|N)$")

TOO_BIG = object()


def resolve12(text: str) -> Any:
    """The value of a plain scalar by the YAML 1.2 core schema (TOO_BIG for absurd numbers)."""
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text.lower() == "true"
    if len(text) > MAX_NUMBER_CHARS and (_INT10.match(text) or _FLOAT.match(text)):
        return TOO_BIG
    if _INT10.match(text):
        return int(text, 10)
    if _INT8.match(text):
        return int(text[2:], 8)
    if _INT16.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if INF_NAN.match(text):
        return math.nan
    return text


def tag11(text: str) -> str:
    return _YAML11.resolve(yaml.ScalarNode, text, (True, False))


def describe12(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, int):
        return f"the number {value}"
    return "a string"


def describe11(text: str) -> str | None:
    """How a YAML 1.1 reader sees a plain scalar, in the words of `describe12`."""
    if _BOOL11_LETTERS.match(text):
        return f"the boolean {'true' if text in 'yY' else 'false'}"
    kind = tag11(text).removeprefix(TAG)
    if kind == "bool":
        return f"the boolean {'true' if text.lower() in ('yes', 'true', 'on') else 'false'}"
    if kind == "null":
        return "null"
    if kind == "timestamp":
        return "a date"
    if kind in ("int", "float"):
        construct = (_YAML11_VALUES.construct_yaml_int if kind == "int"
                     else _YAML11_VALUES.construct_yaml_float)
        try:
            value = construct(yaml.ScalarNode(TAG + kind, text))
        except (yaml.YAMLError, ValueError):
            return None
        if isinstance(value, float):
            return f"the number {value:g}" if math.isfinite(value) else None
        return f"the number {value}"
    if kind == "merge":
        return "a merge key ('<<')"
    if kind == "value":
        return "a value key ('=')"
    return "a string"


def disagreement(text: str) -> str | None:
    """How YAML 1.1 reads `text` when YAML 1.2 reads it differently, else None."""
    reading11 = describe11(text)
    value = resolve12(text)
    if reading11 is None or value is TOO_BIG:
        return None
    return reading11 if reading11 != describe12(value) else None


# Lower-case words of letters, digits and '-' longer than any keyword (`false`): every YAML
# 1.1 and 1.2 rule that reads a plain scalar as something else needs a digit, sign or dot
# first, or is one of the short words true/false/yes/no/on/off/y/n/null. Node names are such
# words, 60,000 of them in a national fleet, each different: they skip the full check.
LONG_WORD = re.compile(r"[a-z][a-z0-9-]{5,}\Z")


def needs_quotes(text: str) -> bool:
    """True when some YAML reader (1.1 or 1.2) would not read `text`, unquoted, as a string."""
    return not LONG_WORD.match(text) and _needs_quotes(text)


@lru_cache(maxsize=1 << 16)  # generated trees repeat the same label keys and values
def _needs_quotes(text: str) -> bool:
    return (
        not isinstance(resolve12(text), str)
        or bool(INF_NAN.match(text))
        or describe11(text) != "a string"
    )
