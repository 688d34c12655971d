"""Reporters: findings as text for people, JSON for tools, workflow commands for GitHub,
SARIF for code scanning.

Findings quote what blueprints say (keys, values, source lines, file names), and blueprints come
from pull requests: a key with ESC sequences could clear or fake a terminal or CI log, a bidi
override (U+202E) could reorder what a reviewer reads. The text and GitHub reporters show every
character Python does not call printable (controls C0 and C1, DEL, format and bidi characters,
line and paragraph separators, spaces other than ' ') as its Python escape (ESC as `\\x1b`,
U+202E as `\\u202e`); JSON and SARIF stay exact JSON with such characters as `\\u` escapes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from aifab.diagnostics import Finding, Severity
from aifab.escape import printable
from aifab.terminal import count, number, paint, relative, use_color

SourceLines = Mapping[str, Sequence[str]]


def summary(findings: Sequence[Finding], files: int, color: bool = False) -> str:
    shown = [f for f in findings if not f.suppressed]
    errors = sum(f.is_error for f in shown)
    warnings = len(shown) - errors
    blueprints = count(files, "blueprint")
    silenced = len(findings) - len(shown)
    accepted = f" ({number(silenced)} accepted by `# aifab: ignore`)" if silenced else ""
    if not shown:
        return paint(f"{blueprints} valid", "ok", color) + accepted
    return (paint(count(errors, "error"), "error", color and errors > 0) + ", "
            + paint(count(warnings, "warning"), "warning", color and warnings > 0)
            + f" in {blueprints}{accepted}")


def text(findings: Sequence[Finding], sources: SourceLines, files: int, *,
         color: bool = False) -> str:
    """`file:line:col: error AF301 message`, the source line with a caret, then the hint
    (findings accepted by `# aifab: ignore` are counted in the summary only). File names
    under the current directory are shown relative to it; `color` adds ANSI colours."""
    out = []
    for f in (f for f in findings if not f.suppressed):
        level = "error" if f.is_error else "warning"
        out.append(paint(printable(f"{relative(f.file)}:{f.line}:{f.col}:"), "bold", color)
                   + " " + paint(f.severity.value, level, color)
                   + printable(f" {f.code} {f.message}"))
        if f.path:
            out.append(printable(f"  at {f.json_path}"))
        lines = sources.get(f.file, ())
        if 0 < f.line <= len(lines):
            source, caret = _excerpt(lines[f.line - 1].expandtabs(1), f.col)
            before = printable(source[:caret])
            gutter = f"{f.line:>5} | "
            out.append(gutter + before + printable(source[caret:]))
            out.append(" " * (len(gutter) - 2) + "| " + " " * len(before)
                       + paint("^", level, color))
        if f.hint:
            out.append(paint("  hint:", "note", color) + printable(f" {f.hint}"))
    out.append(summary(findings, files, color))
    return "\n".join(out)


def report(fmt: str, findings: Sequence[Finding], sources: SourceLines, files: int,
           stream: IO[Any] | None = None) -> str:
    """The findings in format `fmt` for `stream` (standard output by default): text gets
    colour where aifab.terminal.use_color allows it, the other formats never do."""
    stream = sys.stdout if stream is None else stream
    if fmt == "text":
        return text(findings, sources, files, color=use_color(stream, fmt))
    return FORMATS[fmt](findings, sources, files)


EXCERPT = 120  # characters of a source line shown around the column


def _excerpt(line: str, col: int) -> tuple[str, int]:
    """At most EXCERPT characters of `line` around column `col`, and the caret's offset."""
    if len(line) <= EXCERPT:
        return line, col - 1
    start = max(0, min(col - 1 - EXCERPT // 2, len(line) - EXCERPT))
    text = line[start : start + EXCERPT]
    head = "..." if start else ""
    tail = "..." if start + EXCERPT < len(line) else ""
    return head + text + tail, len(head) + col - 1 - start


def as_json(findings: Sequence[Finding], sources: SourceLines, files: int) -> str:
    """ASCII JSON: every other character is a `\\u` escape."""
    return json.dumps(
        {
            "findings": [
                {
                    "file": f.file,
                    "line": f.line,
                    "column": f.col,
                    "severity": f.severity.value,
                    "code": f.code,
                    "message": f.message,
                    "path": f.json_path,
                    "hint": f.hint,
                    **({"suppressed": f.suppressed} if f.suppressed else {}),
                }
                for f in findings
            ],
            "summary": {
                "files": files,
                "errors": sum(f.is_error for f in findings),
                "warnings": sum(not f.is_error and not f.suppressed for f in findings),
                **({"suppressed": sum(bool(f.suppressed) for f in findings)}
                   if any(f.suppressed for f in findings) else {}),
            },
        },
        indent=2,
    )


def github(findings: Sequence[Finding], sources: SourceLines, files: int) -> str:
    """GitHub Actions workflow commands: annotations on the pull request's lines.

    Escaping follows the runner's rules (actions/toolkit, command.ts): data escapes % CR LF;
    property values also escape ':' and ','.
    """
    out = []
    for f in (f for f in findings if not f.suppressed):
        level = "error" if f.severity is Severity.ERROR else "warning"
        message = printable(f.message + (f" ({f.json_path})" if f.path else "") +
                            (f". Hint: {f.hint}" if f.hint else ""))
        props = ",".join(
            f"{k}={_escape_property(printable(str(v)))}"
            for k, v in (("file", relative(f.file)), ("line", f.line), ("col", f.col),
                         ("title", f.code))
        )
        out.append(f"::{level} {props}::{_escape_data(message)}")
    out.append(summary(findings, files))
    return "\n".join(out)


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def sarif(findings: Sequence[Finding], sources: SourceLines, files: int) -> str:
    """SARIF 2.1.0 for code scanning (aifab/sarif.py, imported only when asked for)."""
    from aifab.sarif import sarif as log

    return log(findings, sources, files)


FORMATS: dict[str, Callable[[Sequence[Finding], SourceLines, int], str]] = {
    "text": text,
    "json": as_json,
    "github": github,
    "sarif": sarif,
}
