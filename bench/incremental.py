"""Benchmark (f): regenerating after a one-line change to one cluster vs a full run.

Two copies of the repository's blueprints are generated first. Each round changes one line of
one fleet cluster (its description) in both, then times, side by side:
  A  `aifab generate --watch` (copy 1, running all along): from the save to "generated again",
     and the run alone as the process reports it;
  B  `aifab generate` (copy 2, a new process, which recognises unchanged clusters by their locks);
  C  `aifab generate --full` (copy 2, a new process: every cluster rebuilt).
    python bench/incremental.py [--cluster FILE] [--runs N]
"""

from __future__ import annotations

import argparse
import queue
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, compile_bytecode, installed, machine, timed

FLEET = "blueprints/korea-national.yaml"
SETTLE_SECONDS = 1.5  # between rounds: the folders written last are not "racy" any more


class Watcher:
    """`aifab generate --watch` in `repo`, its output lines read by a thread."""

    def __init__(self, aifab: str, repo: Path) -> None:
        self.proc = subprocess.Popen([aifab, "generate", "--watch", FLEET], cwd=repo, text=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put("")  # the end

    def until(self, needle: str, timeout: float = 120) -> str:
        try:
            while line := self.lines.get(timeout=timeout):
                if needle in line:
                    return line
        except queue.Empty:
            pass
        raise SystemExit(f"aifab generate --watch: no {needle!r}")

    def drain(self) -> int:
        """Drop the lines not waited for; the number of runs among them (there should be none)."""
        runs = 0
        while not self.lines.empty():
            runs += "generated again" in self.lines.get_nowait()
        return runs

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def change(repo: Path, member: str, revision: int) -> None:
    path = repo / member
    text = path.read_text()
    path.write_text(text.replace("\n  description: ", f"\n  description: (rev {revision}) ", 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", default="blueprints/korea/kr-gwangju-b300.yaml")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    aifab = installed("aifab")
    compile_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        watched, cold = Path(tmp, "watched"), Path(tmp, "cold")
        for repo in (watched, cold):
            shutil.copytree(ROOT / "blueprints", repo / "blueprints")
        timed([aifab, "generate", FLEET], cwd=cold)
        watcher = Watcher(aifab, watched)
        try:
            watcher.until("watching")
            saved, runs, incremental, full, unasked = [], [], [], [], 0
            for i in range(args.runs):
                time.sleep(SETTLE_SECONDS)
                unasked += watcher.drain()
                start = time.perf_counter()
                change(watched, args.cluster, i)
                line = watcher.until("generated again")
                saved.append(time.perf_counter() - start)
                runs.append(float(re.search(r"in ([0-9.]+) s", line)[1]))
                change(cold, args.cluster, i)
                incremental.append(timed([aifab, "generate", FLEET], cwd=cold)[0])
                full.append(timed([aifab, "generate", "--full", FLEET], cwd=cold)[0])
        finally:
            watcher.stop()
    print(f"machine: {machine()}; one-line change to {args.cluster}; {args.runs} rounds")
    rows = [("A  --watch, save to written (polling included)", saved),
            ("A  --watch, the run itself", runs),
            ("B  aifab generate (new process, unchanged clusters reused)", incremental),
            ("C  aifab generate --full (new process)", full)]
    print(f"  {'':58} {'median':>8}  of C (median of the rounds' ratios)")
    for label, values in rows:
        ratio = statistics.median(v / c for v, c in zip(values, full, strict=True))
        print(f"  {label:58} {statistics.median(values):6.2f} s  {ratio:4.0%}")
    print("  target: <= 10% of a full run")
    if unasked:
        print(f"  (the watcher also ran {unasked} time(s) with no change made: investigate)")


if __name__ == "__main__":
    main()
