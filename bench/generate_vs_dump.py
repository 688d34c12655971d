"""Benchmark: `aifab generate` vs the bare cost of dumping the same objects with PyYAML's C dumper.

Not a test. Both run as whole processes, interleaved in one session (A, B, A, B, ...), so the
ratio holds on a shared, noisy machine:
  A  `aifab generate --out TMP BLUEPRINT` (load, validate, rules, expand, verify, render, write)
  B  a Python process that reads the same objects from JSON and dumps each with CSafeDumper
     (the floor: interpreter start, yaml import, serialisation).

    python bench/generate_vs_dump.py [BLUEPRINT] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DUMP = """
import json, sys, yaml
objects = json.load(open(sys.argv[1]))
for data in objects:
    yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False)
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    return elapsed


def objects_of(blueprint: Path) -> list[dict]:
    from aifab.expand import expand
    from aifab.pipeline import run

    result = run(blueprint)
    if result.cluster is None:
        sys.exit(f"{blueprint} is not valid")
    return [dict(out.data) for out in expand(result.cluster)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blueprint", nargs="?", default="blueprints/gwangju-gb200.yaml")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    aifab = shutil.which("aifab") or sys.exit("aifab is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        objects = Path(tmp) / "objects.json"
        data = objects_of(ROOT / args.blueprint)
        objects.write_text(json.dumps(data))
        gen = [aifab, "generate", "--out", str(Path(tmp) / "out"), args.blueprint]
        dump = [sys.executable, "-c", DUMP, str(objects)]
        timed(gen)
        timed(dump)
        a, b = [], []
        for _ in range(args.runs):
            shutil.rmtree(Path(tmp) / "out", ignore_errors=True)  # a full write every time
            a.append(timed(gen))
            b.append(timed(dump))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores; {args.blueprint}")
    print(f"aifab generate (whole process)   median {ma * 1000:7.1f} ms")
    print(f"C dumper only (whole process)    median {mb * 1000:7.1f} ms  ({len(data)} objects)")
    print(f"ratio generate / dump = {ma / mb:.2f}  ({args.runs} runs each, interleaved)")


if __name__ == "__main__":
    main()
