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

`run()` returns (text, exit code): 0 reported, 1 a working-tree blueprint has errors, 2 usage
(not a git repository, unknown ref, a path outside the repository or missing on both sides).
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from aifab.diagnostics import Finding
from aifab.load import MAX_BYTES, Document, load_bytes, load_file
from aifab.model import Cluster
from aifab.pipeline import Result, flatten, run_document

if TYPE_CHECKING:
    from aifab.fleet.compose import MergedDocument

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
GIT_TIMEOUT = 30  # seconds per git command
SUFFIXES = (".yaml", ".yml")
WORKING_TREE = "working tree"
MAX_LISTED = 100  # objects listed per kind and change, so a PR comment stays readable
MAX_FINDINGS = 5  # findings shown per invalid side
MAX_MEMBERS = 1000  # cluster files the fleets at the base may name
LS_TREE_BATCH = 100  # paths per git ls-tree, far below the argument-size limit


class UsageError(Exception):
    """A problem with the command line or the repository, reported with a hint (exit 2)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


# -- git ----------------------------------------------------------------------------------------


def _git(repo: FsPath, *args: str) -> bytes:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
           "GIT_LITERAL_PATHSPECS": "1"}  # a path is a path, never ':(glob)' magic
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                              timeout=GIT_TIMEOUT, check=False, env=env)
    except FileNotFoundError as exc:
        raise UsageError("git is not installed", "install git; aifab diff reads the base "
                         "blueprints from the repository") from exc
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"git {args[0]} took longer than {GIT_TIMEOUT} s") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"git {args[0]} failed: {reason[0] if reason else done.returncode}")
    return done.stdout


def _try_git(repo: FsPath, *args: str) -> str | None:
    try:
        return _git(repo, *args).decode().strip()
    except UsageError:
        return None


def repository_root(cwd: FsPath) -> FsPath:
    root = _try_git(cwd, "rev-parse", "--show-toplevel")
    if not root:
        raise UsageError(f"{cwd} is not inside a git repository",
                         "run aifab diff in a clone of the repository")
    return FsPath(root).resolve()


@dataclass(frozen=True, slots=True)
class Base:
    label: str  # what the user asked for, or how it was chosen
    commit: str


def base_commit(root: FsPath, ref: str | None) -> Base:
    """The given ref, else the merge base with origin/main when it exists, else HEAD."""
    if ref is not None:
        if ref.startswith("-") or not ref.strip():
            raise UsageError(f"'{ref}' is not a git ref", "pass a branch, tag or commit")
        commit = _try_git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if not commit:
            raise UsageError(f"unknown git ref '{ref}'",
                             "fetch it first (git fetch origin main) or pass another --base")
        return Base(ref, commit)
    if _try_git(root, "rev-parse", "--verify", "--quiet", "origin/main^{commit}"):
        merge_base = _try_git(root, "merge-base", "HEAD", "origin/main")
        if merge_base:
            return Base("merge base with origin/main", merge_base)
        commit = _try_git(root, "rev-parse", "--verify", "origin/main^{commit}") or ""
        return Base("origin/main", commit)  # a shallow clone has no merge base
    commit = _try_git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if not commit:
        raise UsageError("the repository has no commit to compare with",
                         "commit the blueprints first, or pass --base")
    return Base("HEAD", commit)


@dataclass(frozen=True, slots=True)
class Blob:
    path: str  # relative to the repository root, POSIX
    sha: str
    size: int


def _tree(root: FsPath, commit: str, rel: str) -> list[Blob]:
    """Blueprint files at `commit`: `rel` itself, or the *.yaml files directly in it."""
    out: list[Blob] = []
    for spec in ((rel.rstrip("/") + "/", rel) if rel not in ("", ".") else ("",)):
        raw = _git(root, "ls-tree", "-z", "-l", "--full-tree", commit, "--",
                   *([spec] if spec else []))
        for entry in raw.decode("utf-8", "surrogateescape").split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            mode, kind, sha, size = meta.split()
            if kind == "blob" and mode in ("100644", "100755") and path.endswith(SUFFIXES):
                out.append(Blob(path, sha, int(size)))
        if out:
            break
    return sorted(out, key=lambda b: b.path)


def _read_blob(root: FsPath, blob: Blob) -> bytes:
    return _git(root, "cat-file", "blob", blob.sha)


def _blobs(root: FsPath, commit: str, paths: Sequence[str]) -> list[Blob]:
    """The regular *.yaml blobs at exactly `paths` (fleet members), in batches of arguments."""
    out: list[Blob] = []
    exact = set(paths)  # a folder's children are not members
    for start in range(0, len(paths), LS_TREE_BATCH):
        raw = _git(root, "ls-tree", "-z", "-l", "--full-tree", commit, "--",
                   *paths[start:start + LS_TREE_BATCH])
        for entry in raw.decode("utf-8", "surrogateescape").split("\0"):
            meta, _, path = entry.partition("\t")
            if not entry or path not in exact:
                continue
            mode, kind, sha, size = meta.split()
            if kind == "blob" and mode in ("100644", "100755") and path.endswith(SUFFIXES):
                out.append(Blob(path, sha, int(size)))
    return sorted(out, key=lambda b: b.path)


def _member_paths(fleet_path: str, raw: bytes) -> list[str]:
    """The repository paths a Fleet blob names in `spec.clusters[*].file` ([] for a Cluster).

    Only paths that stay inside the repository are returned: the others are not materialised,
    so compose refuses them (AF602) at the base exactly as in the working tree."""
    doc = load_bytes(raw, fleet_path)
    data = doc.data
    if not isinstance(data, dict) or data.get("kind") != "Fleet":
        return []
    spec = data.get("spec")
    entries = spec.get("clusters") if isinstance(spec, dict) else None
    found = []
    for entry in entries if isinstance(entries, list) else []:
        given = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(given, str) or not given or given.startswith("/") or "\0" in given:
            continue
        path = posixpath.normpath(posixpath.join(posixpath.dirname(fleet_path), given))
        if path != ".." and not path.startswith("../"):
            found.append(path)
    return found


def materialise(root: FsPath, commit: str, tops: Sequence[Blob], folder: FsPath) -> None:
    """Write the base blueprints and the member files their fleets name into `folder`, at their
    repository paths, beside a `.git` marker so `folder` is the fleets' repository root.

    A blob over the loader's limit becomes a sparse file one byte over it (refused as AF102,
    never read whole); a fleet naming more than MAX_MEMBERS files is a usage error."""
    (folder / ".git").mkdir()
    contents: dict[str, bytes | None] = {}
    for blob in tops:
        contents[blob.path] = None if blob.size > MAX_BYTES else _read_blob(root, blob)
    wanted = sorted({path for top, raw in contents.items() if raw is not None
                     for path in _member_paths(top, raw)} - set(contents))
    if len(wanted) > MAX_MEMBERS:
        raise UsageError(f"the fleets at the base name {len(wanted)} cluster files; aifab diff "
                         f"reads at most {MAX_MEMBERS}", "pass fewer fleets as paths")
    members = _blobs(root, commit, wanted) if wanted else []
    for blob in [*tops, *members]:
        target = folder / blob.path
        target.parent.mkdir(parents=True, exist_ok=True)
        raw = contents.get(blob.path)
        if blob.size > MAX_BYTES:
            with open(target, "wb") as fh:
                fh.truncate(MAX_BYTES + 1)
        else:
            target.write_bytes(raw if raw is not None else _read_blob(root, blob))


# -- one side -----------------------------------------------------------------------------------


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


# -- comparison ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One number of the table: `scope` is a pool name or "total"."""

    scope: str
    metric: str
    before: float | None
    after: float | None

    @property
    def delta(self) -> float | None:
        if self.before is None and self.after is None:
            return None
        return _clean((self.after or 0) - (self.before or 0))

    @property
    def label(self) -> str:
        return self.metric if self.scope == "total" else f"{self.scope}: {self.metric}"


@dataclass
class ClusterDiff:
    name: str
    status: str  # added | removed | changed | unchanged | invalid
    before: Side | None
    after: Side | None
    rows: list[Row] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    versions: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    objects: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def file(self) -> str:
        files = [s.file for s in (self.before, self.after) if s is not None]
        return " -> ".join(dict.fromkeys(files))

    @property
    def kind(self) -> str:
        side = self.after or self.before
        return side.kind if side is not None else "Cluster"


def _clean(value: float) -> float | int:
    value = round(value, 3)
    return int(value) if value == int(value) else value


def _numbers(cluster: Cluster | None) -> dict[tuple[str, str], float | None]:
    if cluster is None:
        return {}
    numbers: dict[tuple[str, str], float | None] = {}
    for pool in cluster.node_pools:
        numbers[(pool.name, "GPUs")] = pool.gpus
        numbers[(pool.name, "racks")] = pool.rack_count
        numbers[(pool.name, "nodes")] = pool.node_count
    racks = [p.rack_count for p in cluster.node_pools if p.rack_count is not None]
    numbers[("total", "GPUs")] = cluster.gpus
    numbers[("total", "racks")] = sum(racks) if racks else None
    numbers[("total", "nodes")] = sum(p.node_count for p in cluster.node_pools)
    numbers[("total", "power kW")] = _clean(cluster.power_kw)
    numbers[("total", "power budget kW")] = _clean(cluster.site.power_budget_kw)
    budget = cluster.site.power_budget_kw
    share = round(100 * cluster.power_kw / budget, 1) if budget else None
    numbers[("total", "budget used %")] = share
    return numbers


ALWAYS = {("total", m) for m in ("GPUs", "racks", "nodes", "power kW", "power budget kW",
                                 "budget used %")}


def _rows(before: Cluster | None, after: Cluster | None) -> list[Row]:
    old, new = _numbers(before), _numbers(after)
    keys = list(dict.fromkeys([*new, *old]))
    pools = [k for k in keys if k[0] != "total"]
    totals = [k for k in keys if k[0] == "total"]
    rows = []
    for key in pools + totals:
        row = Row(key[0], key[1], old.get(key), new.get(key))
        if row.before is None and row.after is None:
            continue
        if row.before != row.after or key in ALWAYS:
            rows.append(row)
    return rows


def _tenants(before: Cluster | None, after: Cluster | None) -> list[str]:
    old = {t.name: t for t in before.tenants} if before else {}
    new = {t.name: t for t in after.tenants} if after else {}
    lines = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            lines.append(f"added tenant {name} ({_quota(new[name].quota)})")
        elif name not in new:
            lines.append(f"removed tenant {name} ({_quota(old[name].quota)})")
        else:
            for what, a, b in (("quota", old[name].quota, new[name].quota),
                               ("borrowing limit", old[name].borrowing_limit,
                                new[name].borrowing_limit)):
                for pool in sorted(set(a) | set(b)):
                    if a.get(pool) != b.get(pool):
                        delta = _signed((b.get(pool) or 0) - (a.get(pool) or 0))
                        lines.append(f"{name}: {what} {pool} {_n(a.get(pool))} -> "
                                     f"{_n(b.get(pool))} ({delta})")
    return lines


def _quota(quota: Mapping[str, int]) -> str:
    return ", ".join(f"{pool} {n}" for pool, n in sorted(quota.items())) or "no quota"


def _versions(cluster: Cluster | None) -> dict[str, str | None]:
    if cluster is None:
        return {}
    found: dict[str, str | None] = {
        "Kubernetes": cluster.kubernetes.version,
        "GPU Operator": cluster.gpu_operator.version,
        "driver": cluster.gpu_operator.driver_version,
        "Network Operator": cluster.network_operator.version if cluster.network_operator else None,
        "Kueue": cluster.kueue.version if cluster.kueue else None,
    }
    for pool in cluster.node_pools:
        if pool.driver_overridden:
            found[f"driver of pool {pool.name}"] = pool.driver_version
    return found


def _objects(before: Mapping[str, tuple[str, bytes]],
             after: Mapping[str, tuple[str, bytes]]) -> dict[str, dict[str, list[str]]]:
    kinds: dict[str, dict[str, list[str]]] = {}

    def add(kind: str, change: str, path: str) -> None:
        kinds.setdefault(kind, {"added": [], "removed": [], "changed": []})[change].append(path)

    for path in sorted(set(before) | set(after)):
        if path not in before:
            add(after[path][0], "added", path)
        elif path not in after:
            add(before[path][0], "removed", path)
        elif before[path] != after[path]:
            add(after[path][0], "changed", path)
    return dict(sorted(kinds.items()))


def compare(name: str, before: Side | None, after: Side | None) -> ClusterDiff:
    if any(s is not None and s.kind == "Fleet" for s in (before, after)):
        # a fleet's clusters are compared on their own; the fleet only reports its findings
        invalid = any(s is not None and not s.valid for s in (before, after))
        return ClusterDiff(name, "invalid" if invalid else "unchanged", before, after)
    if before is not None and after is not None and before.valid and after.valid and \
            before.document.data == after.document.data:
        return ClusterDiff(name, "unchanged", before, after)
    invalid = any(s is not None and not s.valid for s in (before, after))
    status = ("invalid" if invalid else "added" if before is None
              else "removed" if after is None else "changed")
    diff = ClusterDiff(name, status, before, after)
    old = before.cluster if before is not None and before.valid else None
    new = after.cluster if after is not None and after.valid else None
    if invalid and before is not None and after is not None:
        return diff  # numbers against an invalid side would mislead
    diff.rows = _rows(old, new)
    diff.tenants = _tenants(old, new)
    a, b = _versions(old), _versions(new)
    diff.versions = [(k, a.get(k), b.get(k)) for k in dict.fromkeys([*b, *a])
                     if a.get(k) != b.get(k) and old is not None and new is not None]
    diff.objects = _objects(rendered(before) if old else {}, rendered(after) if new else {})
    if status == "changed" and not (diff.objects or diff.tenants or diff.versions or
                                    any(r.before != r.after for r in diff.rows)):
        diff.status = "unchanged"  # e.g. a description or a comment only
    return diff


# -- collecting both sides ------------------------------------------------------------------------


def _inside(root: FsPath, given: str, cwd: FsPath) -> str:
    path = (cwd / given).resolve()
    if not path.is_relative_to(root):
        raise UsageError(f"{given} is outside the repository {root}",
                         "pass blueprint files or folders inside the repository")
    rel = path.relative_to(root).as_posix()
    return "" if rel == "." else rel


def _working_files(root: FsPath, rel: str) -> list[str]:
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


def _base_sides(root: FsPath, base: Base, tops: Sequence[Blob], label: str) -> list[Side]:
    """The base side, run by the same pipeline from the blobs at the base commit: a fleet's
    member files are read at the base too (materialised), never from the working tree."""
    with tempfile.TemporaryDirectory(prefix="aifab-diff-") as tmp:
        folder = FsPath(tmp).resolve()
        materialise(root, base.commit, tops, folder)

        def relabel(f: Finding) -> Finding:  # HEAD:blueprints/x.yaml, and no temporary folder
            return replace(f, file=f"{label}:{f.file}",
                           message=f.message.replace(str(folder), str(root)),
                           hint=f.hint.replace(str(folder), str(root)))

        return _run_at(folder, [b.path for b in tops], relabel)


def _run_at(folder: FsPath, paths: Sequence[str],
            relabel: Callable[[Finding], Finding] | None = None) -> list[Side]:
    """Run the pipeline on `paths` (relative to `folder`), named by those paths: the display
    names are the repository paths on both sides, whatever the working directory."""
    out: list[Side] = []
    for path in paths:
        located = folder / path
        out.extend(sides(run_document(load_file(located, display=path), located), relabel))
    return out


def collect(root: FsPath, base: Base, paths: Sequence[str], cwd: FsPath,
            base_label: str) -> list[ClusterDiff]:
    blobs: dict[str, Blob] = {}
    working: list[str] = []
    for given in paths:
        rel = _inside(root, given, cwd)
        at_base = _tree(root, base.commit, rel)
        here = _working_files(root, rel)
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

    for side in _base_sides(root, base, [blobs[p] for p in sorted(blobs)], base_label):
        place(side, 0)
    for side in _run_at(root, sorted(dict.fromkeys(working))):
        place(side, 1)
    diffs = [compare(name, before, after) for name, (before, after) in sorted(pairs.items())]
    return [d for d in diffs if d.kind == "Cluster" or d.status == "invalid"]


# -- formatting -----------------------------------------------------------------------------------


def _n(value: Any) -> str:
    return "-" if value is None else str(value)


def _signed(value: float | None) -> str:
    if value is None:
        return ""
    return f"+{value}" if value > 0 else str(value)


def _delta(row: Row) -> str:
    text = _signed(row.delta)
    return f"{text} pt" if row.metric.endswith("%") and text else text


def _findings(side: Side) -> list[str]:
    errors = [f for f in side.findings if f.is_error]
    lines = [f"{f.file}:{f.line}:{f.col}: {f.code} {f.message}"
             + (f" (hint: {f.hint})" if f.hint else "") for f in errors[:MAX_FINDINGS]]
    if len(errors) > MAX_FINDINGS:
        lines.append(f"... and {len(errors) - MAX_FINDINGS} more errors")
    return lines


def _side_problems(diff: ClusterDiff, base_label: str) -> list[tuple[str, list[str]]]:
    out = []
    for where, side in ((base_label, diff.before), (WORKING_TREE, diff.after)):
        if side is not None and not side.valid:
            out.append((f"does not validate at {where}", _findings(side)))
    return out


def _summary(diffs: Sequence[ClusterDiff]) -> str:
    counts: dict[str, int] = {}
    for d in diffs:
        counts[d.status] = counts.get(d.status, 0) + 1
    return ", ".join(f"{counts[s]} {s}" for s in ("added", "removed", "changed", "invalid",
                                                  "unchanged") if counts.get(s))


def markdown(diffs: Sequence[ClusterDiff], base: Base) -> str:
    out = [f"## aifab diff: `{base.label}` (`{base.commit[:12]}`) → working tree", ""]
    shown = [d for d in diffs if d.status != "unchanged"]
    if not shown:
        out.append(f"No cluster changes between `{base.label}` and the working tree"
                   + (f" ({_summary(diffs)})." if diffs else "."))
        return "\n".join(out)
    out += [f"{_summary(diffs)}.", ""]
    for d in shown:
        out += [f"### {d.name} ({d.status})", "", f"`{d.file}`", ""]
        for title, lines in _side_problems(d, base.label):
            out += [f"**{title}:**", "", "```", *lines, "```", ""]
        if d.rows:
            out += ["| | before | after | change |", "|---|---:|---:|---:|"]
            out += [f"| {r.label} | {_n(r.before)} | {_n(r.after)} | {_delta(r)} |" for r in d.rows]
            out.append("")
        if d.tenants:
            out += ["**Tenants**", "", *[f"- {line}" for line in d.tenants], ""]
        if d.versions:
            out += ["**Versions**", ""]
            out += [f"- {what}: `{_n(a)}` → `{_n(b)}`" for what, a, b in d.versions]
            out.append("")
        if d.objects:
            out += [f"**Generated objects**: {_object_summary(d.objects)}", "",
                    "| kind | added | removed | changed |", "|---|---:|---:|---:|"]
            out += [f"| {kind} | {len(c['added'])} | {len(c['removed'])} | {len(c['changed'])} |"
                    for kind, c in d.objects.items()]
            out.append("")
            for kind, changes in d.objects.items():
                out += [f"<details><summary>{kind}</summary>", ""]
                for change, paths in changes.items():
                    out += [f"- {change} `{p}`" for p in paths[:MAX_LISTED]]
                    if len(paths) > MAX_LISTED:
                        out.append(f"- ... and {len(paths) - MAX_LISTED} more {change}")
                out += ["", "</details>", ""]
    out.append("_Both sides were expanded by the same aifab, so these are the blueprints' "
               "changes only._")
    return "\n".join(out)


def _object_summary(objects: Mapping[str, Mapping[str, list[str]]]) -> str:
    totals = {c: sum(len(k[c]) for k in objects.values()) for c in ("added", "removed", "changed")}
    return ", ".join(f"{n} {c}" for c, n in totals.items())


def text(diffs: Sequence[ClusterDiff], base: Base) -> str:
    out = [f"aifab diff: {base.label} ({base.commit[:12]}) -> working tree"]
    shown = [d for d in diffs if d.status != "unchanged"]
    if not shown:
        out.append("no cluster changes" + (f" ({_summary(diffs)})" if diffs else ""))
        return "\n".join(out)
    out.append(_summary(diffs))
    for d in shown:
        out += ["", f"{d.name} ({d.file}): {d.status}"]
        for title, lines in _side_problems(d, base.label):
            out += [f"  {title}:", *[f"    {line}" for line in lines]]
        width = max((len(r.label) for r in d.rows), default=0)
        for r in d.rows:
            out.append(f"  {r.label:<{width}}  {_n(r.before):>8} -> {_n(r.after):<8} {_delta(r)}"
                       .rstrip())
        if d.tenants:
            out += ["  tenants:", *[f"    {line}" for line in d.tenants]]
        if d.versions:
            out.append("  versions:")
            out += [f"    {what}: {_n(a)} -> {_n(b)}" for what, a, b in d.versions]
        if d.objects:
            out.append(f"  generated objects: {_object_summary(d.objects)}")
            marks = {"added": "+", "removed": "-", "changed": "~"}
            for kind, changes in d.objects.items():
                counts = ", ".join(f"{len(p)} {c}" for c, p in changes.items() if p)
                out.append(f"    {kind}: {counts}")
                for change, paths in changes.items():
                    out += [f"      {marks[change]} {p}" for p in paths[:MAX_LISTED]]
                    if len(paths) > MAX_LISTED:
                        out.append(f"      ... and {len(paths) - MAX_LISTED} more {change}")
    return "\n".join(out)


def as_json(diffs: Sequence[ClusterDiff], base: Base) -> str:
    def side(s: Side | None) -> dict[str, Any] | None:
        if s is None:
            return None
        return {"file": s.file, "valid": s.valid, "errors": [
            {"file": f.file, "line": f.line, "column": f.col, "code": f.code,
             "message": f.message, "path": f.json_path, "hint": f.hint}
            for f in s.findings if f.is_error]}

    return json.dumps({
        "base": {"ref": base.label, "commit": base.commit},
        "clusters": [{
            "name": d.name,
            "kind": d.kind,
            "status": d.status,
            "before": side(d.before),
            "after": side(d.after),
            "numbers": [{"scope": r.scope, "metric": r.metric, "before": r.before,
                         "after": r.after, "delta": r.delta} for r in d.rows],
            "tenants": d.tenants,
            "versions": [{"name": what, "before": a, "after": b} for what, a, b in d.versions],
            "objects": d.objects,
        } for d in diffs],
        "summary": {s: sum(d.status == s for d in diffs)
                    for s in ("added", "removed", "changed", "invalid", "unchanged")},
    }, indent=2)


FORMATS = {"markdown": markdown, "text": text, "json": as_json}


def run(paths: Iterable[str] = (), *, base: str | None = None, fmt: str = "markdown",
        cwd: FsPath | None = None) -> tuple[str, int]:
    """`aifab diff [--base REF] [--format markdown|text|json] [PATH...]`."""
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
    return FORMATS[fmt](diffs, chosen), EXIT_FINDINGS if broken else EXIT_OK

