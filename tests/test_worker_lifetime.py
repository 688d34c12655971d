"""The build workers of `aifab generate --jobs N` never outlive their parent.

A parent stopped by SIGTERM cleans up as after Ctrl-C (its workers killed, what they staged
removed, exit code 128+15, no traceback); a parent killed outright (SIGKILL) takes its
workers with it (worker.start: PR_SET_PDEATHSIG on Linux). Here each worker stages its
cluster and then sleeps, as a long build would, so that the signal comes while both run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aifab import worker
from bundled import fleet_copy

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="reads process states from /proc")

SLOW_BUILDS = """
import faulthandler, os, signal, sys, time
from pathlib import Path
faulthandler.register(signal.SIGUSR1, all_threads=True)
sys.path.insert(0, {src!r})
from aifab import cli, generate
real = generate.build
def slow(*args, **kwargs):
    built = real(*args, **kwargs)  # the cluster is staged now
    Path({marks!r}, str(os.getpid())).touch()
    time.sleep(120)
    return built
generate.build = slow
sys.argv = ["aifab", "generate", "--full", "--jobs", "2", "fleet/fleet.yaml"]
sys.exit(cli.program())
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return fleet_copy(tmp_path).parent.parent


def alive(pid: int) -> bool:
    """Running or stopped; not gone, not a zombie waiting for a parent that never reaps."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def start_building(repo: Path, marks: Path, output: Path) -> tuple[subprocess.Popen, list[int]]:
    """A generate whose two workers have each staged a cluster and are still building; its
    output goes to a file (a worker that outlives it would hold a pipe open)."""
    # a SIGTERM ignored here would be ignored by the child too (aifab keeps it ignored)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    marks.mkdir()
    with output.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SLOW_BUILDS.format(src=str(ROOT / "src"), marks=str(marks))],
            cwd=repo, stdout=out, stderr=subprocess.STDOUT)
    if not wait_until(lambda: len(list(marks.iterdir())) == 2 or proc.poll() is not None, 60):
        proc.kill()
        raise AssertionError("the workers did not start")
    assert proc.poll() is None, output.read_text()
    return proc, sorted(int(p.name) for p in marks.iterdir())


def staging(repo: Path) -> list[str]:
    out = repo / "generated"
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def test_sigterm_stops_the_workers_and_removes_what_they_staged(repo, tmp_path):
    output = tmp_path / "output"
    proc, workers = start_building(repo, tmp_path / "marks", output)
    try:
        assert staging(repo) == [".a-b200.aifab-new", ".a-gb200.aifab-new"]
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # its threads' stacks, in the output
            time.sleep(1)
            raise AssertionError(output.read_text()) from None
        stderr = output.read_text()
        assert wait_until(lambda: not any(alive(pid) for pid in workers), 5), workers
    finally:
        proc.kill()
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "terminated" in stderr and "Traceback" not in stderr, stderr
    assert not (repo / "generated").exists()  # the staging went, and the folder made for it


def test_workers_die_with_a_parent_killed_outright(repo, tmp_path):
    proc, workers = start_building(repo, tmp_path / "marks", tmp_path / "output")
    try:
        proc.kill()
        proc.wait(timeout=20)
        assert wait_until(lambda: not any(alive(pid) for pid in workers), 5), workers
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    # the staging left behind is cleared by the next run, which is not kept waiting
    done = subprocess.run([sys.executable, "-m", "aifab", "generate", "fleet/fleet.yaml"],
                          cwd=repo, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr
    assert staging(repo) == ["a-b200", "a-gb200"]


def test_a_worker_whose_parent_is_gone_before_it_starts_ends_itself():
    """The parent can die between the fork and the worker asking to die with it."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            worker.start(os.getppid() + 1 if os.getppid() != 1 else 2)  # not its parent
        finally:
            os._exit(0)  # only if start let it live
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_without_the_kernel_s_help_a_thread_watches_the_parent(monkeypatch):
    monkeypatch.setattr(worker, "_kill_on_parent_death", lambda: False)
    monkeypatch.setattr(worker, "PARENT_POLL_SECONDS", 0.01)
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:  # pragma: no cover (the child: forks a worker, then dies)
        try:
            me = os.getpid()
            grandchild = os.fork()
            if grandchild == 0:
                worker.start(me)
                time.sleep(30)
                os._exit(0)
            os.write(write, str(grandchild).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(middle, 0)
    grandchild = int(os.read(read, 32))
    os.close(read)
    try:
        assert wait_until(lambda: not alive(grandchild), 5)
    finally:
        if alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)


def test_sigterm_stops_a_watching_generate_between_runs(repo):
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    proc = subprocess.Popen([sys.executable, "-m", "aifab", "generate", "--watch",
                             "fleet/fleet.yaml"], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        for line in proc.stderr:  # until the first run is done and it waits for changes
            if "watching" in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert "terminated" in stderr and "Traceback" not in stderr
    assert staging(repo) == ["a-b200", "a-gb200"]
