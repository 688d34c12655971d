"""Drivers and operator release: every pool's driver and the GPU Operator support its GPU.

Minimum drivers per GPU, with and without MIG (MIG user guide, D9), and the first GPU Operator
release per GPU and for MIG on it come from gpus.yaml (R1); ComputeDomains need the driver of
features.computeDomain (R4). Each release tests the drivers of its component matrix
(compatibility.yaml `drivers`, R1); another driver may work, so it is a warning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from aifab.catalog import version_tuple
from aifab.diagnostics import Finding, finding, warning
from aifab.model import Cluster, NodePool

CODES = {
    "AF345": "driver not listed for the GPU Operator release",
    "AF346": "driver older than the GPU needs",
    "AF347": "driver older than ComputeDomains need",
    "AF348": "GPU Operator release does not support the GPU",
    "AF349": "GPU Operator release does not support MIG on the GPU",
}

DRIVER = ("spec", "gpuOperator", "driver", "version")
OPERATOR = ("spec", "gpuOperator", "version")


def _need(pool: NodePool, cluster: Cluster) -> tuple[str, str, str]:
    """The strictest driver minimum of the pool: (code, minimum, what needs it)."""
    gpu = pool.system.gpu
    needs = [("AF346", gpu.min_driver, gpu.name)]
    if pool.uses_mig:
        needs.append(("AF346", gpu.min_driver_mig, f"{gpu.name} with MIG"))
    if pool.compute_domains:
        cd_min = cluster.catalog.features["computeDomain"]["minDriver"]
        needs.append(("AF347", cd_min, "ComputeDomains"))
    return max(needs, key=lambda need: version_tuple(need[1]))


def check(cluster: Cluster) -> Iterator[Finding]:
    yield from _drivers(cluster)
    yield from _listed(cluster)
    yield from _operator(cluster)


def _drivers(cluster: Cluster) -> Iterator[Finding]:
    shared: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for pool in cluster.node_pools:
        code, minimum, what = _need(pool, cluster)
        if version_tuple(pool.driver_version) >= version_tuple(minimum):
            continue
        if pool.driver_overridden:
            yield finding(
                code,
                f"pool '{pool.name}': driver {pool.driver_version} is below the minimum for "
                f"{what} ({minimum})",
                pool.path + ("driver", "version"),
                hint=f"set the pool's driver.version to {minimum} or later",
            )
        else:  # one finding per GPU model at the cluster's driver, with its strictest minimum
            shared[(code, pool.system.gpu.id)].append((pool.name, minimum, what))
    for (code, _), pools in shared.items():
        _, minimum, what = max(pools, key=lambda need: version_tuple(need[1]))
        yield finding(
            code,
            f"driver {cluster.gpu_operator.driver_version} is below the minimum for {what} "
            f"({minimum}); pools: {', '.join(name for name, _, _ in pools)}",
            DRIVER,
            hint=_driver_hint(cluster, minimum),
        )


def _driver_hint(cluster: Cluster, minimum: str) -> str:
    hint = f"set gpuOperator.driver.version to {minimum} or later"
    release = cluster.catalog.gpu_operator_releases.get(cluster.gpu_operator.version)
    default = release.default_driver if release else None
    if default and version_tuple(default) >= version_tuple(minimum):
        hint += f" ({release.version} ships {default} by default)"
    return hint


def _listed(cluster: Cluster) -> Iterator[Finding]:
    """Drivers outside the release's component matrix (unknown releases: AF352 says so)."""
    release = cluster.catalog.gpu_operator_releases.get(cluster.gpu_operator.version)
    if release is None or not release.drivers:
        return
    listed = ", ".join(release.drivers)
    places = [(pool.driver_version, pool.path + ("driver", "version"), f"pool '{pool.name}': ")
              for pool in cluster.node_pools if pool.driver_overridden]
    if len(places) < len(cluster.node_pools) or not cluster.node_pools:  # the cluster's is used
        places.insert(0, (cluster.gpu_operator.driver_version, DRIVER, ""))
    for version, path, who in places:
        if version in release.drivers:
            continue
        yield warning(
            "AF345",
            f"{who}driver {version} is not one GPU Operator {release.version} lists; it was "
            f"tested with {listed}",
            path,
            hint=f"use one of {listed} (default {release.default_driver}), or keep {version} "
                 "if you have validated it with this release",
        )


def _operator(cluster: Cluster) -> Iterator[Finding]:
    """One finding per GPU the release does not support (AF348), or not with MIG (AF349)."""
    version = cluster.gpu_operator.version
    short: dict[tuple[str, str], list[str]] = defaultdict(list)  # (code, GPU id) -> pools
    for pool in cluster.node_pools:
        gpu = pool.system.gpu
        if version_tuple(version) < version_tuple(gpu.min_gpu_operator):
            short[("AF348", gpu.id)].append(pool.name)
        elif pool.uses_mig and version_tuple(version) < version_tuple(gpu.min_gpu_operator_mig):
            short[("AF349", gpu.id)].append(pool.name)
    for (code, gpu_id), names in sorted(short.items()):
        gpu = cluster.catalog.gpus[gpu_id]
        pools = ", ".join(names)
        if code == "AF348":
            message = (f"GPU Operator {version} does not support the {gpu.name} (pools: "
                       f"{pools}); support starts with {gpu.min_gpu_operator}")
            hint = f"set gpuOperator.version to {gpu.min_gpu_operator} or later"
        else:
            message = (f"GPU Operator {version} runs the {gpu.name} without MIG only (MIG "
                       f"pools: {pools}); MIG on it starts with {gpu.min_gpu_operator_mig}")
            hint = (f"set gpuOperator.version to {gpu.min_gpu_operator_mig} or later, or "
                    "remove mig.config from those pools")
        yield finding(code, message, OPERATOR, hint=hint)
