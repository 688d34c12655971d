"""Why a string does not match its schema pattern, in words: which part of it fails.

jsonschema only says that a value does not match a regular expression; an operator needs to
know what to change. The checks read the pattern itself (its character classes, its hostname
placeholders, whether it wants a URL), so they follow the schema rather than a copy of it, and
each says nothing when it does not apply. Bounded work: a pass over the value per check.
"""

from __future__ import annotations

import difflib
import re
from functools import cache

from aifab.escape import clipped

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAMES = re.compile(r"\\\{\(([a-z|]+)\)")  # the placeholder names of a hostname pattern


def explain(value: str, pattern: str) -> tuple[str, str]:
    """(what is wrong, what to write instead) for `value` against `pattern`; ('', '') when no
    part can be named."""
    for reason in (_scheme, _placeholders, _upper_case, _characters, _ends):
        if found := reason(value, pattern):
            return clipped(found[0]), clipped(found[1])
    return "", ""


def _scheme(value: str, pattern: str) -> tuple[str, str] | None:
    m = _SCHEME.match(value)
    if not m or "://" in pattern:
        return None
    rest = value[m.end():].rstrip("/")
    return (f"'{m[0]}' is a URL scheme, but a host is expected here (host[:port][/path])",
            f"write '{rest}', without '{m[0]}'")


def _placeholders(value: str, pattern: str) -> tuple[str, str] | None:
    names = _NAMES.search(pattern)
    if not names:
        return None
    allowed = names[1].split("|")
    shown = ", ".join(f"{{{n}}}" for n in allowed)
    for m in _PLACEHOLDER.finditer(value):
        name, colon, spec = m[1].partition(":")
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            return (f"'{m[0]}' is not a placeholder: hostnames can use {shown}",
                    f"did you mean '{{{close[0]}{colon}{spec}}}'?" if close
                    else f"use one of {shown}")
        if colon and not re.fullmatch(r"0[1-9]d", spec):
            width = re.match(r"0?([1-9])", spec)
            fixed = f"{{{name}:0{width[1] if width else 2}d}}"
            missing = "has no 'd' at the end" if not spec.endswith("d") else "is not zero-padded"
            why = (f"the format of '{m[0]}' {missing}: a placeholder is {{name}} or "
                   "{name:0Nd}, N digits padded with zeros")
            return why, f"write '{fixed}'"
    if re.search(r"[{}]", _PLACEHOLDER.sub("", value)):
        return (f"a '{{' or '}}' without its pair: hostnames can use {shown}",
                "close each '{' with '}'")
    return None


def _upper_case(value: str, pattern: str) -> tuple[str, str] | None:
    upper = sorted({c for c in value if c.isupper()})
    if not upper or "A-Z" in pattern or not _matches(pattern, value.lower()):
        return None
    letters = ", ".join(f"'{c}'" for c in upper)
    return (f"upper case {letters} where only lower case is allowed",
            f"write '{value.lower()}'")


def _characters(value: str, pattern: str) -> tuple[str, str] | None:
    allowed = _alphabet(pattern)
    if allowed is None:
        return None
    bad = sorted({c for c in value if not allowed.fullmatch(c)})
    if not bad:
        return None
    verb = "is" if len(bad) == 1 else "are"
    return f"{', '.join(repr(c) for c in bad)} {verb} not allowed here", ""


def _ends(value: str, pattern: str) -> tuple[str, str] | None:
    if value and not (value[0].isalnum() and value[-1].isalnum()) and "[a-z0-9]" in pattern:
        return "it must start and end with a letter or a digit", ""
    return None


@cache
def _alphabet(pattern: str) -> re.Pattern[str] | None:
    """Every single character the pattern can accept anywhere: its character classes and its
    escaped literals; None for a pattern with a wildcard, which accepts anything."""
    body = re.sub(r"\\\{\([a-z|]+\)[^}]*\\\}", "", pattern)  # hostname placeholders
    if re.search(r"(?<!\\)\.", re.sub(r"\[[^\]]*\]", "", body)):
        return None
    classes = re.findall(r"\[[^\]]*\]", body)
    literals = re.findall(r"\\([^A-Za-z0-9])", re.sub(r"\[[^\]]*\]", "", body))
    parts = classes + [re.escape(c) for c in literals]
    return re.compile("|".join(parts)) if parts else None


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _matches(pattern: str, value: str) -> bool:
    return _compiled(pattern).search(value) is not None and not value.endswith("\n")
