"""`aifab admit`: seconds per file (target < 1 s), for the example templates of every bundled
cluster with examples, judged against their reviewed trees; loading a tree (which checks its
lock and the blueprint it came from) is timed apart, and so is one whole `aifab admit` run
(process start included) per cluster.

    python bench/admit_speed.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from aifab.admit import admit
from aifab.admit.cluster import from_tree

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    generated = ROOT / "generated"
    for folder in sorted(generated.glob("*/examples")):
        cluster = folder.parent.name
        start = time.perf_counter()
        view = from_tree(generated, cluster)
        loaded = time.perf_counter() - start
        files = sorted(str(p) for p in folder.rglob("*.yaml"))
        for rounds in (1, 2):  # the first round pays for compiling schemas and CEL programs
            start = time.perf_counter()
            report = admit(files, view)
            per_file = (time.perf_counter() - start) / len(files)
            print(f"{cluster}: tree {loaded:.2f} s; round {rounds}: {per_file:.3f} s per file "
                  f"({len(files)} files, {sum(v.admitted for v in report.verdicts)} admitted)")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "aifab", "admit", *files, "--cluster", cluster],
                       cwd=ROOT, check=True, capture_output=True)
        print(f"{cluster}: `aifab admit` of {len(files)} files: "
              f"{time.perf_counter() - start:.2f} s in all")


if __name__ == "__main__":
    main()
