"""Benchmark: `aifab validate` vs `check-jsonschema` on the same blueprint, as whole processes.

Not a test: it prints timings and the ratio. Both commands run interleaved in one session
(A, B, A, B, ...) so that noise on a shared machine hits both alike; the median is reported.

    python bench/validate_startup.py [BLUEPRINT] [--runs N]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blueprint", nargs="?", default="blueprints/gwangju-gb200.yaml")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    aifab = [shutil.which("aifab") or sys.exit("aifab is not installed"), "validate", args.blueprint]
    cjs = [shutil.which("check-jsonschema") or sys.exit("check-jsonschema is not installed"),
           "--schemafile", "schemas/blueprint.schema.json", args.blueprint]
    for cmd in (aifab, cjs):  # warm the file cache and .pyc files
        timed(cmd)
    a, c = [], []
    for _ in range(args.runs):
        a.append(timed(aifab))
        c.append(timed(cjs))
    ma, mc = statistics.median(a), statistics.median(c)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {len(__import__('os').sched_getaffinity(0))} cores")
    print(f"aifab validate      median {ma * 1000:7.1f} ms  (min {min(a) * 1000:.1f})")
    print(f"check-jsonschema    median {mc * 1000:7.1f} ms  (min {min(c) * 1000:.1f})")
    print(f"ratio aifab / check-jsonschema = {ma / mc:.2f}  (target <= 1.0; {args.runs} runs each)")


if __name__ == "__main__":
    main()
