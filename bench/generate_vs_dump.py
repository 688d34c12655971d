"""Benchmarks (b) and (e): `aifab generate` vs dumping the same objects with PyYAML's C
dumper, and the peak memory of the generation.

Not a test. Both run as whole processes, interleaved in one session (A, B, A, B, ...):
  A  `aifab generate --full --out TMP BLUEPRINT` (load, validate, rules, expand, verify,
     render, write; clusters in parallel on every core)
  B  a Python process that reads the same objects from JSON and dumps each with CSafeDumper
     (the floor: interpreter start, yaml import, serialisation).

    python bench/generate_vs_dump.py [BLUEPRINT] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from common import ROOT, machine, timed

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blueprint", nargs="?", default="blueprints/korea-national.yaml")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    aifab = shutil.which("aifab") or sys.exit("aifab is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        objects = Path(tmp) / "objects.json"
        data = objects_of(ROOT / args.blueprint)
        objects.write_text(json.dumps(data))
        out = Path(tmp) / "out"
        gen = [aifab, "generate", "--full", "--out", str(out), args.blueprint]
        dump = [sys.executable, "-c", DUMP, str(objects)]
        timed(gen)
        timed(dump)
        a, b, rss = [], [], 0
        for _ in range(args.runs):
            shutil.rmtree(out, ignore_errors=True)  # a full write every time
            seconds, peak = timed(gen)
            a.append(seconds)
            rss = max(rss, peak)
            b.append(timed(dump)[0])
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"machine: {machine()}; {args.blueprint}; {len(data)} objects; {args.runs} runs each")
    print(f"  aifab generate (whole process)   median {ma:6.2f} s")
    print(f"  C dumper only (whole process)    median {mb:6.2f} s")
    print(f"  ratio generate / dump = {ma / mb:.2f} (target <= 1.5; whole fleet < 30 s)")
    print(f"  peak RSS of one generate process: {rss / 1024:.0f} MiB (target < 1024 MiB)")


if __name__ == "__main__":
    main()
