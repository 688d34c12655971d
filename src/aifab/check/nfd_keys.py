"""Node label and taint keys Node Feature Discovery publishes as written: each with a prefix.

The labels and taints of a pool with `hostnames` reach its nodes through a NodeFeatureRule
that nfd-master applies (aifab.expand.node_pools). nfd-master puts an unprefixed label key
under `feature.node.kubernetes.io/` (pkg/nfd-master/nfd-master.go processNodeFeatureRule,
addNsToMapKeys, unless the DisableAutoPrefix feature gate is on), so `team: ml` would land as
`feature.node.kubernetes.io/team=ml` and a nodeSelector on `team` would match no node; it
drops a taint whose key has no prefix (pkg/apis/nfd/validate/validate.go Taint,
ErrUnprefixedKeysNotAllowed; called by nfd-master.go filterTaints), so the nodes would run
untainted. Both in kubernetes-sigs/node-feature-discovery v0.17.2 to v0.19.0, the NFD of every
accepted GPU Operator release. Keys in the kubernetes.io namespaces, which NFD also refuses
(validate.go Label and Taint, ErrNSNotAllowed), are reported by rule node_labels (AF391).
A `nodeSelector` pool's nodes get their labels from kubelet flags, which take any key.
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding
from aifab.model import Cluster

CODES = {
    "AF450": "pool label key without a prefix: NFD would publish it under another key",
    "AF451": "pool taint key without a prefix: NFD would not set the taint",
}


def check(cluster: Cluster) -> Iterator[Finding]:
    for pool in cluster.node_pools:
        if pool.node_selector:
            continue
        for key in pool.labels:
            if "/" not in key:
                yield finding("AF450", f"pool '{pool.name}' sets the label '{key}' without a "
                              "prefix: Node Feature Discovery, which labels the pool's nodes, "
                              f"would publish it as 'feature.node.kubernetes.io/{key}', so a "
                              f"nodeSelector on '{key}' would match none of them",
                              pool.path + ("labels", key),
                              hint=f"give the label a prefix of your own, such as "
                                   f"'example.com/{key}', and select on that")
        for i, taint in enumerate(pool.taints):
            if "/" not in taint.key:
                yield finding("AF451", f"pool '{pool.name}' sets the taint '{taint.key}' "
                              "without a prefix: Node Feature Discovery, which taints the "
                              "pool's nodes, refuses such a taint and the nodes stay untainted",
                              pool.path + ("taints", i, "key"),
                              hint=f"give the taint a prefix of your own, such as "
                                   f"'example.com/{taint.key}'")
