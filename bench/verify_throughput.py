"""Benchmark (c): verifying manifests, aifab's verifier vs `kubernetes_validate.validate()`.

Both check the same core objects (every bundled standalone cluster's, in strict mode, for
Kubernetes 1.34) in one process, one after the other, twice in alternation; the ratio of
objects per second is reported. kubernetes_validate reads and compiles the schemas on every
call; aifab compiles one validator per kind.
    python bench/verify_throughput.py [--rounds N]
"""

from __future__ import annotations

import argparse
import sys
import time

from common import ROOT, machine

sys.path.insert(0, str(ROOT / "src"))


def objects() -> list[dict]:
    from aifab.expand import expand
    from aifab.pipeline import run

    found = []
    for path in sorted((ROOT / "blueprints").glob("*.yaml")):
        result = run(path)
        if result.cluster is not None:
            found += [dict(o.data) for o in expand(result.cluster) if o.kind == "object"]
    return found


def main() -> None:
    import kubernetes_validate

    from aifab.verify.kubernetes_schemas import Validators

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    validators = Validators("1.34")
    core = [o for o in objects() if validators.knows(o)]
    ours, theirs = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(20):  # the verifier is fast: repeat to measure it above the noise
            for data in core:
                list(validators.check(data, "bench"))
        ours.append((time.perf_counter() - start) / 20)
        start = time.perf_counter()
        for data in core:
            kubernetes_validate.validate(data, "1.34", strict=True)
        theirs.append(time.perf_counter() - start)
    a, b = min(ours), min(theirs)
    print(f"machine: {machine()}; {len(core)} core objects, Kubernetes 1.34 strict")
    print(f"  aifab verifier                 {len(core) / a:9.0f} objects/s")
    print(f"  kubernetes_validate.validate() {len(core) / b:9.0f} objects/s")
    print(f"  ratio {b / a:.0f}x (target >= 20x)")


if __name__ == "__main__":
    main()
