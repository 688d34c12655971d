"""The validation pipeline: load -> validate (schema) -> resolve -> check (rules).

Cheap stages run first; the rules only see a blueprint that loaded and matched the schema, so
they can trust types and never crash on malformed input. A blueprint whose only schema errors
are unknown keys is checked without them, so the rules' findings come in the same run.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from aifab import suppress
from aifab.diagnostics import Finding, Severity, finding, sorted_unique
from aifab.load import Document, load_file
from aifab.model import Cluster

if TYPE_CHECKING:
    from aifab.fleet.compose import MergedDocument
    from aifab.fleet.model import Fleet
    from aifab.memo import Memo

CODES = {
    "AF001": "path not found",
    "AF002": "no blueprints found",
    "AF003": "folder cannot be read",
    "AF004": "blueprint is a link out of the repository",
}

BLUEPRINT_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Result:
    """One blueprint's outcome: the model (None when it did not get that far) and findings.

    A fleet's Result has no cluster of its own: its findings are the fleet-wide ones and
    `members` holds one Result per cluster of the fleet, and `fleet` the resolved fleet when
    every cluster resolved (what `aifab plan` shows of sites and allocations).
    """

    document: Document | MergedDocument
    cluster: Cluster | None
    findings: tuple[Finding, ...]
    members: tuple[Result, ...] = ()
    fleet: Fleet | None = None

    @property
    def ok(self) -> bool:
        return not any(f.is_error for f in self.findings)


def flatten(results: Iterable[Result]) -> Iterator[Result]:
    """Every Result, a fleet's followed by its clusters'."""
    for result in results:
        yield result
        yield from result.members


def blueprint_files(paths: Iterable[str]) -> tuple[list[FsPath], list[Finding]]:
    """Expand files and directories (their *.yaml files, sorted) given on the command line.

    A blueprint that is a link to a file outside its repository is refused (AF004), unread:
    blueprints come from pull requests, and a link to ~/.aws/credentials would otherwise be
    read and its lines quoted in findings (fleet file references are confined the same way,
    fleet.compose)."""
    files: list[FsPath] = []
    problems: list[Finding] = []
    for given in paths:
        path = FsPath(given)
        if path.is_dir():
            try:
                found = sorted(p for p in path.iterdir()
                               if p.suffix in BLUEPRINT_SUFFIXES and p.is_file())
            except OSError as e:
                problems.append(_at(given, finding(
                    "AF003", f"cannot read the folder {given}: {e.strerror or e}",
                    hint="check its permissions (aifab needs to list it)")))
                continue
            if not found:
                problems.append(_at(given, finding("AF002", f"no *.yaml blueprints in {given}",
                                                   hint="pass a blueprint file or a folder of them")))
            for file in found:
                _confined(file, files, problems)
        elif path.is_file():
            _confined(path, files, problems)
        else:
            problems.append(_at(given, finding("AF001", f"{given} does not exist",
                                               hint="check the path; blueprints live in blueprints/")))
    return files, problems


def _confined(path: FsPath, files: list[FsPath], problems: list[Finding]) -> None:
    """Add `path` to `files`, or an AF004 to `problems` when it leads out of the repository
    the path is in (the nearest folder above it, as written, with a .git; else its folder)."""
    here = FsPath(os.path.abspath(path))
    root = next((f for f in here.parents if (f / ".git").exists()), here.parent).resolve()
    try:
        inside = path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a loop of links
        inside = False
    if inside:
        files.append(path)
        return
    problems.append(_at(str(path), finding(
        "AF004", f"{path} is a symbolic link to a file outside the repository ({root}); "
        "it was not read", hint="a blueprint lives in the repository: replace the link with "
        "the file, or pass the file's own path")))


def _at(file: str, f: Finding) -> Finding:
    return replace(f, file=file, line=1, col=1)


def run(path: FsPath, memo: Memo | None = None) -> Result:
    """Load one blueprint file (a Cluster or a Fleet), validate, resolve and check it. With a
    `memo`, a cluster this process validated before from the same texts is not validated again."""
    return run_document(load_file(path, memo=memo), FsPath(path), memo)


def run_document(doc: Document, location: FsPath | None = None,
                 memo: Memo | None = None) -> Result:
    """Validate, resolve and check a loaded document (a Cluster or a Fleet). `location` is the
    file on disk when its display name (`doc.file`) is not a usable path."""
    if doc.data is not None and doc.data.get("kind") == "Fleet":
        return _fleet(doc, location, memo)
    return _validated(doc, memo)


def _validated(doc: Document | MergedDocument, memo: Memo | None) -> Result:
    """The cluster's Result, from the memo when its inputs are unchanged: a Result depends on
    nothing but the texts its document was read from (and the process's catalog)."""
    if memo is None:
        return _cluster(doc)
    layers = tuple((layer.doc.file, layer.doc.text, layer.merged, layer.written)
                   for layer in getattr(doc, "layers", ()))
    return memo.get(("cluster", doc.file, doc.text, doc.findings, layers), lambda: _cluster(doc))


def _schema_findings(doc: Document | MergedDocument, kind: str) -> list[Finding]:
    from aifab.validate import validate

    findings = list(doc.findings)
    reported = {f.path for f in findings}  # a load finding already said what is wrong there
    return findings + [f for f in validate(doc, kind) if f.path not in reported]


def _cluster(doc: Document | MergedDocument) -> Result:
    from aifab.check import check
    from aifab.resolve import resolve

    if doc.data is None:
        return Result(doc, None, tuple(sorted_unique(doc.findings)))
    findings = _schema_findings(doc, "Cluster")
    if any(f.is_error for f in findings):
        rest = _without_unknown_keys(doc.data, findings)
        if rest is None:
            return Result(doc, None, tuple(sorted_unique(findings)))
        # only unknown keys: the rules judge the rest, so one typo does not hide them all
        found = suppress.apply([doc.place(f) for f in check(resolve(rest, doc.file))],
                               _texts(doc), own=doc.file)
        return Result(doc, None, tuple(sorted_unique(findings + found)))
    cluster = resolve(doc.data, doc.file)
    found = suppress.apply([doc.place(f) for f in check(cluster)], _texts(doc), own=doc.file)
    cluster = replace(cluster, warnings=tuple(sorted_unique(
        f for f in found if f.severity is Severity.WARNING and not f.suppressed)))
    return Result(doc, cluster, tuple(sorted_unique(findings + found)))


def _without_unknown_keys(data: Any, findings: list[Finding]) -> Any | None:
    """The cluster's data without its unknown keys, when they (AF201) are its only errors and
    what is left is valid; else None."""
    from aifab.validate import validator

    errors = [f for f in findings if f.is_error]
    if any(f.code != "AF201" or not f.path for f in errors):
        return None
    rest = copy.deepcopy(data)
    for f in errors:
        parent = rest
        for part in f.path[:-1]:
            parent = parent[part]
        parent.pop(f.path[-1], None)
    return rest if validator("Cluster").is_valid(rest) else None


def _fleet(doc: Document, location: FsPath | None, memo: Memo | None) -> Result:
    from aifab.fleet import check_fleet, members, resolve_fleet

    def schema() -> tuple[Finding, ...]:
        return tuple(_schema_findings(doc, "Fleet"))

    key = ("fleet", doc.file, doc.text)
    findings = list(memo.get(key, schema) if memo is not None else schema())
    if any(f.is_error for f in findings):
        return Result(doc, None, tuple(sorted_unique(findings)))
    results = []
    for member in members(doc, location, memo):
        findings.extend(member.findings)
        if member.document is not None:
            results.append((member.index, _validated(member.document, memo)))
    fleet = None
    if results and all(r.cluster is not None for _, r in results) and not any(
            f.is_error for f in findings):
        fleet = resolve_fleet(doc.data, [(i, r.cluster) for i, r in results if r.cluster])
        findings += suppress.apply([doc.place(f) for f in check_fleet(fleet)], _texts(doc))
    return Result(doc, None, tuple(sorted_unique(findings)), tuple(r for _, r in results), fleet)


def _texts(doc: Document | MergedDocument) -> dict[str, str]:
    """The texts a document was read from, by the file names findings carry."""
    return dict(getattr(doc, "texts", None) or {doc.file: doc.text})


def run_all(paths: Iterable[FsPath]) -> Iterator[Result]:
    """Every Result of the files, fleets' clusters included."""
    for path in paths:
        yield from flatten([run(path)])
