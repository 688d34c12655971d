"""An interrupted write leaves out/<cluster>/ wholly old or wholly new, and the next run heals.

A child process replaces a 1,500-file tree by a 2,000-file one with render.write_cluster and
is killed with SIGKILL at moments spread over the whole write (before, while staging, around
the swap, while the old tree is deleted). After each kill the folder must read back exactly as
the old or the new tree, and an ordinary write_cluster afterwards must produce the new tree
and leave nothing else in out/ (no `.<name>.aifab-new` staging folder, no `.aifab-old`).
Exceptions raised in the middle (disk full, fsync failing) must leave the old tree intact.

The trees live on tmpfs (/dev/shm) when there is one: a SIGKILL tests the order of renames,
not durability, and syncfs(2) on a disk shared with other jobs can take seconds.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from aifab import render
from aifab.render import read_tree, write_cluster, write_clusters

ROOT = Path(__file__).resolve().parents[1]
NAME = "x"


def _tree(tag: str, count: int, folders: int) -> dict[str, bytes]:
    files = {f"d{i % folders:02d}/{tag}-{i:04d}.yaml": f"{tag} {i}\n".encode() * 40
             for i in range(count)}
    files["aifab.lock.json"] = f'{{"tree": "{tag}"}}\n'.encode()  # a path both trees share
    files["shared/same.yaml"] = b"same: true\n"  # identical in both
    return dict(sorted(files.items()))


OLD = _tree("old", 1500, 20)
NEW = _tree("new", 2000, 25)
SMALL_OLD = _tree("old", 150, 5)  # for the in-process tests: same shape, faster
SMALL_NEW = _tree("new", 200, 6)

CHILD = """
import json, sys
from pathlib import Path
from aifab.render import write_cluster
files = {k: v.encode() for k, v in json.loads(Path(sys.argv[1]).read_text()).items()}
write_cluster(Path(sys.argv[2]), sys.argv[3], files)
"""


def _state(out: Path, old: dict[str, bytes] = OLD, new: dict[str, bytes] = NEW) -> str:
    tree = read_tree(out / NAME)
    if tree == old:
        return "old"
    if tree == new:
        return "new"
    missing, extra = set(old) - set(tree), set(tree) - set(old)
    raise AssertionError(f"{out / NAME} is a mix of old and new: {len(tree)} files, "
                         f"{len(missing)} old ones missing, {len(extra)} not old; "
                         f"out/ holds {sorted(os.listdir(out))}")


def _heals(out: Path, new: dict[str, bytes] = NEW) -> None:
    """An ordinary run after the interruption writes the new tree and leaves nothing else."""
    write_cluster(out, NAME, new)
    assert read_tree(out / NAME) == new
    assert sorted(os.listdir(out)) == [NAME], "leftovers of the interrupted run stay in out/"


@pytest.fixture
def base(tmp_path: Path):
    """A scratch folder on tmpfs when available (fast syncs), else tmp_path."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="aifab-fault-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def new_files(base: Path) -> Path:
    path = base / "new.json"
    path.write_text(json.dumps({k: v.decode() for k, v in NEW.items()}))
    return path


def _start(new_files: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(new_files), str(out), NAME],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(condition, proc: subprocess.Popen[bytes], timeout: float = 20) -> bool:
    """Poll until `condition()` or the child ends; True when the condition came first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.0002)
    raise AssertionError("the writer neither finished nor reached the expected point")


def _kill(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL the child; True when it was still running (the kill interrupted it)."""
    running = proc.poll() is None
    if running:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)
    if not running:
        assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    return running


def test_sigkill_at_any_moment_leaves_old_or_new_and_the_next_run_heals(base, new_files):
    out = base / "out"
    staging = out / f".{NAME}.aifab-new"
    lock = out / NAME / "aifab.lock.json"
    outcomes: list[tuple[str, str, bool, bool]] = []

    def attempt(label: str, arrive) -> None:
        write_cluster(out, NAME, OLD)
        assert _state(out) == "old" and sorted(os.listdir(out)) == [NAME]
        proc = _start(new_files, out)
        arrive(proc)
        interrupted = _kill(proc)
        leftover = staging.exists()
        outcomes.append((label, _state(out), interrupted, leftover))
        _heals(out)

    # After fixed delays from the start of the child (mostly still importing).
    for ms in (0, 20, 50):
        attempt(f"{ms} ms after start", lambda proc, ms=ms: time.sleep(ms / 1000))
    # While staging: once the staging folder exists, then after growing delays.
    for ms in (0, 5, 20, 60, 150, 300):
        def staged(proc, ms=ms):
            if _wait_for(staging.exists, proc):
                time.sleep(ms / 1000)
        attempt(f"{ms} ms after staging appeared", staged)
    # Right after the swap: the new lock is in place, the old tree is being deleted.
    new_lock = NEW["aifab.lock.json"]
    for _ in range(2):
        attempt("right after the swap",
                lambda proc: _wait_for(lambda: _read(lock) == new_lock, proc))

    states = {state for _, state, _, _ in outcomes}
    assert states == {"old", "new"}, f"the kills did not cover both sides of the swap: {outcomes}"
    assert any(left for *_, left in outcomes), "no kill landed while a staging folder existed"
    assert sum(interrupted for _, _, interrupted, _ in outcomes) >= len(outcomes) // 2


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def test_a_leftover_staging_folder_does_not_break_an_unchanged_write(base):
    """A run killed while deleting the old tree leaves it in the staging folder; the next
    run, even one with nothing to change, removes it."""
    out = base / "out"
    write_cluster(out, NAME, SMALL_NEW)
    leftover = out / f".{NAME}.aifab-new" / "d00"
    leftover.mkdir(parents=True)
    (leftover / "old-0000.yaml").write_bytes(SMALL_OLD["d00/old-0000.yaml"])
    assert write_cluster(out, NAME, SMALL_NEW) is False
    assert read_tree(out / NAME) == SMALL_NEW
    assert sorted(os.listdir(out)) == [NAME]
    (out / f".{NAME}.aifab-new").mkdir()
    assert write_cluster(out, NAME, SMALL_OLD) is True
    assert read_tree(out / NAME) == SMALL_OLD and sorted(os.listdir(out)) == [NAME]


class _Fail:
    """Raise OSError(errno) on the n-th call of the wrapped function, else call it."""

    def __init__(self, real, n: int, err: int, only=lambda *a, **k: True) -> None:
        self.real, self.n, self.err, self.only, self.calls = real, n, err, only, 0

    def __call__(self, *args, **kwargs):
        if self.only(*args, **kwargs):
            self.calls += 1
            if self.calls == self.n:
                raise OSError(self.err, os.strerror(self.err))
        return self.real(*args, **kwargs)


def _writes(staging: Path):
    def only(file, mode="r", *args, **kwargs) -> bool:
        return any(c in mode for c in "wax") and str(file).startswith(str(staging))
    return only


@pytest.mark.parametrize("nth", [1, 2, 100, 202])
def test_disk_full_while_staging_leaves_the_old_tree(base, monkeypatch, nth):
    out = base / "out"
    write_cluster(out, NAME, SMALL_OLD)
    failing = _Fail(builtins.open, nth, errno.ENOSPC, _writes(out / f".{NAME}.aifab-new"))
    monkeypatch.setattr(builtins, "open", failing)
    monkeypatch.setattr(io, "open", failing)  # pathlib.Path.open goes through io.open
    with pytest.raises(OSError) as raised:
        write_cluster(out, NAME, SMALL_NEW)
    assert raised.value.errno == errno.ENOSPC and failing.calls == nth
    monkeypatch.undo()
    assert _state(out, SMALL_OLD, SMALL_NEW) == "old"
    _heals(out, SMALL_NEW)


def test_disk_full_while_staging_a_second_cluster_leaves_both_old_and_no_staging(base,
                                                                               monkeypatch):
    """Clusters are all staged before any is swapped in: a failure while staging the second
    touches neither folder and removes the first one's staging too."""
    out = base / "out"
    write_clusters(out, {"a": SMALL_OLD, "b": SMALL_OLD})
    failing = _Fail(builtins.open, 3, errno.ENOSPC, _writes(out / ".b.aifab-new"))
    monkeypatch.setattr(builtins, "open", failing)
    monkeypatch.setattr(io, "open", failing)
    with pytest.raises(OSError):
        write_clusters(out, {"a": SMALL_NEW, "b": SMALL_NEW})
    monkeypatch.undo()
    assert sorted(os.listdir(out)) == ["a", "b"]
    assert read_tree(out / "a") == read_tree(out / "b") == SMALL_OLD


@pytest.mark.parametrize("nth", [1, 2, 50, 201])
def test_fsync_failing_leaves_the_old_or_the_new_tree(base, monkeypatch, nth):
    """However many fsyncs the writer does, a failing one never leaves a mix; when it fails
    before the swap the old tree is intact, and an error is never swallowed."""
    out = base / "out"
    write_cluster(out, NAME, SMALL_OLD)
    failing = _Fail(os.fsync, nth, errno.EIO)
    monkeypatch.setattr(os, "fsync", failing)
    try:
        write_cluster(out, NAME, SMALL_NEW)
    except OSError as exc:
        assert exc.errno == errno.EIO and failing.calls == nth
        state = _state(out, SMALL_OLD, SMALL_NEW)
        if state == "new":  # failed after the swap: only the final directory fsync is left
            assert not (out / f".{NAME}.aifab-new").exists()
    else:
        assert failing.calls < nth, "an fsync error was swallowed"
        assert _state(out, SMALL_OLD, SMALL_NEW) == "new"
    monkeypatch.undo()
    _heals(out, SMALL_NEW)


def test_without_renameat2_an_error_between_the_renames_loses_nothing(base, monkeypatch):
    """Where RENAME_EXCHANGE is missing, write_cluster falls back to renames; an error (or a
    crash) between them must neither lose the old tree nor leave it behind for good."""
    out = base / "out"
    write_cluster(out, NAME, SMALL_OLD)
    monkeypatch.setattr(render, "_libc", lambda: None)  # no renameat2, no syncfs
    failing = _Fail(os.rename, 2, errno.EIO)
    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(OSError):
        write_cluster(out, NAME, SMALL_NEW)
    monkeypatch.undo()
    trees = {p.name: read_tree(p) for p in out.iterdir()}
    assert SMALL_OLD in trees.values(), f"the old tree is gone: out/ holds {sorted(trees)}"
    _heals(out, SMALL_NEW)


def test_a_crash_between_the_fallback_renames_is_repaired_by_the_next_run(base):
    """Killed after moving the old tree aside and before moving the new one in: the cluster
    folder is missing until the next run, which puts the old tree back before anything else
    (here: an unchanged write of the old tree finds it in place)."""
    out = base / "out"
    write_cluster(out, NAME, SMALL_OLD)
    write_cluster(out, "staged", SMALL_NEW)  # stands for the complete staging folder
    os.rename(out / NAME, out / f".{NAME}.aifab-old")
    os.rename(out / "staged", out / f".{NAME}.aifab-new")
    assert write_cluster(out, NAME, SMALL_OLD) is False
    assert _state(out, SMALL_OLD, SMALL_NEW) == "old" and sorted(os.listdir(out)) == [NAME]


def test_a_symlink_in_place_of_the_staging_folder_cannot_redirect_the_writes(base):
    """A checkout may carry a symlink named like the staging folder; writing through it would
    put generated files wherever it points."""
    out, elsewhere = base / "out", base / "elsewhere"
    elsewhere.mkdir()
    write_cluster(out, NAME, SMALL_OLD)
    (out / f".{NAME}.aifab-new").symlink_to(elsewhere, target_is_directory=True)
    write_cluster(out, NAME, SMALL_NEW)
    assert list(elsewhere.iterdir()) == []
    assert _state(out, SMALL_OLD, SMALL_NEW) == "new" and sorted(os.listdir(out)) == [NAME]
    assert not (out / NAME).is_symlink()


def test_a_symlinked_cluster_folder_is_replaced_not_followed(base):
    """out/<cluster> itself a symlink (a hostile checkout): the swap replaces the link with a
    real folder and removes the link, never the folder it points to."""
    out, elsewhere = base / "out", base / "elsewhere"
    write_cluster(elsewhere, NAME, SMALL_OLD)
    out.mkdir()
    (out / NAME).symlink_to(elsewhere / NAME, target_is_directory=True)
    write_cluster(out, NAME, SMALL_NEW)
    assert not (out / NAME).is_symlink() and _state(out, SMALL_OLD, SMALL_NEW) == "new"
    assert read_tree(elsewhere / NAME) == SMALL_OLD
    assert sorted(os.listdir(out)) == [NAME]
