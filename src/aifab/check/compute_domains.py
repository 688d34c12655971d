"""ComputeDomains: only on multi-node NVLink pools, with CDI, DRA in Kubernetes and no MIG.

A ComputeDomain hands out IMEX channels across one multi-node NVLink domain, so it exists only on
the systems of catalog features.computeDomain.systems (GB200/GB300 NVL72). The DRA driver needs
CDI, and its chart installs on Kubernetes >= 1.32 (NVIDIA/k8s-dra-driver-gpu v25.12.0
deployments/helm/nvidia-dra-driver-gpu/Chart.yaml kubeVersion, R4); DRA is beta and off by
default on 1.32 and 1.33 (K1). MIG removes NVLink peer-to-peer, so a domain's GPUs stay whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from aifab.catalog import version_tuple
from aifab.diagnostics import Finding, finding, warning
from aifab.model import Cluster, NodePool

CODES = {
    "AF362": "ComputeDomains on a system without multi-node NVLink",
    "AF363": "ComputeDomains without CDI",
    "AF364": "ComputeDomains on a Kubernetes without DRA",
    "AF365": "ComputeDomains on a Kubernetes where DRA is beta",
    "AF366": "ComputeDomains and MIG on the same pool",
}

KUBERNETES = ("spec", "kubernetes", "version")


def _names(pools: list[NodePool]) -> str:
    return ", ".join(f"'{pool.name}'" for pool in pools)


def check(cluster: Cluster) -> Iterator[Finding]:
    feature = cluster.catalog.features["computeDomain"]
    pools = [pool for pool in cluster.node_pools if pool.compute_domains]
    systems = feature["systems"]
    for pool in pools:
        if pool.system.id not in systems:
            yield finding(
                "AF362",
                f"pool '{pool.name}': computeDomains needs multi-node NVLink, but "
                f"{pool.system.id} has NVLink only between the GPUs of one node: there is no "
                "IMEX domain to share",
                pool.path + ("computeDomains",),
                hint="remove computeDomains (pods on one node need none); ComputeDomains are "
                     f"for {', '.join(systems)} pools",
            )
        if pool.uses_mig:
            yield finding(
                "AF366",
                f"pool '{pool.name}': MIG ({pool.mig_config}) removes NVLink peer-to-peer "
                "between the GPUs, which a ComputeDomain exists to give",
                pool.path + ("mig", "config"),
                hint="remove mig.config, or remove computeDomains and run MIG on another pool",
            )
    if not pools:
        return
    if feature["requiresCdi"] and not cluster.gpu_operator.cdi:
        yield finding(
            "AF363",
            f"pools {_names(pools)} use ComputeDomains, whose DRA driver hands devices to "
            "containers through CDI, but gpuOperator.cdi is false",
            ("spec", "gpuOperator", "cdi"),
            hint="set gpuOperator.cdi: true (or remove it: true is the default)",
        )
    yield from _kubernetes(cluster, pools, feature)


def _kubernetes(cluster: Cluster, pools: list[NodePool],
                feature: Mapping[str, Any]) -> Iterator[Finding]:
    version = cluster.kubernetes.version
    minor = ".".join(str(part) for part in version_tuple(version)[:2])
    beta = feature["draBeta"]
    if version_tuple(minor) < version_tuple(feature["minKubernetes"]):
        yield finding(
            "AF364",
            f"pools {_names(pools)} use ComputeDomains, which need Dynamic Resource Allocation; "
            f"the DRA driver's chart installs on Kubernetes {feature['minKubernetes']} or later, "
            f"not {version}",
            KUBERNETES,
            hint=f"run Kubernetes {feature['minKubernetes']} or later (DRA is on by default "
                 "from 1.34), or remove computeDomains",
        )
    elif minor in beta["kubernetes"]:
        yield warning(
            "AF365",
            f"pools {_names(pools)} use ComputeDomains; on Kubernetes {minor} Dynamic Resource "
            "Allocation is beta and off by default, and aifab cannot see the control plane's "
            "flags",
            KUBERNETES,
            hint=f"turn on the feature gate {beta['featureGates']}, and the API group "
                 f"{beta['runtimeConfig']}; or run Kubernetes 1.34 or later",
        )
