"""Benchmarks (b) and (e): `aifab generate` vs dumping the same objects with PyYAML's C
dumper, and the peak memory of the generation.

Not a test. Both run as whole processes, interleaved in one session (A, B, A, B, ...):
  A  `aifab generate --full --out DIR/outN BLUEPRINT` (load, validate, rules, expand,
     verify, render, write all files to a new folder; clusters in parallel on every core),
     once with DIR on disk (beside the repository) and once in memory (/dev/shm), which
     leaves out the disk's wait
  B  a Python process that reads the same objects from JSON and dumps each with CSafeDumper
     (the floor: interpreter start, yaml import, serialisation).

    python bench/generate_vs_dump.py [BLUEPRINT] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from common import ROOT, compile_bytecode, installed, machine, timed

DUMP = """
import json, sys, yaml
for data in json.load(open(sys.argv[1])):
    yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False)
"""


def objects_of(blueprint: Path) -> list[dict]:
    sys.path.insert(0, str(ROOT / "src"))
    from aifab.expand import expand
    from aifab.pipeline import flatten, run

    found = []
    for result in flatten([run(blueprint)]):
        if result.cluster is not None:
            found += [dict(o.data) for o in expand(result.cluster) if o.kind != "document"]
    if not found:
        sys.exit(f"{blueprint} is not valid")
    return found


def _generate(aifab: str, out: Path, blueprint: str) -> list[str]:
    return [aifab, "generate", "--full", "--out", str(out), blueprint]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blueprint", nargs="?", default="blueprints/korea-national.yaml")
    parser.add_argument("--runs", type=int, default=10)  # the machine is noisy: 5 is too few
    args = parser.parse_args()

    aifab = installed("aifab")
    memory = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else None
    # on disk: beside the repository, on the file system its generated/ is on
    with tempfile.TemporaryDirectory(dir=ROOT.parent, prefix=".aifab-bench-") as disk, \
            tempfile.TemporaryDirectory(dir=memory, prefix="aifab-bench-") as ram:
        objects = Path(disk) / "objects.json"
        data = objects_of(ROOT / args.blueprint)
        objects.write_text(json.dumps(data))
        dump = [sys.executable, "-c", DUMP, str(objects)]
        compile_bytecode()
        timed(_generate(aifab, Path(ram) / "warm", args.blueprint))
        timed(dump)
        on_disk, in_memory, dumped, rss = [], [], [], 0
        for run in range(args.runs):
            # a full write every time, into a new folder: deleting the last run's 2,000 files
            # just before would make this one wait on the file system for the harness's work
            os.sync()  # the last runs' files reach the disk before, not during, this one
            seconds, peak = timed(_generate(aifab, Path(disk) / f"out{run}", args.blueprint))
            on_disk.append(seconds)
            rss = max(rss, peak)
            in_memory.append(timed(_generate(aifab, Path(ram) / f"out{run}", args.blueprint))[0])
            dumped.append(timed(dump)[0])
    disk_s, ram_s, dump_s = map(statistics.median, (on_disk, in_memory, dumped))
    # each round's ratio, from runs seconds apart: the machine's load drifts, and cancels out
    ram_r = sorted(g / d for g, d in zip(in_memory, dumped, strict=True))
    disk_r = sorted(g / d for g, d in zip(on_disk, dumped, strict=True))
    print(f"machine: {machine()}; {args.blueprint}; {len(data)} objects; {args.runs} runs each")
    print(f"  aifab generate, out on disk (whole process)      median {disk_s:6.2f} s")
    print(f"  aifab generate, out in memory (whole process)    median {ram_s:6.2f} s"
          f"{'' if memory else '  (no /dev/shm: a temporary folder on disk)'}")
    print(f"  C dumper only (whole process)                    median {dump_s:6.2f} s")
    print("  ratio generate / dump, median of the rounds' ratios (target <= 1.5):")
    for where, ratios in (("in memory", ram_r), ("on disk  ", disk_r)):
        print(f"    out {where} {statistics.median(ratios):.2f} "
              f"(rounds {ratios[0]:.2f}-{ratios[-1]:.2f})")
    print("  (on disk includes the one syncfs that makes the new files durable before the swap:")
    print("   a wait on the disk, which the dumper, writing nothing, does not have)")
    print(f"  peak RSS of one generate process: {rss / 1024:.0f} MiB (target < 1024 MiB)")


if __name__ == "__main__":
    main()
