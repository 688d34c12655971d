"""Benchmark (f): regenerating after a one-line change to one cluster vs a full run.

In a copy of the repository, `aifab generate` first builds everything; then each round
changes one line of one fleet cluster (its description) and times `aifab generate` (which
recognises the unchanged clusters from their locks) against `aifab generate --full`.
    python bench/incremental.py [--cluster FILE] [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from common import ROOT, compile_bytecode, installed, machine, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", default="blueprints/korea/kr-gwangju-b300.yaml")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    aifab = installed("aifab")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        shutil.copytree(ROOT / "blueprints", repo / "blueprints")
        fleet = "blueprints/korea-national.yaml"
        compile_bytecode()
        timed([aifab, "generate", fleet], cwd=repo)
        member = repo / args.cluster
        incremental, full = [], []
        for i in range(args.runs):
            text = member.read_text()
            member.write_text(text.replace("\n  description: ", f"\n  description: (rev {i}) ", 1))
            incremental.append(timed([aifab, "generate", fleet], cwd=repo)[0])
            full.append(timed([aifab, "generate", "--full", fleet], cwd=repo)[0])
    a, b = statistics.median(incremental), statistics.median(full)
    print(f"machine: {machine()}; one-line change to {args.cluster}; {args.runs} runs each")
    print(f"  after the change (unchanged clusters reused)  median {a:6.2f} s")
    print(f"  full run (--full)                             median {b:6.2f} s")
    print(f"  ratio {a / b:.0%} of a full run (target <= 10%)")


if __name__ == "__main__":
    main()
