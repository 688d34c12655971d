"""Cluster size: at most 5,000 nodes, checked on totals before any rule builds node names.

Kubernetes is designed for clusters of no more than 5,000 nodes ("Considerations for large
clusters", https://kubernetes.io/docs/setup/best-practices/cluster-large/: "no more than 5,000
nodes", v1.35). Larger sites run several clusters; a fleet (docs/fleet.md) shares their
defaults, site budgets and allocations. This rule is a precondition: when it fails, the other
rules do not run, since several of them work per node (a blueprint of 100 KB can ask for 10^8
nodes).
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding
from aifab.model import Cluster

CODES = {
    "AF313": "more nodes than one Kubernetes cluster supports",
}

PRECONDITION = True  # check/__init__.py: the other rules run only when this one passes
MAX_NODES = 5_000


def check(cluster: Cluster) -> Iterator[Finding]:
    nodes = sum(pool.node_count for pool in cluster.node_pools)
    if nodes <= MAX_NODES:
        return
    largest = max(cluster.node_pools, key=lambda pool: pool.node_count)
    unit = "racks" if largest.racks is not None else "nodes"
    yield finding("AF313", f"cluster '{cluster.name}' has {nodes:,} nodes in "
                  f"{len(cluster.node_pools):,} pools; Kubernetes supports at most "
                  f"{MAX_NODES:,} nodes in one cluster", largest.path + (unit,),
                  hint=f"split it into {-(-nodes // MAX_NODES):,} or more clusters of at most "
                       f"{MAX_NODES:,} nodes each; a fleet (kind: Fleet, docs/fleet.md) lets "
                       "them share defaults, site budgets and allocations")
