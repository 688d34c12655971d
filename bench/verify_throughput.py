"""Benchmark (c): aifab's verifier, as `aifab generate` runs it, vs kubernetes_validate.validate().

The manifests are every bundled standalone cluster's outputs. aifab's side is
`aifab.verify.verify()`, the call `aifab generate` makes for each cluster: verification by
default, CRDs and Helm values keys from the chart data aifab ships for the exact versions,
CEL rules on, no --crds or --chart-values. kubernetes_validate has schemas for core objects
only (a custom resource raises SchemaNotFoundError), so the ratio is taken on what both can
check, the same core objects (strict, each cluster's Kubernetes version); aifab's throughput on
every output (custom resources with their CEL rules and Helm values included) is printed beside
it.

Each round times, in turn in one process: aifab on the core objects, kubernetes_validate on
the same objects, aifab on every output (aifab repeated to measure it above the noise; its
compiled validators and CEL programs kept, as within one generate run; CEL outcomes kept by
value only within a pass), then aifab once more
in a new process from cold caches (the first cluster of a run: schemas read, validators and
CEL programs compiled, celpy imported). Medians of the rounds.
    python bench/verify_throughput.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from common import ROOT, compile_bytecode, machine

sys.path.insert(0, str(ROOT / "src"))

REPEAT = 10  # aifab passes per round (one pass takes milliseconds)


Clusters = list[tuple[str, str, list]]  # name, Kubernetes version, outputs


def clusters() -> Clusters:
    """(name, version, outputs) of every bundled standalone cluster, as generate builds them."""
    from aifab.expand import expand
    from aifab.pipeline import run

    found = []
    for path in sorted((ROOT / "blueprints").glob("*.yaml")):
        result = run(path)
        if result.cluster is not None and not result.members:
            found.append((result.cluster.name, result.cluster.kubernetes.version,
                          expand(result.cluster)))
    return found


def core_only(found: Clusters) -> Clusters:
    from aifab.verify.kubernetes_schemas import Validators

    return [(name, version, [o for o in outs
                             if o.kind == "object" and Validators(version).knows(o.data)])
            for name, version, outs in found]


def aifab_pass(found: Clusters) -> None:
    """One verification of every cluster's outputs, exactly as generate.build calls it. The
    CEL outcomes kept by value are forgotten first: a run verifies each object once."""
    from aifab.verify import Sources, cel, verify

    cel._RESULTS.clear()
    for name, version, outputs in found:
        findings, _ = verify(outputs, version, Sources(), f"generated/{name}")
        if any(f.is_error for f in findings):
            sys.exit(f"{name}: {findings[0].code} {findings[0].message}")


def seconds(work: Callable[[], None], repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        work()
    return (time.perf_counter() - start) / repeat


def cold() -> None:
    """In a new process: one pass over every output from cold caches, the verifier's modules
    (celpy among them) imported on first use, as in a generate run."""
    found = clusters()
    print(json.dumps(seconds(lambda: aifab_pass(found))))


def main() -> None:
    import kubernetes_validate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold:
        return cold()
    compile_bytecode()
    everything = clusters()
    core = core_only(everything)
    objects = [(o.data, version) for _, version, outs in core for o in outs]
    n_core, n_all = len(objects), sum(len(outs) for _, _, outs in everything)
    n_custom = sum(1 for _, _, outs in everything for o in outs if o.kind == "object") - n_core
    versions = ", ".join(sorted({version for _, version, _ in everything}))

    def theirs() -> None:
        for data, version in objects:
            kubernetes_validate.validate(dict(data), version, strict=True)

    aifab_pass(everything)  # warm: the caches a generate run fills with its first cluster
    ours_core, kv_core, ours_all, ours_cold = [], [], [], []
    for _ in range(args.rounds):
        ours_core.append(seconds(lambda: aifab_pass(core), REPEAT))
        kv_core.append(seconds(theirs))
        ours_all.append(seconds(lambda: aifab_pass(everything), REPEAT))
        proc = subprocess.run([sys.executable, __file__, "--cold"], capture_output=True,
                              text=True, check=True, cwd=ROOT / "bench")
        ours_cold.append(json.loads(proc.stdout.splitlines()[-1]))
    a, b, c, d = map(statistics.median, (ours_core, kv_core, ours_all, ours_cold))
    ratios = sorted(k / o for k, o in zip(kv_core, ours_core, strict=True))
    print(f"machine: {machine()}; Kubernetes {versions}, strict; {args.rounds} rounds, medians")
    print(f"  {len(everything)} standalone clusters: {n_all} outputs, of them {n_core} core "
          f"objects, {n_custom} custom resources (CEL on), the rest Helm releases and node pools")
    print(f"  aifab verify(), core objects          {n_core / a:9.0f} objects/s")
    print(f"  kubernetes_validate.validate(), same  {n_core / b:9.0f} objects/s")
    print(f"  aifab verify(), every output          {n_all / c:9.0f} outputs/s")
    print(f"  aifab verify(), every output, cold    {n_all / d:9.0f} outputs/s "
          f"(a new process's first pass: {d:.2f} s)")
    print(f"  ratio on the core objects {b / a:.0f}x, median of the rounds' ratios "
          f"{statistics.median(ratios):.0f}x (rounds {ratios[0]:.0f}-{ratios[-1]:.0f}x; "
          "target >= 20x)")
    print(f"  every output vs kubernetes_validate's core rate {b / n_core * n_all / c:.0f}x; "
          f"cold {b / n_core * n_all / d:.1f}x")


if __name__ == "__main__":
    main()
