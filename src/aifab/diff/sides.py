"""One side of a diff: a cluster (or a fleet's own checks) at the base or in the working
tree, run by the same pipeline as `aifab validate`, and its generated files, in memory."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path as FsPath
from typing import TYPE_CHECKING

from aifab.diagnostics import Finding
from aifab.diff.gitref import Base, Blob, materialise
from aifab.load import Document, load_file
from aifab.model import Cluster
from aifab.pipeline import Result, flatten, run_document

if TYPE_CHECKING:
    from aifab.fleet.compose import MergedDocument


@dataclass(frozen=True)
class Side:
    """A cluster (or a fleet's own checks) at one side: its findings and, when valid, the model.

    A Fleet side has no cluster: it stands for the fleet-wide findings (a member file refused,
    allocations, site power), while each of its clusters is a Cluster side of its own."""

    file: str
    document: Document | MergedDocument
    cluster: Cluster | None
    findings: tuple[Finding, ...]
    kind: str = "Cluster"

    @property
    def valid(self) -> bool:
        if self.kind == "Fleet":
            return not any(f.is_error for f in self.findings)
        return self.cluster is not None and not any(f.is_error for f in self.findings)

    @property
    def name(self) -> str:
        data = self.document.data
        meta = data.get("metadata") if isinstance(data, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        name = name if isinstance(name, str) and name else self.file
        return f"fleet {name}" if self.kind == "Fleet" else name


def _kind(doc: Document | MergedDocument) -> str:
    data = doc.data
    return "Fleet" if isinstance(data, dict) and data.get("kind") == "Fleet" else "Cluster"


def sides(result: Result, relabel: Callable[[Finding], Finding] | None = None) -> list[Side]:
    """A blueprint's outcome as sides: the cluster, or a fleet's own side and one per cluster.
    `relabel` rewrites the findings of the base side (`HEAD:blueprints/x.yaml`)."""
    out = []
    for each in flatten([result]):
        findings = tuple(map(relabel, each.findings)) if relabel else each.findings
        out.append(Side(each.document.file, each.document, each.cluster, findings,
                        _kind(each.document)))
    return out


def rendered(side: Side) -> Mapping[str, tuple[str, bytes]]:
    """Every generated file of a valid side: path -> (kind, rendered bytes), in memory."""
    from aifab.expand import expand
    from aifab.render import to_yaml

    assert side.cluster is not None
    files = {}
    for out in expand(side.cluster):
        if out.kind == "document":
            files[out.path] = ("document", str(out.data["text"]).encode())
        else:
            files[out.path] = (str(out.data.get("kind", out.kind)), to_yaml(out.data).encode())
    return files


def base_sides(root: FsPath, base: Base, tops: Sequence[Blob], label: str) -> list[Side]:
    """The base side, run by the same pipeline from the blobs at the base commit: a fleet's
    member files are read at the base too (materialised), never from the working tree."""
    with tempfile.TemporaryDirectory(prefix="aifab-diff-") as tmp:
        folder = FsPath(tmp).resolve()
        materialise(root, base.commit, tops, folder)

        def relabel(f: Finding) -> Finding:  # HEAD:blueprints/x.yaml, and no temporary folder
            return replace(f, file=f"{label}:{f.file}",
                           message=f.message.replace(str(folder), str(root)),
                           hint=f.hint.replace(str(folder), str(root)))

        return run_at(folder, [b.path for b in tops], relabel)


def run_at(folder: FsPath, paths: Sequence[str],
            relabel: Callable[[Finding], Finding] | None = None) -> list[Side]:
    """Run the pipeline on `paths` (relative to `folder`), named by those paths: the display
    names are the repository paths on both sides, whatever the working directory."""
    out: list[Side] = []
    for path in paths:
        located = folder / path
        out.extend(sides(run_document(load_file(located, display=path), located), relabel))
    return out
