"""Two `aifab generate` runs on one output folder: the second waits for the first (the
folder's lock, aifab.outlock), so neither removes the other's staging or swaps over the
other's trees; every cluster folder ends whole and matching its lock, and a run that says
it succeeded wrote what it says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aifab.cli import main
from aifab.outlock import held
from aifab.render import LOCK, digest, read_tree
from bundled import fleet_copy

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 4  # two runs at once, from an empty folder each time: about a second a round


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    return fleet_copy(tmp_path)


def _forked_generate(repo: Path, out: str) -> int:
    """A `generate --full` in a forked child (no interpreter start-up); its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 99
        try:
            os.chdir(repo)
            sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (the child exits)
            code = main(["generate", "--full", "--jobs", "2", "--out", out, "fleet/fleet.yaml"])
        finally:
            os._exit(code)
    return pid


def _exit_code(pid: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("a generate run did not finish")


def whole(out: Path) -> list[str]:
    """What is wrong with out/: a leftover, or a cluster folder not exactly what its lock
    lists (a file missing, extra or with other bytes)."""
    wrong = []
    for folder in sorted(out.iterdir()):
        if folder.name.startswith("."):
            wrong.append(f"leftover {folder.name}")
            continue
        files = read_tree(folder)
        try:
            listed = json.loads(files.get(LOCK, b"")).get("files", {})
        except ValueError:
            wrong.append(f"{folder.name}: no readable lock")
            continue
        if set(files) != set(listed) | {LOCK}:
            wrong.append(f"{folder.name}: files {sorted(set(files) ^ (set(listed) | {LOCK}))}")
        wrong += [f"{folder.name}/{path}: other bytes" for path, want in listed.items()
                  if path in files and digest(files[path]) != want]
    return wrong


def test_two_runs_at_once_leave_every_cluster_whole(fleet):
    repo = fleet.parent.parent
    out = repo / "gen"
    for round_ in range(ROUNDS):
        pids = [_forked_generate(repo, "gen") for _ in range(2)]
        codes = [_exit_code(pid) for pid in pids]
        assert codes == [0, 0], f"round {round_}: exit codes {codes}"
        assert sorted(p.name for p in out.iterdir()) == ["a-b200", "a-gb200"], round_
        assert whole(out) == [], f"round {round_}"
        for folder in out.iterdir():  # the next round starts from an empty folder again
            for path in sorted(folder.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            folder.rmdir()


def test_a_run_waits_for_the_run_holding_the_folder_and_says_so(fleet):
    repo = fleet.parent.parent
    out = repo / "generated"
    with held(out):
        proc = subprocess.Popen(
            [sys.executable, "-m", "aifab", "generate", "fleet/fleet.yaml"], cwd=repo,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        try:
            line = proc.stderr.readline()  # the first thing it says: it waits
            assert "another aifab run is using generated/; waiting for it to finish" in line
            time.sleep(0.2)
            assert proc.poll() is None and list(out.iterdir()) == []  # nothing written yet
        except BaseException:
            proc.kill()
            raise
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "generated/a-gb200/: 22 files written" in stdout
    assert whole(out) == [] and sorted(p.name for p in out.iterdir()) == ["a-b200", "a-gb200"]


def test_a_folder_the_lock_created_for_a_run_that_wrote_nothing_is_removed(fleet, capsys):
    repo = fleet.parent.parent
    (repo / "fleet" / "fleet.yaml").write_text("kind: Fleet\n")  # invalid: nothing written
    assert main(["generate", "--out", str(repo / "build" / "gen"), str(fleet)]) == 1
    assert not (repo / "build").exists()
    assert "nothing written" in capsys.readouterr().err


def test_a_file_in_place_of_the_output_folder_is_a_clean_error(fleet, capsys):
    repo = fleet.parent.parent
    (repo / "gen").write_text("not a folder\n")
    assert main(["generate", "--out", str(repo / "gen"), str(fleet)]) == 1
    err = capsys.readouterr().err
    assert f"aifab generate: cannot write {repo / 'gen'}: File exists" in err
    assert "Traceback" not in err
    assert (repo / "gen").read_text() == "not a folder\n"


def test_check_waits_for_a_writing_run_and_never_creates_the_folder(fleet, capsys):
    repo = fleet.parent.parent
    assert main(["generate", "--check", "--out", str(repo / "gen"), str(fleet)]) == 1
    assert not (repo / "gen").exists()
    capsys.readouterr()
    assert main(["generate", "--out", str(repo / "gen"), str(fleet)]) == 0
    with held(repo / "gen"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "aifab", "generate", "--check", "--out", "gen",
             "fleet/fleet.yaml"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        try:
            assert "waiting for it to finish" in proc.stderr.readline()
        except BaseException:
            proc.kill()
            raise
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "gen/a-gb200/: current" in stdout


def test_a_watching_run_removes_the_trees_it_replaced_only_holding_the_folder(tmp_path):
    """--watch removes the old trees after reporting a run: by then another run may be
    writing the folder, so the removal waits for its lock."""
    from aifab import cli

    out = tmp_path / "gen"
    old = out / ".a-gb200.aifab-old"
    (old / "sub").mkdir(parents=True)
    removed = threading.Event()
    left: list[OSError] = []
    with held(out):
        threading.Thread(target=lambda: (left.extend(cli._remove_replaced(out, [old])),
                                         removed.set()), daemon=True).start()
        assert not removed.wait(0.3) and old.exists()
    assert removed.wait(10) and not old.exists() and left == []


def test_a_file_system_without_locks_is_said_and_the_run_goes_on(tmp_path, monkeypatch):
    import errno

    from aifab import outlock

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(outlock.fcntl, "flock", no_locks)
    said: list[str] = []
    with held(tmp_path / "gen", say=said.append):
        assert (tmp_path / "gen").is_dir()
    assert said == [f"cannot lock {tmp_path / 'gen'}/ (No locks available); make sure no "
                    "other aifab run writes it at the same time"]
    assert not (tmp_path / "gen").exists()
