"""Findings a team chose to accept: `# aifab: ignore AF334 <reason>` in the blueprint.

The comment silences the codes it names on its own line, or, standing alone on its line, on the
line below. Only rule findings can be silenced (AF3xx of check/, AF6xx of fleets): what the
loader and the schema refuse (AF1xx, AF2xx) stops the pipeline before any rule runs, so there is
nothing to accept. A silenced finding keeps its place in JSON and SARIF with the reason, is left
out of text and GitHub output and of the exit code (`--strict` too). In a cluster's own file, an
ignore without a reason (AF010) or one that silences nothing (AF011) is a warning, so stale
ignores do not pile up; a fleet file's ignores silence its clusters' findings too, and are not
checked for use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from aifab.diagnostics import Finding, Severity

CODES = {
    "AF010": "aifab ignore comment without a reason",
    "AF011": "aifab ignore comment that silences nothing",
}

IGNORE = re.compile(r"#\s*aifab:\s*ignore\s+(?P<codes>AF\d{3}(?:\s*,\s*AF\d{3})*)"
                    r"(?:\s+(?P<reason>\S.*?))?\s*$")
SILENCEABLE = ("AF3", "AF45", "AF6")  # rule findings; load and schema findings stop the pipeline


@dataclass(frozen=True, slots=True)
class Ignore:
    file: str
    line: int  # where the comment is
    col: int
    target: int  # the line it silences
    codes: tuple[str, ...]
    reason: str


def ignores(file: str, text: str) -> list[Ignore]:
    """The ignore comments of a file. A `#` inside quotes is not a comment: the part before the
    match must hold an even number of each quote character."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if "aifab:" not in line or (m := IGNORE.search(line)) is None:
            continue
        before = line[:m.start()]
        if before.count('"') % 2 or before.count("'") % 2:
            continue
        codes = tuple(code.strip() for code in m["codes"].split(","))
        target = number + 1 if not before.strip() else number
        found.append(Ignore(file, number, m.start() + 1, target, codes, m["reason"] or ""))
    return found


def apply(findings: Iterable[Finding], texts: Mapping[str, str],
          own: str | None = None) -> list[Finding]:
    """`findings` with the silenced ones marked by the ignores of `texts` (file -> text), and a
    warning for each faulty ignore of the file `own`."""
    comments = [i for file, text in sorted(texts.items()) for i in ignores(file, text)]
    by_place = {(i.file, i.target, code): i for i in comments for code in i.codes}
    used: set[Ignore] = set()
    out = []
    for f in findings:
        found = by_place.get((f.file, f.line, f.code))
        if found is not None and f.code.startswith(SILENCEABLE):
            used.add(found)
            f = replace(f, suppressed=found.reason or "(no reason given)")
        out.append(f)
    for i in (c for c in comments if c.file == own):
        if not i.reason:
            out.append(Finding(i.file, i.line, i.col, "AF010", Severity.WARNING,
                               f"this ignore of {', '.join(i.codes)} gives no reason",
                               hint="say why the finding is accepted, e.g. "
                               f"'# aifab: ignore {i.codes[0]} pilot rack, full SU in Q3'"))
        if i not in used:
            out.append(Finding(i.file, i.line, i.col, "AF011", Severity.WARNING,
                               f"this ignore of {', '.join(i.codes)} silences nothing on line "
                               f"{i.target}", hint="remove it, or move it to the line the "
                               "finding points at (only rule findings, AF3xx and AF6xx, can "
                               "be silenced)"))
    return out
