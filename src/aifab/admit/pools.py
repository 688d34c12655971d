"""The cluster's node pools as admission sees them: nodes with their labels and taints.

The one place that reads where pools are written down: the pools' NodeFeatureRules
(generated/<cluster>/node-pools/<pool>.yaml, expand/node_pools.py), whose rules name nodes by
hostname and give them labels and taints, as nfd-master will. A pool selected by `nodeSelector`
has no rule (its nodes are labelled when they join), so placement does not know its nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aifab.expand.node_pools import nodes_of
from aifab.naming import LABEL_POOL, LABEL_SYSTEM


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


def read(rules: Iterable[Mapping[str, Any]]) -> list[Pool]:
    """Pools from their NodeFeatureRules (one per pool, labelled with the pool's name)."""
    pools = []
    for data in rules:
        nodes = list(nodes_of(data))
        if not nodes:
            continue
        labels = nodes[0]["labels"]
        pools.append(Pool(str(labels.get(LABEL_POOL, data["metadata"]["name"])),
                          str(labels.get(LABEL_SYSTEM, "")), tuple(nodes[0]["taints"]),
                          tuple(Node(str(n["name"]), {str(k): str(v) for k, v in
                                                      n["labels"].items()}) for n in nodes)))
    return pools
