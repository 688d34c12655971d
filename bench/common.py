"""What the benchmarks share: timing whole processes side by side, and the machine line."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compile_bytecode() -> None:
    """Byte-compile aifab as `pip install` does. This machine sets PYTHONDONTWRITEBYTECODE, so
    an editable install would otherwise compile every module on every run, as no user's does."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True,
                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""}, capture_output=True)


def installed(script: str) -> str:
    """The console script installed beside the interpreter running the benchmark (a venv's,
    or pyenv's real one). `shutil.which` may find a version manager's shim instead: a shell
    script that costs more than aifab's own start-up, measured as part of every run."""
    beside = Path(sys.executable).parent / script
    found = str(beside) if beside.is_file() else shutil.which(script)
    return found or sys.exit(f"{script} is not installed: pip install -e '.[test]'")


def timed(cmd: Sequence[str], cwd: Path = ROOT) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process; exits on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def interleaved(commands: Sequence[Sequence[str]], runs: int) -> list[list[float]]:
    """Run the commands in turn (A, B, A, B, ...) so machine noise hits them alike."""
    compile_bytecode()
    for cmd in commands:
        timed(cmd)  # warm the file cache
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for i, cmd in enumerate(commands):
            times[i].append(timed(cmd)[0])
    return times


def median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000


def machine() -> str:
    return (f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
            f"{len(os.sched_getaffinity(0))} cores")


def timed_cpu(cmd: Sequence[str], cwd: Path = ROOT) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and its workers) of one child
    process; exits on failure. CPU time is what a loaded machine distorts least."""
    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    before = cpu()
    wall = timed(cmd, cwd)[0]
    return wall, cpu() - before
