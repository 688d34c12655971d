"""Reading the base side of a diff from git: the repository, the commit a ref names, the
blueprint files at it, and the member files its fleets name, written into a folder
(`materialise`) so the pipeline runs on them as on the working tree.

Git runs without a shell, with a timeout, on paths inside the repository; a problem with the
command line or the repository is a UsageError (exit 2).
"""

from __future__ import annotations

import os
import posixpath
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath

from aifab.load import MAX_BYTES, load_bytes

GIT_TIMEOUT = 30  # seconds per git command
SUFFIXES = (".yaml", ".yml")
MAX_MEMBERS = 1000  # cluster files the fleets at the base may name
LS_TREE_BATCH = 100  # paths per git ls-tree, far below the argument-size limit


class UsageError(Exception):
    """A problem with the command line or the repository, reported with a hint (exit 2)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


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


def _ls_tree(root: FsPath, commit: str, paths: Sequence[str]) -> Iterator[Blob]:
    """The regular *.yaml files `git ls-tree` lists at `commit` for `paths` (a folder's
    direct children; no paths: the root's)."""
    raw = _git(root, "ls-tree", "-z", "-l", "--full-tree", commit, "--", *paths)
    for entry in raw.decode("utf-8", "surrogateescape").split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        mode, kind, sha, size = meta.split()
        if kind == "blob" and mode in ("100644", "100755") and path.endswith(SUFFIXES):
            yield Blob(path, sha, int(size))


def blueprint_blobs(root: FsPath, commit: str, rel: str) -> list[Blob]:
    """Blueprint files at `commit`: `rel` itself, or the *.yaml files directly in it."""
    out: list[Blob] = []
    for spec in ((rel.rstrip("/") + "/", rel) if rel not in ("", ".") else ("",)):
        out = list(_ls_tree(root, commit, [spec] if spec else []))
        if out:
            break
    return sorted(out, key=lambda b: b.path)


def _read_blob(root: FsPath, blob: Blob) -> bytes:
    return _git(root, "cat-file", "blob", blob.sha)


def _blobs(root: FsPath, commit: str, paths: Sequence[str]) -> list[Blob]:
    """The regular *.yaml blobs at exactly `paths` (fleet members), in batches of arguments."""
    exact = set(paths)  # a folder's children are not members
    return sorted((blob for start in range(0, len(paths), LS_TREE_BATCH)
                   for blob in _ls_tree(root, commit, paths[start:start + LS_TREE_BATCH])
                   if blob.path in exact), key=lambda b: b.path)


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
