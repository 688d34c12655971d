"""Load a reviewed cluster tree, generated/<cluster>/, and prove it is the one that was reviewed.

What you review is what you deploy: the stack deploys the committed files, never a fresh
expansion of the blueprint. Every file is checked against the sha256 recorded in
aifab.lock.json, and the set of files must be exactly the set the lock lists; anything else
(an edited byte, a file deleted or added by hand, a lock that does not parse) stops the deploy
before a single resource is declared.

One more check needs no regeneration: when the blueprint named in the lock is present
(the usual case, a checkout of the repository), its data must still have the digest recorded
in the lock. If it does not, the tree is stale: the blueprint changed after the tree was
generated and reviewed, and `aifab generate` (then review) has to run first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from aifab.expand.common import AIFAB_API
from aifab.render import LOCK, blueprint_digest, digest, read_tree

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

YAML_SUFFIXES = (".yaml", ".yml")
RELEASE_KIND = "HelmRelease"
NODE_POOL_KIND = "NodePool"
# Templates for tenants (expand/nvlink_jobs.py): reviewed and locked, never deployed.
EXAMPLES = "examples/"


class TreeError(Exception):
    """The cluster tree on disk is not the one that was generated and reviewed."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One deployable file of the tree: its path (relative to the cluster folder) and data."""

    path: str
    data: dict[str, Any]

    @property
    def api_version(self) -> str:
        return self.data["apiVersion"]

    @property
    def kind(self) -> str:
        return self.data["kind"]

    @property
    def name(self) -> str:
        return self.data["metadata"]["name"]

    @property
    def namespace(self) -> str | None:
        return self.data["metadata"].get("namespace")


@dataclass(frozen=True)
class ClusterTree:
    """A verified generated/<cluster>/: its lock, and its files grouped by what is done with them.

    `objects` are Kubernetes objects applied as they are; `releases` aifab HelmReleases;
    `node_pools` aifab NodePools; `documents` are review files (SUMMARY.md, SVG, the
    `examples/` templates) that are verified like the rest but never deployed. Every list is
    in path order.
    """

    cluster: str
    folder: Path
    lock: dict[str, Any]
    lock_digest: str
    objects: list[Entry] = field(default_factory=list)
    releases: list[Entry] = field(default_factory=list)
    node_pools: list[Entry] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)


def load_cluster_tree(generated_dir: Path, cluster: str) -> ClusterTree:
    """Read generated/<cluster>/, verify it against its lock, parse and group its documents.

    Raises TreeError, naming every missing, extra, edited and stale file, when the tree is
    not exactly what was generated.
    """
    generated_dir = Path(generated_dir)
    folder = generated_dir / cluster
    if not cluster or PurePosixPath(cluster).name != cluster or cluster.startswith("."):
        raise TreeError(f"invalid cluster name {cluster!r}: expected the name of a folder in "
                        f"{generated_dir}")
    if not folder.is_dir():
        raise TreeError(f"no generated tree for cluster {cluster!r}: {folder} is not a folder; "
                        "run `aifab generate` and commit generated/ after review")
    files = read_tree(folder)
    lock, recorded = _read_lock(folder, files.get(LOCK))

    missing = sorted(set(recorded) - set(files))
    extra = sorted(set(files) - set(recorded) - {LOCK})
    edited = sorted(p for p in recorded if p in files and digest(files[p]) != recorded[p])
    stale = _stale_blueprint(generated_dir, cluster, lock)
    if missing or extra or edited or stale:
        raise TreeError(_report(folder, missing=missing, extra=extra, edited=edited, stale=stale))

    tree = ClusterTree(cluster, folder, lock, digest(files[LOCK]))
    for path in sorted(recorded):
        if not path.endswith(YAML_SUFFIXES) or path.startswith(EXAMPLES):
            tree.documents.append(path)
            continue
        entry = Entry(path, _parse(folder, path, files[path]))
        if entry.api_version == AIFAB_API:
            if entry.kind == RELEASE_KIND:
                tree.releases.append(entry)
            elif entry.kind == NODE_POOL_KIND:
                tree.node_pools.append(entry)
            else:
                raise TreeError(f"{folder / path}: unknown aifab kind {entry.kind!r} "
                                f"(expected {RELEASE_KIND} or {NODE_POOL_KIND}); is this aifab "
                                "older than the one that generated the tree?")
        else:
            tree.objects.append(entry)
    return tree


def _read_lock(folder: Path, raw: bytes | None) -> tuple[dict[str, Any], dict[str, str]]:
    if raw is None:
        raise TreeError(f"{folder / LOCK} is missing, so nothing in {folder} can be verified; "
                        "run `aifab generate --check` and regenerate the tree (then review it)")
    try:
        lock = json.loads(raw)
    except ValueError as exc:
        raise TreeError(f"{folder / LOCK} is not valid JSON ({exc}); run "
                        "`aifab generate --check` and regenerate the tree") from None
    files = lock.get("files") if isinstance(lock, dict) else None
    if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise TreeError(f"{folder / LOCK} has no 'files' map of path -> sha256; run "
                        "`aifab generate --check` and regenerate the tree")
    return lock, files


def _stale_blueprint(generated_dir: Path, cluster: str, lock: dict[str, Any]) -> list[str]:
    """[the blueprint] if its source is beside generated/ and the cluster's data (merged with
    its fleet's defaults, for a fleet member) changed since the lock was written."""
    name, source, recorded = lock.get("blueprint"), lock.get("source"), lock.get("blueprintDigest")
    if not all(isinstance(v, str) for v in (name, source, recorded)):
        return []
    root = generated_dir.resolve().parent
    path = (root / source).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return []  # deploying from the tree alone: the lock is the authority
    from aifab.pipeline import flatten, run

    for result in flatten([run(path)]):
        if result.cluster is not None and result.cluster.name == cluster:
            return [] if blueprint_digest(result.document.data) == recorded else [name]
    return [name]  # the source no longer makes this cluster (or is not valid)


def _parse(folder: Path, path: str, raw: bytes) -> dict[str, Any]:
    try:
        data = yaml.load(raw, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise TreeError(f"{folder / path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("apiVersion"), str) \
            or not isinstance(data.get("kind"), str) or not isinstance(data.get("metadata"), dict) \
            or not isinstance(data["metadata"].get("name"), str):
        raise TreeError(f"{folder / path}: expected one object with apiVersion, kind and "
                        "metadata.name")
    return data


def _report(folder: Path, **groups: list[str]) -> str:
    what = {
        "missing": "missing (listed in the lock, not on disk)",
        "extra": "extra (on disk, not in the lock)",
        "edited": "edited (digest differs from the lock)",
        "stale": "stale (the blueprint changed since the tree was generated)",
    }
    lines = [f"{folder} is not the tree that was generated and reviewed; nothing was deployed."]
    for key, paths in groups.items():
        if paths:
            lines.append(f"  {what[key]}:")
            lines.extend(f"    {p}" for p in paths)
    lines.append("Run `aifab generate --check` to see the differences; regenerate with "
                 "`aifab generate`, review the diff in a pull request, then deploy.")
    return "\n".join(lines)
