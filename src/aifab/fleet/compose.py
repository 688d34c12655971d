"""Compose: a Fleet document -> one merged Cluster document per member, with provenance.

Merge rule (docs/fleet.md): the fleet's `spec.defaults` lies under each cluster's `spec`;
mappings merge key by key and the cluster's value wins; lists and scalars are replaced whole.
Every merged value remembers where it was written, so a finding about a default points at the
fleet file's line, and one about a cluster's own value at that cluster's file and line.

File references are untrusted: relative to the fleet file, inside the repository root (the
nearest folder above the fleet that has a .git, else the fleet's own folder), symlinks
resolved before the check.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from aifab.diagnostics import Finding, Path, finding, present
from aifab.load import Document, load_file

if TYPE_CHECKING:
    from aifab.memo import Memo

CODES = {
    "AF601": "cluster entry is neither a file nor an inline cluster",
    "AF602": "cluster file reference refused",
    "AF603": "cluster file is not a Cluster blueprint",
}

HEADER = {"apiVersion": "aifab.dev/v1alpha1", "kind": "Cluster"}


@dataclass(frozen=True)
class Layer:
    """Merged paths under `merged` were written in `doc` under `written`."""

    doc: Document
    merged: Path
    written: Path

    def locate(self, path: Path, at_key: bool) -> tuple[int, int] | None:
        if path[: len(self.merged)] != self.merged:
            return None
        inner = self.written + path[len(self.merged):]
        if at_key and inner in self.doc.key_positions:
            return self.doc.key_positions[inner]
        return self.doc.positions.get(inner)


@dataclass(frozen=True)
class MergedDocument:
    """A cluster made of layers (its own first, then the fleet's defaults); quacks like Document."""

    file: str
    data: Any
    layers: tuple[Layer, ...]
    text: str = ""
    texts: Mapping[str, str] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    def _locate(self, path: Path, at_key: bool) -> tuple[str, int, int]:
        path = tuple(path)
        while True:  # the nearest ancestor written anywhere; the cluster's own layer first
            for layer in self.layers:
                if (found := layer.locate(path, at_key)) is not None:
                    return (layer.doc.file, *found)
            if not path:
                return self.file, 1, 1
            path = path[:-1]

    def position(self, path: Path, *, at_key: bool = False) -> tuple[int, int]:
        _, line, col = self._locate(path, at_key)
        return line, col

    def place(self, f: Finding, *, at_key: bool = False) -> Finding:
        path = f.path if self.data is None else present(self.data, f.path)
        file, line, col = self._locate(path, at_key)
        return replace(f, file=file, line=line, col=col, path=path)

    def source_text(self, path: Path) -> str:
        file, line, col = self._locate(path, False)
        lines = self.texts.get(file, "").splitlines()
        return lines[line - 1][col - 1 :] if 0 < line <= len(lines) else ""


def merge(base: Any, over: Any) -> Any:
    """`over` deep-merged over `base`: mappings key by key, everything else replaced."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return over


def repository_root(fleet_file: FsPath) -> FsPath:
    start = fleet_file.resolve().parent
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


@dataclass(frozen=True)
class Member:
    """One cluster of the fleet: its merged document, or the findings that stopped it."""

    index: int
    document: MergedDocument | None
    findings: tuple[Finding, ...] = ()


def members(fleet: Document, location: FsPath | None = None,
            memo: Memo | None = None) -> Iterator[Member]:
    """Every cluster of a schema-valid fleet document, merged over the defaults.

    `location` is where the fleet file is on disk (default: its display name, `fleet.file`);
    member files are found relative to it, and shown relative to the display name. A `memo`
    goes to load_file."""
    spec = fleet.data["spec"]
    defaults = Layer(fleet, ("spec",), ("spec", "defaults"))
    location = location or FsPath(fleet.file)
    root = repository_root(location)
    for index, entry in enumerate(spec["clusters"]):
        at: Path = ("spec", "clusters", index)
        inline = {"metadata", "spec"} & set(entry)
        if "file" in entry and not inline:
            yield _from_file(fleet, location, index, entry["file"], spec.get("defaults", {}),
                             defaults, root, memo)
        elif "file" not in entry and inline == {"metadata", "spec"}:
            data = {**HEADER, "metadata": entry["metadata"],
                    "spec": merge(spec.get("defaults", {}), entry["spec"])}
            yield Member(index, MergedDocument(
                fleet.file, data, (Layer(fleet, (), at), defaults),
                text=fleet.text, texts={fleet.file: fleet.text}))
        else:
            yield Member(index, None, (fleet.place(finding(
                "AF601", "a cluster entry needs either `file`, or both `metadata` and `spec`",
                at, hint="write `- file: clusters/<name>.yaml`, or give the cluster inline")),))


def _from_file(fleet: Document, location: FsPath, index: int, given: str, defaults: Any,
               defaults_layer: Layer, root: FsPath, memo: Memo | None) -> Member:
    at: Path = ("spec", "clusters", index, "file")
    base = location.resolve().parent
    if memo is not None:
        memo.saw(str(base / given))  # the entry as written: a link re-pointed is a change too
    target, problem = _resolved(base / given)
    if target is not None:
        problem = _refused(given, target, root, location)
    if problem:
        return Member(index, None, (fleet.place(finding(
            "AF602", f"the cluster file '{given}' {problem}", at,
            hint="cluster files live beside the fleet, e.g. clusters/<name>.yaml")),))
    shown = _display(fleet.file, given)
    doc = load_file(target, display=shown, memo=memo)
    if doc.data is None:
        return Member(index, None, doc.findings)
    if doc.data.get("kind") != "Cluster" or not isinstance(doc.data.get("spec", {}), Mapping):
        return Member(index, None, doc.findings + (fleet.place(finding(
            "AF603", f"'{given}' is not a Cluster blueprint (kind: {doc.data.get('kind')})", at,
            hint="a fleet's clusters are kind: Cluster files; fleets do not nest")),))
    data = {**HEADER, **doc.data, "spec": merge(defaults, doc.data.get("spec", {}))}
    merged = MergedDocument(shown, data, (Layer(doc, (), ()), defaults_layer), text=doc.text,
                            texts={shown: doc.text, fleet.file: fleet.text}, findings=doc.findings)
    return Member(index, merged)


def _resolved(path: FsPath) -> tuple[FsPath | None, str]:
    """The path with its links followed, or None and why it cannot be."""
    try:
        return path.resolve(), ""
    except RuntimeError:
        return None, "is a loop of symbolic links"
    except ValueError:  # a NUL byte
        return None, "is not a valid path"


def _refused(given: str, target: FsPath, root: FsPath, fleet: FsPath) -> str:
    """Why the cluster file `given` (at `target`) may not be read, or ''."""
    if FsPath(given).is_absolute():
        return "is absolute; write it relative to the fleet file"
    if not target.is_relative_to(root):
        return f"leaves the repository ({root})"
    if not target.is_file():
        return "does not exist"
    if target == fleet.resolve():
        return "is the fleet file itself"
    return ""


def _display(fleet_file: str, given: str) -> str:
    """The member file as the user would write it from where they ran aifab."""
    return str(FsPath(fleet_file).parent / given)
