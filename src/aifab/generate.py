"""Generate: validated blueprints -> verified, rendered cluster folders, written or checked.

Every cluster is built and verified before any folder changes. A built cluster's new files
are staged beside its folder (hidden, `.<cluster>.aifab-new`) while the others still build;
they are swapped in only when every blueprint validated and every generated object verified.
A run with any error removes the staging again: it writes nothing.
"""

from __future__ import annotations

import gc
import json
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from aifab import __version__, worker
from aifab.diagnostics import Finding, Severity, sorted_unique
from aifab.model import Cluster
from aifab.pipeline import Result, flatten, run
from aifab.progress import Tracker
from aifab.render import (
    LOCK,
    Drift,
    blueprint_digest,
    digest,
    discard_staged,
    drift,
    recover,
    render,
    repository_path,
    stage_cluster,
    tree_state,
    write_clusters,
)
from aifab.scan import read_regular, scan_tree
from aifab.trusted import remember, trusted
from aifab.verify import Sources, policies, verify
from aifab.verify.policies import admission_policies

if TYPE_CHECKING:
    from aifab.memo import Memo

CODES = {
    "AF420": "two blueprints generate the same cluster folder",
    "AF014": "generate --check: a generated file is missing",
    "AF015": "generate --check: a generated file is stale (made from other inputs)",
    "AF016": "generate --check: a generated file was edited by hand",
    "AF017": "generate --check: a file or folder no blueprint generates",
    "AF018": "generate --check: not a regular file where aifab writes one",
}


@dataclass
class Plan:
    """What a generate run would write: cluster name -> files, with all findings and notes."""

    out: FsPath
    results: list[Result] = field(default_factory=list)
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    reused: set[str] = field(default_factory=set)  # current on disk by their locks
    staged: set[str] = field(default_factory=set)  # new files staged beside their folders
    created: FsPath | None = None  # the outermost folder of `out` that did not exist before
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # other files findings are in, by name

    @property
    def ok(self) -> bool:
        return not any(f.is_error for f in self.findings)


@dataclass(frozen=True)
class Build:
    """What to build for one cluster: its model, where its blueprint was, where it goes."""

    cluster: Cluster
    blueprint: str  # the file the cluster is written in, as the lock and the headers name it
    source: str  # the file aifab was given: the blueprint itself, or its fleet
    data: Any  # the blueprint's data, for the lock's digest
    folder: str


Built = tuple[dict[str, bytes], list[Finding], list[str], bool]  # files, findings, notes, staged


def build(job: Build, sources: Sources, stage_in: FsPath | None = None,
          memo: Memo | None = None) -> Built:
    """Expand, render and verify one cluster: independent of every other cluster, so clusters
    build in parallel. With `stage_in` (the output folder), a cluster without errors is also
    staged there (render.stage_cluster), its files written while other clusters still build;
    nothing is visible until `write` swaps them in, and `discard` removes them. A `memo`
    keeps what was verified of each file, by its bytes (verify, policies.check)."""
    from aifab.expand import expand

    outputs = expand(job.cluster)
    files = render(outputs, blueprint=job.blueprint, blueprint_data=job.data,
                   catalog_version=job.cluster.catalog.version, source=job.source)
    findings, notes = verify(outputs, job.cluster.kubernetes.version, sources, job.folder,
                             files, memo)
    findings += policies.check(outputs, job.cluster, job.folder, files, memo)
    staged = False
    if stage_in is not None and not any(f.is_error for f in findings):
        try:
            staged = stage_cluster(stage_in, job.cluster.name, files)
        except OSError as e:  # a full disk, a read-only folder: told apart from reading errors
            raise CannotWrite(e.filename or str(stage_in), e.strerror or str(e)) from e
    return files, findings, notes, staged


class CannotWrite(Exception):
    """Writing the output failed (the file and the reason); picklable, for worker processes."""

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(filename, reason)
        self.filename, self.reason = filename, reason


def plan(blueprints: Sequence[FsPath], out: FsPath, sources: Sources, jobs: int = 1,
         reuse: bool = False, stage: bool = False, tracker: Tracker | None = None,
         memo: Memo | None = None) -> Plan:
    """Validate every blueprint, then build every valid cluster (in `jobs` processes).

    With `reuse`, a cluster whose folder is current by its lock (same blueprint data, aifab
    and catalog versions, no file changed since), a lock this machine's aifab wrote itself
    (aifab.trusted), is taken from disk instead of rebuilt. The Pulumi project's stack
    configurations are checked too, when there is one (deploy.stack_config).
    With `stage`, built clusters are staged for `write` as they are built; the caller must
    then `write` or `discard` the plan. A `memo` (aifab.memo) keeps what this process
    validated and read in earlier runs, by their exact inputs.
    """
    result = Plan(out, created=_first_missing(out))
    owners: dict[str, str] = {}
    builds: list[Build] = []
    given = ((path, outcome) for path in blueprints for outcome in flatten([run(path, memo)]))
    for path, outcome in given:
        result.results.append(outcome)
        result.findings.extend(outcome.findings)
        cluster = outcome.cluster
        if cluster is None or not outcome.ok:
            continue
        if cluster.name in owners:
            result.findings.append(outcome.document.place(Finding(
                "", 0, 0, "AF420", Severity.ERROR,
                f"cluster {cluster.name} is also defined in {owners[cluster.name]}; both would "
                f"generate {out / cluster.name}", ("metadata", "name"),
                "give each blueprint its own metadata.name")))
            continue
        owners[cluster.name] = outcome.document.file
        builds.append(Build(cluster, _relative(FsPath(outcome.document.file), out),
                            _relative(path, out), outcome.document.data, str(out / cluster.name)))
    if reuse:
        locks = trusted(out)
        current = {job.cluster.name: files for job in builds if (files := _current(
            out / job.cluster.name, job, memo, locks.get(job.cluster.name))) is not None}
        result.files.update(current)
        result.reused.update(current)
        builds = [job for job in builds if job.cluster.name not in current]
        if current:
            result.notes.append(f"{len(current)} cluster(s) unchanged since generated (by their "
                                "locks): not rebuilt")
    tracker = tracker or Tracker()
    tracker.total(len(builds))
    built = _build_all(builds, sources, jobs, out if stage else None, memo)
    try:
        for job, (files, findings, notes, staged) in zip(builds, built, strict=True):
            tracker.advance()
            result.files[job.cluster.name] = files
            result.findings.extend(findings)
            result.notes.extend(notes)
            if staged:
                result.staged.add(job.cluster.name)
    except BaseException:  # a full disk while staging, Ctrl-C: undo what any builder staged
        built.close()  # and first stop the builders: none may stage after this
        result.staged.update(job.cluster.name for job in builds)
        discard(result)
        raise
    _check_stack_configs(result)
    result.findings = sorted_unique(result.findings)
    return result


_WORK: tuple[list[Build], Sources, FsPath | None] | None = None  # set in forked workers only


def _build_all(builds: list[Build], sources: Sources, jobs: int, stage_in: FsPath | None,
               memo: Memo | None) -> Iterator[Built]:
    """Build serially (with the memo), or in forked processes that inherit the validated
    clusters (the model holds mapping proxies, which do not pickle); only indexes and bytes
    cross processes.
    The results are the same either way: each cluster's build depends on nothing else.
    Yields in `builds` order, each as soon as it and those before it are done."""
    jobs = min(jobs, len(builds))
    if jobs > 1:  # only a pool needs these (0.02 s of imports a one-cluster rebuild skips)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
    if jobs < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield from (build(job, sources, stage_in, memo) for job in builds)
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # as it is: restored in `finally`
    others = set(multiprocessing.active_children())
    try:
        # The validated fleet is frozen: no collection walks it again, in the parent or
        # (copying it page by page) in the forked workers. Then what every build would
        # otherwise compute first, in each worker, is computed once here, frozen too, and
        # shared by them all.
        gc.freeze()
        admission_policies.prepare(job.cluster for job in builds)
        gc.freeze()
        # Ctrl-C and SIGTERM are blocked while the workers are forked, until each ignores
        # them (_set_work): one in between would otherwise print a traceback per worker. The
        # parent gets it once all are submitted, where it stops the pool like any other.
        signal.pthread_sigmask(signal.SIG_BLOCK, worker.STOPPED_BY_PARENT)  # may raise one
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_set_work,
                                 initargs=((builds, sources, stage_in),)) as pool:
            try:
                biggest_first = sorted(range(len(builds)), key=lambda i: -builds[i].cluster.gpus)
                futures = {i: pool.submit(_build_index, i) for i in biggest_first}
                gc.unfreeze()  # the workers are forked (a fork pool starts all at once)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                for i in range(len(builds)):
                    yield futures[i].result()
            except BaseException:  # an error, Ctrl-C, SIGTERM, or the caller stopping early
                _stop(set(multiprocessing.active_children()) - others)
                pool.shutdown(wait=True, cancel_futures=True)  # none runs; no more starts
                raise
    finally:
        gc.unfreeze()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _stop(workers: set[Any]) -> None:
    """Kill the pool's workers and wait until they are gone: nothing they build is wanted
    any more, and none may stage after this (the caller then removes what they staged).
    Killed, not waited for: a hung build must not hold up Ctrl-C or SIGTERM."""
    for process in workers:
        process.kill()
    for process in workers:
        process.join()


def _set_work(work: tuple[list[Build], Sources, FsPath | None]) -> None:
    import multiprocessing

    global _WORK
    _WORK = work
    parent = multiprocessing.parent_process()
    assert parent is not None and parent.pid is not None
    # Ctrl-C and SIGTERM are the parent's to handle: it stops the workers; none prints a
    # traceback. A parent killed outright takes its workers with it.
    worker.start(parent.pid)


def _build_index(index: int) -> Built:
    assert _WORK is not None
    builds, sources, stage_in = _WORK
    return build(builds[index], sources, stage_in)


def current_tree(folder: FsPath, job: Build,
                 trusted_lock: str | None) -> dict[str, bytes] | None:
    """The folder's files when its lock is the one this machine's aifab wrote (`trusted_lock`,
    its digest: aifab.trusted), says they were generated from exactly this input by this aifab
    and catalog, and none changed since; else None (rebuild)."""
    raw = read_regular(folder / LOCK)  # a regular file: never a pipe or a link in its place
    if raw is None or trusted_lock is None or digest(raw) != trusted_lock:
        return None
    try:
        lock = json.loads(raw)
    except ValueError:
        return None
    wanted = {"aifabVersion": __version__, "catalogVersion": job.cluster.catalog.version,
              "blueprint": job.blueprint, "source": job.source,
              "blueprintDigest": blueprint_digest(job.data)}
    if not isinstance(lock, dict) or any(lock.get(k) != v for k, v in wanted.items()):
        return None
    tree = scan_tree(folder)
    files, recorded = tree.files, lock.get("files")
    if tree.odd or not isinstance(recorded, dict) or set(files) != set(recorded) | {LOCK} or any(
            digest(files[path]) != recorded[path] for path in recorded):
        return None
    return files


def _current(folder: FsPath, job: Build, memo: Memo | None,
             trusted_lock: str | None) -> dict[str, bytes] | None:
    """current_tree, from the memo while no file of the folder changed since it was read (by
    render.tree_state: inode, size, modification and change times)."""
    state = tree_state(folder) if memo is not None else None
    if state is None:
        return current_tree(folder, job, trusted_lock)
    inputs = (job.blueprint, job.source, blueprint_digest(job.data), job.cluster.catalog.version,
              trusted_lock)
    return memo.get(("tree", state, inputs), lambda: current_tree(folder, job, trusted_lock))


def _relative(blueprint: FsPath, out: FsPath) -> str:
    """The blueprint as seen from the repository root (out's parent): stable across cwd."""
    return repository_path(blueprint, out.resolve().parent)


def write_stack_configs(result: Plan, stacks: FsPath) -> list[FsPath]:
    """Create stacks/Pulumi.<cluster>.yaml for new clusters. An existing one is never touched:
    Pulumi keeps encrypted secrets and the stack's salt in it; no link is followed."""
    from aifab.deploy.stack_config import create_stack_configs

    return create_stack_configs(stacks, sorted(result.files))


def _check_stack_configs(result: Plan) -> None:
    """The findings of the Pulumi project's stack configurations (deploy.stack_config), when
    the output folder is in one (Pulumi.yaml beside it): `generate` creates them there."""
    if not (result.out.resolve().parent / "Pulumi.yaml").is_file():
        return
    from aifab.deploy.stack_config import check_stack_configs

    findings, texts = check_stack_configs(result.out.resolve().parent / "stacks",
                                          result.out.parent / "stacks")
    result.findings.extend(findings)
    result.texts.update(texts)


def write(result: Plan, replaced: list[FsPath] | None = None) -> dict[str, bool]:
    """Write every cluster folder; name -> whether it changed. Clusters staged while they
    were built are swapped in with the rest, after the same single syncfs. With `replaced`,
    the old trees are left aside for the caller to remove (render.write_clusters)."""
    for name in result.reused:
        recover(result.out, name)  # the folder stays, but not a killed run's leftovers
    unstaged = {name: files for name, files in sorted(result.files.items())
                if name not in result.reused and name not in result.staged}
    changed = write_clusters(result.out, unstaged, staged=sorted(result.staged),
                             replaced=replaced)
    remember(result.out, {name: digest(files[LOCK]) for name, files in result.files.items()})
    return dict(sorted({name: changed.get(name, False) for name in result.files}.items()))


def discard(result: Plan) -> None:
    """Undo the staging of a plan that will not be written: out/ is left as it was, and so
    are its parents (a folder staging created goes again, if it is empty)."""
    discard_staged(result.out, result.staged)
    result.staged.clear()
    if result.created is None:
        return
    folder = result.out
    while folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        if folder == result.created:
            break
        folder = folder.parent


def _first_missing(path: FsPath) -> FsPath | None:
    """The outermost folder of `path` (itself included) that does not exist, or None."""
    missing = None
    while not path.exists() and path != path.parent:
        missing, path = path, path.parent
    return missing


def check(result: Plan, *, all_clusters: bool) -> list[Drift]:
    """Drift of every planned cluster folder; with `all_clusters`, folders no blueprint makes too."""
    drifts = [drift(result.out / name, files) for name, files in sorted(result.files.items())]
    if all_clusters and result.out.is_dir():
        known = set(result.files)
        for folder in sorted(p for p in result.out.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if folder.name not in known:
                orphan = Drift(folder, extra=["."],
                               notes={".": "the whole folder: no blueprint generates it"})
                drifts.append(orphan)
    return drifts


REGENERATE = "run `aifab generate` and commit the result"
_DRIFT = (  # (entries, code, what is wrong, what to do), in the order --check lists them
    (lambda d: d.missing, "AF014", "missing: the blueprints generate this file", REGENERATE),
    (lambda d: d.stale, "AF015", "stale: generated from other inputs than the blueprints' now",
     REGENERATE),
    (lambda d: d.edited, "AF016", "edited by hand: differs from the digest its lock records",
     "change the blueprint instead; `aifab generate` replaces this file"),
    (lambda d: d.extra, "AF017", "extra: no blueprint generates it",
     "`aifab generate` over the whole folder removes it, or delete it"),
    (lambda d: d.odd, "AF018", "not a regular file, never read",
     "`aifab generate` replaces it with the generated file"),
)


def drift_findings(drifts: Sequence[Drift]) -> list[Finding]:
    """Each file --check found not as generated, as a finding at that file (on the first line
    that differs, for a stale or edited one), for --format json, sarif and github."""
    found = []
    for d in drifts:
        for entries, code, what, hint in _DRIFT:
            for path in entries(d):
                file = (d.folder if path == "." else d.folder / path).as_posix()
                note = d.notes.get(path)
                message = f"{what.partition(':')[0]}: {note}" if note else what
                found.append(Finding(file, d.lines.get(path, 1), 1, code, Severity.ERROR,
                                     message, hint=hint))
    return sorted_unique(found)
