"""Text made safe to print: a blueprint's keys and values reach terminals and CI logs, where
control characters (ESC, BEL, CR, C1) and bidi overrides could clear or fake what is shown."""

from __future__ import annotations


def printable(value: str) -> str:
    """`value` with every character a terminal could act on shown as its Python escape."""
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else _escape(c) for c in value)


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def json_safe(document: str) -> str:
    """A JSON text with the characters `printable` escapes written as `\\u` escapes (they can
    only stand inside its strings), so it reads as the same data and prints harmlessly."""
    if all(line.isprintable() for line in document.split("\n")):
        return document
    return "".join(c if c.isprintable() or c == "\n" else _json_escape(c) for c in document)


def _json_escape(char: str) -> str:
    units = char.encode("utf-16-be")
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}"
                   for i in range(0, len(units), 2))


def clipped(text: str, limit: int = 160) -> str:
    """At most `limit` characters of `text`: a hostile value can be a megabyte long, and the
    words about it stay a line."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
