"""Versions: the operator releases are ones the catalog knows, and Kubernetes fits the GPU Operator.

Each GPU Operator release supports a range of Kubernetes minors (compatibility.yaml, source R1);
Network Operator (R5) and Kueue (R6) versions outside the catalog were never checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from aifab.diagnostics import Finding, Path, did_you_mean, finding, one_of, warning
from aifab.model import Cluster

CODES = {
    "AF352": "GPU Operator release unknown to the catalog",
    "AF353": "Kubernetes version outside the GPU Operator's range",
    "AF354": "Network Operator version unknown to the catalog",
    "AF355": "Kueue version unknown to the catalog",
    "AF356": "no DOCA-OFED driver known for the Network Operator release",
}


def _unknown(code: str, what: str, version: str, known: Iterable[str], path: Path) -> Finding:
    known = tuple(known)
    return warning(
        code,
        f"{what} {version} is not in the catalog (knows {one_of(known)}): "
        "compatibility not checked",
        path,
        hint=did_you_mean(version, known) or f"use a known version: {one_of(known)}",
    )


def check(cluster: Cluster) -> Iterator[Finding]:
    catalog = cluster.catalog
    operator = cluster.gpu_operator.version
    release = catalog.gpu_operator_releases.get(operator)
    if release is None:
        yield _unknown("AF352", "GPU Operator", operator, catalog.gpu_operator_releases,
                       ("spec", "gpuOperator", "version"))
    elif not release.supports_kubernetes(cluster.kubernetes.version):
        yield finding(
            "AF353",
            f"Kubernetes {cluster.kubernetes.version} is outside what GPU Operator {operator} "
            f"supports ({release.kubernetes_min} to {release.kubernetes_max})",
            ("spec", "kubernetes", "version"),
            hint=f"run Kubernetes {release.kubernetes_min} to {release.kubernetes_max}, "
                 "or pick a GPU Operator release that supports this version",
        )
    network = cluster.network_operator
    if network and network.version not in catalog.network_operator_versions:
        yield _unknown("AF354", "Network Operator", network.version,
                       catalog.network_operator_versions, ("spec", "networkOperator", "version"))
    if network and network.deploy_ofed and network.version not in catalog.doca_drivers:
        yield finding(
            "AF356",
            f"Network Operator {network.version} would deploy the DOCA-OFED driver, but the "
            "catalog knows no driver version for that release",
            ("spec", "networkOperator", "version"),
            hint=f"use {one_of(catalog.doca_drivers)}, or set ofedDriver.deploy: false when the "
            "hosts run their own OFED",
        )
    if cluster.kueue and cluster.kueue.version not in catalog.kueue_versions:
        yield _unknown("AF355", "Kueue", cluster.kueue.version, catalog.kueue_versions,
                       ("spec", "kueue", "version"))
