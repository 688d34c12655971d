"""The validation pipeline: load -> validate (schema) -> resolve -> check (rules).

Cheap stages run first; the rules only see a blueprint that loaded and matched the schema, so
they can trust types and never crash on malformed input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path as FsPath

from aifab.diagnostics import Finding, finding, sorted_unique
from aifab.load import Document, load_file
from aifab.model import Cluster

CODES = {
    "AF001": "path not found",
    "AF002": "no blueprints found",
}

BLUEPRINT_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Result:
    """One blueprint's outcome: the model (None when it did not get that far) and findings."""

    document: Document
    cluster: Cluster | None
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not any(f.is_error for f in self.findings)


def blueprint_files(paths: Iterable[str]) -> tuple[list[FsPath], list[Finding]]:
    """Expand files and directories (their *.yaml files, sorted) given on the command line."""
    files: list[FsPath] = []
    problems: list[Finding] = []
    for given in paths:
        path = FsPath(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in BLUEPRINT_SUFFIXES and p.is_file())
            if not found:
                problems.append(_at(given, finding("AF002", f"no *.yaml blueprints in {given}",
                                                   hint="pass a blueprint file or a folder of them")))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(_at(given, finding("AF001", f"{given} does not exist",
                                               hint="check the path; blueprints live in blueprints/")))
    return files, problems


def _at(file: str, f: Finding) -> Finding:
    from dataclasses import replace

    return replace(f, file=file, line=1, col=1)


def run(path: FsPath) -> Result:
    """Load, validate, resolve and check one blueprint file."""
    from aifab.check import check
    from aifab.resolve import resolve
    from aifab.validate import validate

    doc = load_file(path)
    findings = list(doc.findings)
    if doc.data is None:
        return Result(doc, None, tuple(sorted_unique(findings)))
    reported = {f.path for f in findings}
    findings += [f for f in validate(doc) if f.path not in reported]
    if any(f.is_error for f in findings):
        return Result(doc, None, tuple(sorted_unique(findings)))
    cluster = resolve(doc.data, doc.file)
    findings += [doc.place(f) for f in check(cluster)]
    return Result(doc, cluster, tuple(sorted_unique(findings)))


def run_all(paths: Iterable[FsPath]) -> Iterator[Result]:
    for path in paths:
        yield run(path)
