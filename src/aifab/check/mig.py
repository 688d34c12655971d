"""MIG: each pool's mig-parted config exists for its GPU, and the MIG strategy fits the pools.

Profile names differ between GPU models (B200 2g.45gb, GB200 2g.47gb), so a config is checked
against the configs of the pool's GPU (catalog `migConfigs`, source R2). A config with more than
one profile type per GPU (all-balanced) needs the device plugin's `mixed` strategy (R1).
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding, did_you_mean, finding, one_of, warning
from aifab.model import Cluster

CODES = {
    "AF340": "MIG config not defined for the pool's GPU",
    "AF341": "MIG strategy contradicts the pools' MIG configs",
    "AF342": "MIG strategy set without MIG pools",
}

STRATEGY = ("spec", "gpuOperator", "mig", "strategy")


def check(cluster: Cluster) -> Iterator[Finding]:
    for pool in cluster.node_pools:
        configs = pool.system.gpu.mig_configs
        if pool.mig_config is not None and pool.mig_config not in configs:
            yield finding(
                "AF340",
                f"pool '{pool.name}': MIG config '{pool.mig_config}' does not exist for the "
                f"{pool.system.gpu.name} ({pool.system.name})",
                pool.path + ("mig", "config"),
                hint=did_you_mean(pool.mig_config, configs) or f"valid configs: {one_of(configs)}",
            )
    yield from _strategy(cluster)


def _strategy(cluster: Cluster) -> Iterator[Finding]:
    written = cluster.gpu_operator.mig_strategy
    needed = cluster.needed_mig_strategy
    if written is None or written == needed:
        return
    mig = [pool for pool in cluster.node_pools if pool.uses_mig]
    if needed == "none":
        yield warning(
            "AF342",
            f"mig.strategy is '{written}' but no pool uses MIG",
            STRATEGY,
            hint="remove mig.strategy (it is derived), or give a pool a mig.config",
        )
    elif written == "none":
        names = ", ".join(f"'{p.name}' ({p.mig_config})" for p in mig)
        yield finding(
            "AF341",
            f"mig.strategy is 'none' but pools use MIG: {names}; "
            f"their MIG devices would not be advertised: strategy {needed}",
            STRATEGY,
            hint=f"set mig.strategy: {needed}, or remove it (it is derived)",
        )
    elif written == "single":  # needed is mixed
        pool = next(p for p in mig if len(p.mig_profiles) > 1)
        yield finding(
            "AF341",
            f"mig.strategy is 'single' but pool '{pool.name}' uses {pool.mig_config}, which mixes "
            f"{', '.join(pool.mig_profiles)}: strategy mixed",
            STRATEGY,
            hint="set mig.strategy: mixed, or remove it (it is derived)",
        )
