"""Diff: what a branch changes in the clusters, between the blueprints at a git ref and the
working tree.

Reviewers of a pull request need consequences, not a YAML diff: +144 GPUs, +264 kW against the
budget, a quota moved, a driver bumped, 36 ComputeDomains added. Both sides go through the same
pipeline (aifab.pipeline.run_document, then expand and render in memory) with the running aifab,
so the difference is the blueprints' alone; a side that does not validate is reported with its
findings, never a crash. Git runs without a shell, with a timeout, on paths inside the repository.

Fleets: every cluster of a fleet is a side of its own, paired by cluster name with the other
side's (a standalone blueprint or another fleet's member alike), so a changed default shows in
every cluster it reaches. The base side is read entirely at the ref: its blueprints and the
member files its fleets name are written from git into a temporary folder (with a `.git` marker,
so it is the fleets' repository root) and run there, under their repository paths. A fleet's own
findings (a member file refused, allocations, site power) are listed as `fleet <name>` when a
side has them.

The parts, in the order they run: gitref.py reads the base from git, sides.py runs each side
through the pipeline, compare.py compares the two sides of a cluster, report.py writes the
result as Markdown, text or JSON. This module pairs the sides by cluster name.

`run()` returns (text, exit code): 0 reported, 1 a working-tree blueprint has errors, 2 usage
(not a git repository, unknown ref, a path outside the repository or missing on both sides).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path as FsPath

from aifab.diff.compare import ClusterDiff, compare
from aifab.diff.gitref import (
    SUFFIXES,
    Base,
    Blob,
    UsageError,
    base_commit,
    blueprint_blobs,
    repository_root,
)
from aifab.diff.report import FORMATS
from aifab.diff.sides import Side, base_sides, run_at

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def inside(root: FsPath, given: str, cwd: FsPath) -> str:
    """A path given on the command line as a repository path ("" for the root)."""
    path = (cwd / given).resolve()
    if not path.is_relative_to(root):
        raise UsageError(f"{given} is outside the repository {root}",
                         "pass blueprint files or folders inside the repository")
    rel = path.relative_to(root).as_posix()
    return "" if rel == "." else rel


def working_files(root: FsPath, rel: str) -> list[str]:
    """The blueprint files of the working tree at `rel`: the file, or a folder's *.yaml."""
    path = root / rel
    if path.is_dir():
        found = [p for p in sorted(path.iterdir()) if p.suffix in SUFFIXES and p.is_file()]
    elif path.is_file():
        found = [path]
    else:
        return []
    result = []
    for p in found:
        resolved = p.resolve()
        if resolved.is_relative_to(root):  # a symlink out of the repository is ignored
            result.append(p.relative_to(root).as_posix())
    return result


def collect(root: FsPath, base: Base, paths: Sequence[str], cwd: FsPath,
            base_label: str) -> list[ClusterDiff]:
    """Every cluster's diff, its sides paired by name (a fleet stands for its own findings)."""
    blobs: dict[str, Blob] = {}
    working: list[str] = []
    for given in paths:
        rel = inside(root, given, cwd)
        at_base = blueprint_blobs(root, base.commit, rel)
        here = working_files(root, rel)
        if not at_base and not here:
            raise UsageError(f"{given}: no blueprints in the working tree or at {base_label}",
                             "check the path; blueprints live in blueprints/")
        blobs.update({b.path: b for b in at_base})
        working.extend(here)
    pairs: dict[str, list[Side | None]] = {}

    def place(side: Side, index: int) -> None:
        key, n = side.name, 1
        while key in pairs and pairs[key][index] is not None:  # two files define one cluster
            key, n = f"{side.name} ({side.file})" + (f" #{n}" if n > 1 else ""), n + 1
        pairs.setdefault(key, [None, None])[index] = side

    for side in base_sides(root, base, [blobs[p] for p in sorted(blobs)], base_label):
        place(side, 0)
    for side in run_at(root, sorted(dict.fromkeys(working))):
        place(side, 1)
    diffs = [compare(name, before, after) for name, (before, after) in sorted(pairs.items())]
    return [d for d in diffs if d.kind == "Cluster" or d.status == "invalid"]


def run(paths: Iterable[str] = (), *, base: str | None = None, fmt: str = "markdown",
        cwd: FsPath | None = None, color: bool = False) -> tuple[str, int]:
    """`aifab diff [--base REF] [--format markdown|text|json] [PATH...]`; `color` paints the
    text format (the others never carry colour)."""
    cwd = (cwd or FsPath.cwd()).resolve()
    try:
        root = repository_root(cwd)
        chosen = base_commit(root, base)
        label = base or (chosen.label if chosen.label in ("HEAD", "origin/main")
                         else chosen.commit[:12])
        diffs = collect(root, chosen, list(paths) or ["blueprints"], cwd, label)
    except UsageError as exc:
        hint = f"\n  hint: {exc.hint}" if exc.hint else ""
        return f"aifab diff: {exc.message}{hint}", EXIT_USAGE
    broken = any(d.after is not None and not d.after.valid for d in diffs)
    text = FORMATS["text"](diffs, chosen, color=color) if fmt == "text" \
        else FORMATS[fmt](diffs, chosen)
    return text, EXIT_FINDINGS if broken else EXIT_OK
