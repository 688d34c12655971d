"""CDMM: Grace systems on drivers that enable CDMM should not use MIG or GPUDirect Storage.

On GB200/GB300, drivers from 580.65.06 enable Coherent Driver Memory Management, which is not
compatible with MIG or GDS (GPU Operator 25.3.2 release notes; catalog features.cdmm, source R1).
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.catalog import version_tuple
from aifab.diagnostics import Finding, warning
from aifab.model import Cluster, NodePool

CODES = {
    "AF357": "MIG on a Grace pool with CDMM",
    "AF358": "GPUDirect Storage with CDMM pools",
}

WHAT = ("CDMM (Coherent Driver Memory Management: on Grace systems the NVIDIA driver, "
        "not the OS, manages GPU memory)")


def _cdmm(pool: NodePool, threshold: str) -> bool:
    return pool.system.gpu.grace and version_tuple(pool.driver_version) >= version_tuple(threshold)


def check(cluster: Cluster) -> Iterator[Finding]:
    cdmm = cluster.catalog.features["cdmm"]
    threshold, conflicts = cdmm["driverThreshold"], cdmm["warnWith"]
    pools = [pool for pool in cluster.node_pools if _cdmm(pool, threshold)]
    if "mig" in conflicts:
        for pool in (p for p in pools if p.uses_mig):
            yield warning(
                "AF357",
                f"pool '{pool.name}': driver {pool.driver_version} (>= {threshold}) turns on "
                f"{WHAT} on the {pool.system.gpu.name}; CDMM is not compatible with MIG "
                f"(mig.config {pool.mig_config})",
                pool.path + ("mig", "config"),
                hint="run MIG on a pool without Grace (B200, B300, RTX PRO), or verify MIG "
                     "with CDMM on your driver before production",
            )
    if "gds" in conflicts and cluster.gpu_operator.gds and pools:
        names = ", ".join(
            f"'{p.name}' ({p.system.gpu.name}, driver {p.driver_version})" for p in pools
        )
        yield warning(
            "AF358",
            f"gds is true, but drivers >= {threshold} turn on {WHAT} on pools {names}; "
            "CDMM is not compatible with GPUDirect Storage",
            ("spec", "gpuOperator", "gds"),
            hint="set gds: false, or verify GDS with CDMM on your driver before production",
        )
