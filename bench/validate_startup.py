"""Benchmark (a): `aifab validate` vs `check-jsonschema` on the same blueprints, as whole
processes, interleaved in one session so noise on a shared machine hits both alike.

check-jsonschema only checks the JSON Schema; aifab also checks YAML hazards, the hardware
catalog and every semantic rule.
    python bench/validate_startup.py [BLUEPRINT ...] [--runs N]
"""

from __future__ import annotations

import argparse

from common import ROOT, installed, interleaved, machine, median_ms

STANDALONE = ["blueprints/busan-gb300.yaml", "blueprints/daejeon-b200.yaml",
              "blueprints/gwangju-gb200.yaml", "blueprints/seoul-rtxpro.yaml"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blueprints", nargs="*", default=STANDALONE)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    aifab = installed("aifab")
    cjs = installed("check-jsonschema")
    ours = [aifab, "validate", *args.blueprints]
    theirs = [cjs, "--schemafile", str(ROOT / "schemas" / "blueprint.schema.json"), *args.blueprints]
    a, b = interleaved([ours, theirs], args.runs)
    print(f"machine: {machine()}; {len(args.blueprints)} blueprints; {args.runs} runs each")
    print(f"  aifab validate      median {median_ms(a):7.1f} ms")
    print(f"  check-jsonschema    median {median_ms(b):7.1f} ms")
    print(f"  ratio aifab / check-jsonschema = {median_ms(a) / median_ms(b):.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
