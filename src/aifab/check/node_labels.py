"""Node labels and taints: no keys Kubernetes or aifab own, selectors that pick one pool only.

A pool's `labels` and `taints` are applied to every node of the pool. Keys in the
`kubernetes.io` and `k8s.io` namespaces (and their subdomains: `node-role.kubernetes.io`,
`node.kubernetes.io`, `node-restriction.kubernetes.io`, `topology.kubernetes.io`) are
reserved for Kubernetes core components ("Labels and Selectors", syntax and character set,
https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/); the API server's
NodeRestriction admission draws the same line (kubernetes/kubernetes
plugin/pkg/admission/noderestriction/admission.go, isKubernetesLabel). A blueprint that sets
`kubernetes.io/hostname: evil` or `node-role.kubernetes.io/control-plane` on GPU nodes forges
what schedulers, controllers and operators trust. Keys aifab itself sets on nodes
(aifab.naming.AIFAB_NODE_LABELS: pool, system, rack, NVLink domain, scalable unit, MIG and
device-plugin config) are refused as well: a pool label would override or shadow them.

A `nodeSelector` pool counts the nodes its selector matches. When that selector can also match
the nodes of another pool (their labels as aifab writes them), those nodes and their GPUs are
counted, labelled and given quota twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from aifab.diagnostics import Finding, finding
from aifab.model import Cluster, NodePool
from aifab.naming import (
    AIFAB_NODE_LABELS,
    HOSTNAME_LABEL,
    LABEL_NVLINK_DOMAIN,
    LABEL_POOL,
    LABEL_RACK,
    LABEL_SCALABLE_UNIT,
    LABEL_SYSTEM,
    hostnames,
)

CODES = {
    "AF391": "label or taint key reserved for Kubernetes or aifab",
    "AF392": "node selector matches another pool's nodes",
}

KUBERNETES_NAMESPACES = ("kubernetes.io", "k8s.io")
# Labels that differ from node to node within a pool: a selector on them may match any pool
PER_NODE = (LABEL_RACK, LABEL_NVLINK_DOMAIN, LABEL_SCALABLE_UNIT)


def reserved_owner(key: str) -> str:
    """'Kubernetes' or 'aifab' when `key` is theirs to set on nodes, else ''."""
    prefix, slash, _ = key.partition("/")
    if slash and any(prefix == ns or prefix.endswith("." + ns) for ns in KUBERNETES_NAMESPACES):
        return "Kubernetes"
    return "aifab" if key in AIFAB_NODE_LABELS else ""


def _reserved(pool: NodePool) -> Iterator[Finding]:
    keys = [(key, pool.path + ("labels", key), "label") for key in pool.labels]
    keys += [(taint.key, pool.path + ("taints", i, "key"), "taint")
             for i, taint in enumerate(pool.taints)]
    for key, path, what in keys:
        owner = reserved_owner(key)
        if owner == "Kubernetes":
            yield finding("AF391", f"pool '{pool.name}' sets the {what} '{key}', whose prefix "
                          f"'{key.partition('/')[0]}' Kubernetes reserves for its own "
                          f"components; a blueprint must not forge it on {pool.name}'s nodes",
                          path, hint=f"use a prefix of your own for this {what}, such as "
                                     f"'example.com/{key.partition('/')[2]}'")
        elif owner == "aifab":
            yield finding("AF391", f"pool '{pool.name}' sets the {what} '{key}', which aifab "
                          "itself sets on every node from the blueprint", path,
                          hint=f"remove the {what}; aifab derives '{key}' from the pool")


def _known_labels(pool: NodePool) -> dict[str, str]:
    """Labels every node of `pool` carries: its selector's, its own, aifab's."""
    return {**pool.node_selector, **pool.labels, LABEL_POOL: pool.name,
            LABEL_SYSTEM: pool.system.id}


def _can_match(selector: Mapping[str, str], other: NodePool, known: Mapping[str, str]) -> bool:
    """Whether `selector` can select a node of `other`.

    A selector pool's nodes may carry any label it does not pin, so a selector matches unless
    it contradicts one; a named pool's nodes carry what aifab writes, so every selector key
    must be among those labels (per-node labels: any rack, domain or unit, or a node name)."""
    for key, value in selector.items():
        if key in known:
            if known[key] != value:
                return False
        elif other.node_selector:
            continue
        elif key == HOSTNAME_LABEL:
            if value not in hostnames(other):
                return False
        elif key not in PER_NODE:
            return False
    return True


def _overlaps(cluster: Cluster, pool: NodePool,
              known: dict[str, dict[str, str]]) -> Iterator[Finding]:
    other = next((o for o in cluster.node_pools
                  if o is not pool and _can_match(pool.node_selector, o, known[o.name])), None)
    if other is None:
        return
    shown = ", ".join(f"{k}={v}" for k, v in sorted(pool.node_selector.items()))
    yield finding("AF392", f"the nodeSelector of pool '{pool.name}' ({shown}) can also match "
                  f"the nodes of pool '{other.name}'; those nodes and their GPUs would be "
                  "counted, labelled and given quota in both pools", pool.path + ("nodeSelector",),
                  hint=f"select on a label only this pool's nodes carry, such as "
                       f"{LABEL_POOL}: {pool.name}")


def check(cluster: Cluster) -> Iterator[Finding]:
    known = {pool.name: _known_labels(pool) for pool in cluster.node_pools}
    for pool in cluster.node_pools:
        yield from _reserved(pool)
        if pool.node_selector:  # pools x selector keys: at most 100 x 32 (the schema's limits)
            yield from _overlaps(cluster, pool, known)
