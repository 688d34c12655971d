"""Kernel modules: Blackwell GPUs need the open GPU kernel modules, never proprietary.

Every GPU of the catalog is Blackwell; the GPU Operator allows only `auto` (open on Blackwell)
and `open` for them (catalog features.kernelModuleType, source R1).
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding, one_of
from aifab.model import Cluster

CODES = {"AF350": "kernel module type not supported on Blackwell"}


def check(cluster: Cluster) -> Iterator[Finding]:
    allowed = cluster.catalog.features["kernelModuleType"]["allowed"]
    chosen = cluster.gpu_operator.kernel_module_type
    if chosen in allowed:
        return
    gpus = sorted({pool.system.gpu.name for pool in cluster.node_pools})
    yield finding(
        "AF350",
        f"kernelModuleType '{chosen}' does not drive Blackwell GPUs ({', '.join(gpus)}); "
        f"allowed: {one_of(allowed)}",
        ("spec", "gpuOperator", "driver", "kernelModuleType"),
        hint="use open (or auto, which picks open on Blackwell)",
    )
