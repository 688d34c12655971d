"""GPU sharing: MPS only on whole GPUs (not with MIG), and enough replicas to share.

The device plugin shares whole GPUs through MPS and cannot combine it with MIG; time-slicing
works on MIG devices too (catalog features.mps and features.timeSlicing, source R1).
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding
from aifab.model import Cluster

CODES = {"AF344": "GPU sharing the device plugin cannot do"}


def check(cluster: Cluster) -> Iterator[Finding]:
    features = cluster.catalog.features
    min_replicas = features["timeSlicing"]["minReplicas"]
    for pool in cluster.node_pools:
        if pool.sharing is None:
            continue
        where = pool.path + ("sharing", pool.sharing.kind)
        if pool.sharing.kind == "mps" and pool.uses_mig and not features["mps"]["withMig"]:
            yield finding(
                "AF344",
                f"pool '{pool.name}': MPS shares whole GPUs only and cannot be combined with "
                f"MIG (mig.config {pool.mig_config})",
                where,
                hint="use sharing.timeSlicing on MIG pools, or remove mig.config to use MPS",
            )
        if pool.sharing.kind == "timeSlicing" and pool.sharing.replicas < min_replicas:
            yield finding(
                "AF344",
                f"pool '{pool.name}': time-slicing with {pool.sharing.replicas} replica(s) "
                f"shares nothing; at least {min_replicas} are needed",
                where + ("replicas",),
                hint=f"set replicas to {min_replicas} or more, or remove sharing",
            )
