"""Benchmark (d): start-up of `aifab --help` and `aifab validate`, as whole processes.

Compared side by side with a bare `python -c pass`, the floor any Python CLI pays.
    python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys

from common import installed, interleaved, machine, median_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    aifab = installed("aifab")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "aifab --help": [aifab, "--help"],
        "aifab validate (reference)": [aifab, "validate", "blueprints/gwangju-gb200.yaml"],
    }
    times = interleaved(list(commands.values()), args.runs)
    print(f"machine: {machine()}; median of {args.runs} interleaved runs")
    for name, values in zip(commands, times, strict=True):
        print(f"  {name:30} {median_ms(values):7.1f} ms")


if __name__ == "__main__":
    main()
