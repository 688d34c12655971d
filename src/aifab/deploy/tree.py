"""Load a reviewed cluster tree, generated/<cluster>/, and prove it is the one that was reviewed.

What you review is what you deploy: the stack deploys the committed files, never a fresh
expansion of the blueprint. Every file is checked against the sha256 recorded in
aifab.lock.json, and the set of files must be exactly the set the lock lists; anything else
(an edited byte, a file deleted or added by hand, a lock that does not parse) stops the deploy
before a single resource is declared.

One more check needs no regeneration: the tree must come from the blueprint the project's
blueprints/ folder makes the cluster from (what `aifab generate --check` compares it with).
The lock names that file (`blueprint`, and `source`, the file aifab was given: the fleet for
a fleet member) and the digest of its data; a lock naming another file, or a digest the
blueprint no longer has, makes the tree stale: `aifab generate` (then review) has to run
first. No link is followed: not generated/, not the cluster folder, not a file in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from aifab.expand.common import AIFAB_API
from aifab.expand.flux import (
    ChartRelease,
    FluxError,
    is_release,
    is_source,
    read_release,
    source_key,
)
from aifab.render import LOCK, blueprint_digest, digest, repository_path
from aifab.scan import scan_tree

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

YAML_SUFFIXES = (".yaml", ".yml")
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

    @property
    def component(self) -> str:
        """The folder the file is in, as the stack groups resources: `gpu-operator`, `kueue`,
        `namespaces`, ...; `tenants/<name>` for a tenant's files."""
        parts = PurePosixPath(self.path).parts
        return "/".join(parts[:2]) if parts[0] == "tenants" and len(parts) > 2 else parts[0]


@dataclass(frozen=True, slots=True)
class ReleaseEntry(Entry):
    """A Flux HelmRelease file of the tree, read together with its source (an OCIRepository or
    HelmRepository file of the tree): `helm` has everything `helm install` needs.

    `name` and `namespace` are the Helm release's (spec.releaseName, spec.targetNamespace);
    the rest of what is installed is `helm`'s (chart, version, repository, values, timeout,
    depends_on); `source_path` is the source's file."""

    helm: ChartRelease
    source_path: str

    @property
    def name(self) -> str:
        return self.helm.name

    @property
    def namespace(self) -> str:
        return self.helm.namespace


@dataclass(frozen=True)
class ClusterTree:
    """A verified generated/<cluster>/: its lock, and its files grouped by what is done with them.

    `objects` are Kubernetes objects applied as they are; `releases` are the Flux HelmReleases,
    each a ReleaseEntry read with its source (`entry.name`, `.namespace`, and in `entry.helm`
    the chart, version, repository and values; the objects in `entry.data` and
    `entry.helm.source`); `sources` the Flux OCIRepository and HelmRepository files the releases
    take their charts from (Flux reads them; the Pulumi program installs the charts itself);
    `documents` are review files (SUMMARY.md, SVG, the `examples/` templates) that are
    verified like the rest but never deployed. Every list is in path order.
    """

    cluster: str
    folder: Path
    lock: dict[str, Any]
    lock_digest: str
    objects: list[Entry] = field(default_factory=list)
    releases: list[ReleaseEntry] = field(default_factory=list)
    sources: list[Entry] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)


def load_cluster_tree(generated_dir: Path, cluster: str) -> ClusterTree:
    """Read generated/<cluster>/, verify it against its lock, parse and group its documents.

    Raises TreeError, naming every missing, extra, edited, stale and odd (a link, a pipe)
    file, when the tree is not exactly what was generated from the project's blueprints/.
    """
    generated_dir = Path(generated_dir)
    folder = generated_dir / cluster
    if not cluster or PurePosixPath(cluster).name != cluster or cluster.startswith("."):
        raise TreeError(f"invalid cluster name {cluster!r}: expected the name of a folder in "
                        f"{generated_dir}")
    for path in (generated_dir, folder):
        if path.is_symlink():
            raise TreeError(f"{path} is a symbolic link; only the project's own "
                            f"generated/{cluster}/ is deployed, and no link is followed: "
                            "replace the link with the reviewed tree")
    if not folder.is_dir():
        raise TreeError(f"no generated tree for cluster {cluster!r}: {folder} is not a folder; "
                        "run `aifab generate` and commit generated/ after review")
    scanned = scan_tree(folder)
    files = scanned.files
    if LOCK in scanned.odd:
        raise TreeError(f"{folder / LOCK} is {scanned.odd[LOCK]}, not the lock; run "
                        "`aifab generate` and review the tree")
    lock, recorded = _read_lock(folder, files.get(LOCK))

    odd = [f"{p} ({what})" for p, what in scanned.odd.items()]
    missing = sorted(set(recorded) - set(files) - set(scanned.odd))
    extra = sorted(set(files) - set(recorded) - {LOCK})
    edited = sorted(p for p in recorded if p in files and digest(files[p]) != recorded[p])
    stale = _stale_blueprint(generated_dir.parent, cluster, lock)
    if missing or extra or edited or odd or stale:
        raise TreeError(_report(folder, missing=missing, extra=extra, edited=edited, odd=odd,
                                stale=stale))

    tree = ClusterTree(cluster, folder, lock, digest(files[LOCK]))
    helm_releases: list[Entry] = []
    for path in sorted(recorded):
        if not path.endswith(YAML_SUFFIXES) or path.startswith(EXAMPLES):
            tree.documents.append(path)
            continue
        entry = Entry(path, _parse(folder, path, files[path]))
        if entry.api_version == AIFAB_API:
            raise TreeError(f"{folder / path}: {entry.kind} of {AIFAB_API} was written by an "
                            "older aifab (node pools are NodeFeatureRules now, releases Flux "
                            "HelmReleases); run `aifab generate` and review the tree")
        if is_release(entry.data):
            helm_releases.append(entry)
        elif is_source(entry.data):
            tree.sources.append(entry)
        else:
            tree.objects.append(entry)
    tree.releases.extend(_read_releases(folder, helm_releases, tree.sources))
    return tree


def _read_releases(folder: Path, releases: list[Entry],
                   sources: list[Entry]) -> list[ReleaseEntry]:
    """Each HelmRelease joined with its source; TreeError when one cannot be read."""
    by_key = {source_key(s.data): s for s in sources}
    found = []
    for entry in releases:
        try:
            helm = read_release(entry.data, {key: s.data for key, s in by_key.items()})
        except FluxError as exc:
            raise TreeError(f"{folder / entry.path}: {exc}") from None
        found.append(ReleaseEntry(entry.path, entry.data, helm,
                                  by_key[source_key(helm.source)].path))
    return found


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


@dataclass(frozen=True)
class Origin:
    """Where `aifab generate` takes a cluster from, as its lock records it."""

    blueprint: str  # the file the cluster is written in, relative to the project
    source: str  # the file aifab reads: the blueprint, or the fleet it belongs to
    digest: str  # blueprint_digest of the cluster's data (fleet defaults merged in)


def origin(root: Path, cluster: str) -> Origin | str:
    """Where the project's blueprints/ folder makes `cluster` from, as `aifab generate` (its
    default: every blueprint of blueprints/) records it, or why it makes it from none;
    TreeError when there is no blueprints/ folder."""
    folder = root / "blueprints"
    if folder.is_symlink() or not folder.is_dir():
        raise TreeError(f"{folder} is not a folder of the project, so nothing says which "
                        f"blueprint cluster {cluster} comes from; nothing was deployed. Deploy "
                        "from a checkout of the repository (blueprints/ and generated/)")
    made = _origins(root, _state(folder)).get(cluster, [])
    if len(made) != 1:
        return f"{'no valid blueprint' if not made else 'more than one blueprint'} in " \
               f"blueprints/ makes {cluster} now"
    return made[0]


def _state(folder: Path) -> tuple[tuple[str, int, int, int], ...]:
    """What the origins depend on, without reading a file: every entry under the folder as
    lstat sees it (a fleet's member files are there too)."""
    found = []
    for entry in sorted(folder.rglob("*")):  # rglob does not descend into linked folders
        try:
            st = entry.lstat()
        except OSError:  # gone since it was listed: the pipeline will not see it either
            continue
        found.append((str(entry), st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(found)


@lru_cache(maxsize=4)
def _origins(root: Path, state: tuple[tuple[str, int, int, int], ...]) -> dict[str, list[Origin]]:
    """Cluster -> where blueprints/ makes it from, for every cluster at once: the pipeline runs
    once per blueprint, not once per blueprint and stack (`aifab deploy` checks every stack)."""
    from aifab.pipeline import blueprint_files, flatten, run

    paths, _ = blueprint_files([str(root / "blueprints")])
    made: dict[str, list[Origin]] = {}
    for path in paths:
        results = list(flatten([run(path)]))  # a fleet with an error generates none of them
        if any(f.is_error for each in results for f in each.findings):
            continue
        for r in results:
            if r.cluster is not None:
                made.setdefault(r.cluster.name, []).append(Origin(
                    repository_path(Path(r.document.file), root), repository_path(path, root),
                    blueprint_digest(r.document.data)))
    return made


def _stale_blueprint(root: Path, cluster: str, lock: dict[str, Any]) -> list[str]:
    """[why] if the lock does not record the blueprint and data blueprints/ makes the cluster
    from now (another file, or data changed since the tree was generated), else []."""
    made = origin(root, cluster)
    named = (lock.get("blueprint"), lock.get("source"))
    if isinstance(made, str):
        return [f"{named[0]} ({made})"]
    if named != (made.blueprint, made.source):
        why = (f"{named[0]} (source {named[1]}) is named by the lock, but blueprints/ makes "
               f"{cluster} from {made.blueprint} (source {made.source})")
        return [why]
    return [] if lock.get("blueprintDigest") == made.digest else [made.blueprint]


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
        "odd": "not a regular file (never read)",
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
