"""Findings: the one shape every stage uses to report a problem to the user.

Semantic code names a JSON path; positions are filled in from the loaded document's position
map (computed once, at load), so no rule ever thinks about lines and columns.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

Path = tuple[str | int, ...]


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """A problem at a place in a file. Ordered by file, line and column for stable output."""

    file: str
    line: int
    col: int
    code: str
    severity: Severity
    message: str
    path: Path = ()
    hint: str = ""
    suppressed: str = ""  # why the team accepts it (`# aifab: ignore`, suppress.py); "" if not

    @property
    def json_path(self) -> str:
        return format_path(self.path)

    @property
    def is_error(self) -> bool:
        """An error that counts: not one the blueprint's authors silenced."""
        return self.severity is Severity.ERROR and not self.suppressed


def finding(
    code: str,
    message: str,
    path: Path = (),
    *,
    hint: str = "",
    severity: Severity = Severity.ERROR,
) -> Finding:
    """A finding that does not know its place yet; `Document.place` fills file, line and column."""
    return Finding("", 0, 0, code, severity, message, tuple(path), hint)


def warning(code: str, message: str, path: Path = (), *, hint: str = "") -> Finding:
    return finding(code, message, path, hint=hint, severity=Severity.WARNING)


def present(data: object, path: Path) -> Path:
    """The longest start of `path` that is in `data`: a finding about a key the blueprint
    leaves out (a default) names the mapping where it would go, never the absent key."""
    for depth, part in enumerate(path):
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_list or isinstance(data, dict) and part in data):
            return path[:depth]
        data = data[part]  # type: ignore[index]
    return path


def format_path(path: Path) -> str:
    """`spec.nodePools[1].mig.config`: the form users see in errors and in `--format json`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(document)"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A 'did you mean ...?' hint, or '' when nothing is close enough to be useful."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def one_of(choices: Iterable[str]) -> str:
    return ", ".join(f"'{c}'" for c in choices)


def sorted_unique(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(set(findings))


def with_strict(findings: Sequence[Finding], strict: bool) -> list[Finding]:
    """`--strict`: warnings count as errors."""
    if not strict:
        return list(findings)
    return [replace(f, severity=Severity.ERROR) for f in findings]
