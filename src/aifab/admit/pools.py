"""The cluster's node pools as admission sees them: nodes with their labels and taints.

The one place that reads where pools are written down. Today that is aifab's NodePool files
(generated/<cluster>/node-pools/<pool>.yaml, expand/node_pools.py): a pool's labels and taints,
and groups of nodes each with labels of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Node:
    name: str
    labels: Mapping[str, str]  # the labels aifab gives the node (kubelet's are added by users)


@dataclass(frozen=True)
class Pool:
    name: str
    system: str  # the catalog's system id
    taints: tuple[Mapping[str, Any], ...]
    nodes: tuple[Node, ...]

    @property
    def labels(self) -> Mapping[str, str]:
        """The labels every node of the pool carries."""
        if not self.nodes:
            return {}
        first = self.nodes[0].labels
        return {k: v for k, v in first.items() if all(n.labels.get(k) == v for n in self.nodes)}


def read(node_pools: Iterable[Mapping[str, Any]]) -> list[Pool]:
    """Pools from aifab NodePool objects (apiVersion aifab.dev/v1alpha1, kind NodePool)."""
    pools = []
    for data in node_pools:
        spec = data.get("spec") or {}
        common = {str(k): str(v) for k, v in (spec.get("labels") or {}).items()}
        nodes = tuple(
            Node(str(name), {**common, **{str(k): str(v) for k, v in
                                          (group.get("labels") or {}).items()}})
            for group in spec.get("groups") or () for name in group.get("nodes") or ())
        pools.append(Pool(str(data["metadata"]["name"]), str(spec.get("system", "")),
                          tuple(spec.get("taints") or ()), nodes))
    return pools
