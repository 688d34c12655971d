"""Node pools: one aifab NodePool per pool (node-pools/<pool>.yaml), the labels and taints of
every node, which the stack applies to the Node objects.

Labels per node, broadest first:
- `aifab.dev/pool`, `aifab.dev/system` (catalog id): Kueue ResourceFlavors and nv-ipam pools
  select on the pool label;
- `aifab.dev/scalable-unit`: the DGX SuperPOD scalable unit, from the catalog (`suRacks` for
  NVL72 racks, `suNodes` for servers), when the catalog knows one;
- `aifab.dev/rack`: when the catalog knows the nodes per rack;
- `aifab.dev/nvlink-domain`: only where an NVLink domain spans several nodes (NVL72: the rack).
  On 8-GPU servers the domain is the node itself, which `kubernetes.io/hostname` already names,
  so the label is omitted rather than duplicating the hostname;
- the pool's own `labels`, then the GPU Operator's per-node labels (MIG config, device plugin
  config) from `aifab.expand.gpu_operator`, so one place decides their keys and values.
Numbers are zero-padded strings ("01") so they sort as text and stay valid label values.

Taints: the pool's taints, which always include the GPU taint `nvidia.com/gpu:NoSchedule`
(resolve.GPU_TAINT; a blueprint taint with that key, such as daejeon-b200's
`nvidia.com/gpu=present:NoSchedule`, replaces it), so CPU-only pods stay off GPU trays. Who must
run there tolerates it: the GPU Operator's operands and NFD worker (chart defaults, facts
section 6), the Network Operator's DaemonSets and the DRA kubelet plugin (their components),
and tenant pods through the toleration Kueue's ResourceFlavors add for every pool taint (the
examples/ templates tolerate it themselves). A cluster-wide DaemonSet of the site (CNI, log
shipping, node monitoring) needs the toleration too.

The file is compact enough to review at national scale: `spec.labels` and `spec.taints` are
what every node gets; `spec.groups` lists the nodes in order, grouped by the placement labels
they share (one group per NVL72 rack, per scalable unit of servers). `nodes_of()` turns a
NodePool back into one entry per node; the stack and the verifier read it through that.
Pools with a `nodeSelector` have no node names: their NodePool carries the selector and no
groups; `labels` and `taints` are for the nodes the selector finds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from aifab.catalog import System
from aifab.expand.common import AIFAB_API, Output
from aifab.model import Cluster, NodePool
from aifab.naming import (
    LABEL_NVLINK_DOMAIN,
    LABEL_POOL,
    LABEL_RACK,
    LABEL_SCALABLE_UNIT,
    LABEL_SYSTEM,
    NodeSlot,
    hostnames,
    node_slot,
)

FOLDER = "node-pools"


def pool_topology_labels(system: System) -> list[str]:
    """The topology label keys nodes of `system` carry, broadest level first (without the
    hostname, which Kueue Topologies add as their lowest level)."""
    levels = []
    if system.su_racks or system.su_nodes:
        levels.append(LABEL_SCALABLE_UNIT)
    if system.nodes_per_rack:
        levels.append(LABEL_RACK)
    if system.nodes_per_nvlink_domain > 1:
        levels.append(LABEL_NVLINK_DOMAIN)
    return levels


def expand(cluster: Cluster) -> Iterator[Output]:
    for pool in cluster.node_pools:
        yield Output(f"{FOLDER}/{pool.name}.yaml", "nodes", node_pool(pool))


def node_pool(pool: NodePool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "system": pool.system.id,
        "labels": _sorted(_pool_labels(pool)),
        "taints": [_taint(t.key, t.value, t.effect) for t in pool.taints],
    }
    if pool.node_selector:
        spec["selector"] = dict(sorted(pool.node_selector.items()))
    names = hostnames(pool)
    groups: list[dict[str, Any]] = []
    for start, end in itertools.pairwise(_label_changes(pool) + [len(names)]):
        labels = _sorted(_slot_labels(pool, node_slot(start, pool.system.nodes_per_rack)))
        if not groups or groups[-1]["labels"] != labels:
            groups.append({"labels": labels, "nodes": []})
        groups[-1]["nodes"].extend(names[start:end])
    if groups:
        spec["groups"] = groups
    return {"apiVersion": AIFAB_API, "kind": "NodePool", "metadata": {"name": pool.name},
            "spec": spec}


def nodes_of(data: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every named node of a NodePool document: {name, labels, taints}, in node order.
    A node's own labels come first; the pool-wide ones win (they are aifab's and the pool's)."""
    spec = data["spec"]
    common, taints = spec.get("labels", {}), spec.get("taints", [])
    for group in spec.get("groups", []):
        labels = {**group.get("labels", {}), **common}
        for name in group["nodes"]:
            yield {"name": name, "labels": labels, "taints": taints}


def _pool_labels(pool: NodePool) -> dict[str, str]:
    """Labels every node of the pool gets; aifab's own keys win over the pool's labels."""
    from aifab.expand.gpu_operator import device_plugin_label, mig_config_label

    labels = {**pool.labels, **_mapping(mig_config_label(pool)),
              **_mapping(device_plugin_label(pool))}
    labels[LABEL_POOL] = pool.name
    labels[LABEL_SYSTEM] = pool.system.id
    return labels


def _label_changes(pool: NodePool) -> list[int]:
    """The 0-based node indexes where a node's placement labels may differ from the previous
    node's: scalable units, racks and NVLink domains are runs of consecutive nodes, so labels
    are computed once per run, not once per node (a national pool has 20,000 nodes)."""
    system, count = pool.system, pool.node_count if pool.hostnames is not None else 0
    if not count:
        return []
    per_rack, per_domain = system.nodes_per_rack, system.nodes_per_nvlink_domain
    su_nodes = system.su_racks * per_rack if system.su_racks and per_rack else system.su_nodes
    periods = [p for p in (su_nodes, per_rack, per_domain if per_domain > 1 else None) if p]
    return sorted({0, *(start for p in periods for start in range(p, count, p))})


def _slot_labels(pool: NodePool, slot: NodeSlot) -> dict[str, str]:
    system = pool.system
    labels = {}
    su = _scalable_unit(system, slot)
    if su is not None:
        labels[LABEL_SCALABLE_UNIT] = _number(su, _su_count(pool))
    if slot.rack is not None:
        labels[LABEL_RACK] = _number(slot.rack, pool.rack_count or 1)
    per_domain = system.nodes_per_nvlink_domain
    if per_domain > 1:  # NVL72: 18 trays per domain, so the domain number is the rack number
        domains = -(-pool.node_count // per_domain)
        labels[LABEL_NVLINK_DOMAIN] = _number((slot.node - 1) // per_domain + 1, domains)
    return labels


def _scalable_unit(system: System, slot: NodeSlot) -> int | None:
    if system.su_racks and slot.rack is not None:
        return (slot.rack - 1) // system.su_racks + 1
    if system.su_nodes:
        return (slot.node - 1) // system.su_nodes + 1
    return None


def _su_count(pool: NodePool) -> int:
    system = pool.system
    if system.su_racks and pool.rack_count:
        return -(-pool.rack_count // system.su_racks)
    if system.su_nodes:
        return -(-pool.node_count // system.su_nodes)
    return 1


def _number(value: int, highest: int) -> str:
    """Zero-padded to the width of the highest value, at least 2 digits: "01" .. "16"."""
    return str(value).zfill(max(2, len(str(highest))))


def _taint(key: str, value: str, effect: str) -> dict[str, str]:
    if value:
        return {"key": key, "value": value, "effect": effect}
    return {"key": key, "effect": effect}


def _mapping(labels: Mapping[str, str] | None) -> Mapping[str, str]:
    return labels or {}


def _sorted(labels: Mapping[str, str]) -> dict[str, str]:
    return dict(sorted(labels.items()))
