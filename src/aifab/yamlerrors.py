"""YAML syntax errors in plain words, at the line that needs the fix.

libyaml reports where it gave up, in its own terms ("while scanning a simple key, could not find
expected ':'"), often a line after the mistake: a key without its colon runs on into the next
line as one plain scalar. Each error keeps libyaml's words in the message and gets a hint that
says what to change; where the mistake lies elsewhere (a missing colon, an unclosed quote or
bracket) the finding moves to that line. Only what is really on the line is mentioned: no tab
hint without a tab, no quoting hint where the value is quoted already.
"""

from __future__ import annotations

from typing import Any

import yaml

from aifab.escape import clipped

SPACES = "YAML indentation uses spaces only; replace tabs with spaces"
NO_COLON = "YAML syntax error: a key without ':'"
FALLBACK = ("YAML could not read the file from here: check this line and the one above for "
            "indentation (spaces only), an unclosed quote or bracket, or a key without ': '")


def explain(exc: yaml.YAMLError, text: str, line: int, col: int) -> tuple[int, int, str, str]:
    """(line, col, message, hint) for a libyaml error first placed at (line, col)."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None) or ""
    message = f"YAML syntax error: {context + ', ' if context else ''}{problem}"
    lines = text.splitlines()
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    start = _mark(getattr(exc, "context_mark", None)) or (line, col)
    at = here[col - 1] if 0 < col <= len(here) else ""

    if "tab" in problem or (at == "\t" and "cannot start any token" in problem):
        return line, col, message, SPACES
    if "cannot start any token" in problem:
        return line, col, message, (f"'{at}' cannot start a plain value: put the value in "
                                    "quotes" if at else FALLBACK)
    if "could not find expected ':'" in problem:
        return (*start, NO_COLON + " (or a value that runs on over several lines)",
                _colon_hint(lines, start[0]))
    if "mapping values are not allowed" in problem:
        return _mapping_values(lines, line, col, message)
    if "quoted scalar" in context and "end of stream" in problem:
        return (*start, "YAML syntax error: a quoted value is never closed",
                "add the closing quote (a quote inside the value is doubled: 'it''s')")
    if "unknown escape character" in problem:
        return line, col, message, ("inside double quotes a backslash starts an escape: use "
                                    "single quotes, or write two backslashes")
    if "flow" in context and "did not find expected" in problem:
        return line, col, message, (f"the '[' or '{{' opened on line {start[0]} is not closed: "
                                    "close it there, or quote the value")
    if "did not find expected key" in problem and _closes_quote_before(here, col):
        return line, col, message, ("only a comment may follow a quoted value on its line: put "
                                    "the whole value inside the quotes")
    if "did not find expected" in problem or "expected <block end>" in problem:
        return line, col, message, ("this line is not indented like the keys (or '- ' items) "
                                    "above it: align it with them, using spaces")
    return line, col, message, FALLBACK


def _mark(mark: Any) -> tuple[int, int] | None:
    return (mark.line + 1, mark.column + 1) if mark is not None else None


def _colon_hint(lines: list[str], line: int) -> str:
    words = (lines[line - 1] if 0 < line <= len(lines) else "").strip().split(None, 1)
    if len(words) == 2:
        return clipped(f"a key is followed by ': ' and its value: write '{words[0]}: {words[1]}'")
    return "a key is followed by ':' (and its value, or the indented keys under it)"


def _mapping_values(lines: list[str], line: int, col: int, message: str
                    ) -> tuple[int, int, str, str]:
    """': ' where libyaml reads a plain value: a value with ': ' in it, a key without its colon
    on a line above, or a key indented under one that has a value."""
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    before = here[: col - 1]
    if ": " in before:  # `key: a: b`
        if _closes_quote_before(here, col):
            return line, col, message, ("only a comment may follow a quoted value on its line: "
                                        "put the whole value inside the quotes")
        return line, col, message, "a value containing ': ' must be quoted"
    above = next((n for n in range(line - 1, 0, -1)
                  if lines[n - 1].strip() and not lines[n - 1].lstrip().startswith("#")), 0)
    if above and ":" not in lines[above - 1].split(" #")[0]:
        indent = len(lines[above - 1]) - len(lines[above - 1].lstrip())
        return (above, indent + 1, NO_COLON + " (the next line is read as part of its value)",
                _colon_hint(lines, above))
    return line, col, message, ("this key is indented deeper than the keys above it, under a "
                                "key that has a value already: align it with them")


def _closes_quote_before(line: str, col: int) -> bool:
    """Whether a quoted scalar ends before column `col` of the line (`key: "x" y`)."""
    text = line[: col - 1].rstrip()
    return text.endswith(('"', "'")) and ": " in text
