"""Node pools: one NodeFeatureRule per pool (node-pools/<pool>.yaml) that Node Feature
Discovery's nfd-master, which the GPU Operator deploys, turns into the labels and taints of
every node of the pool. No deploy touches a Node: a node that is re-imaged, replaced or joins
later gets its labels and taints from the rule as soon as its nfd-worker reports it.

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
shipping, node monitoring) needs the toleration too. nfd-master sets taints only with
`enableTaints` (aifab.expand.gpu_operator turns it on).

The rule, as nfd-master runs it (kubernetes-sigs/node-feature-discovery v0.17.2 to v0.19.0,
the NFD the accepted GPU Operator releases ship; pkg/apis/nfd/nodefeaturerule/rule.go Execute,
expression.go evaluateMatchExpression, pkg/nfd-master/nfd-master.go processNodeFeatureRule):
`spec.rules` holds one rule per run of nodes that share their placement labels (an NVL72 rack,
a scalable unit of servers), in node order; each matches the `system.name` feature's
`nodename` attribute (source/system/system.go: the Kubernetes node name) with `op: In` and the
run's hostnames, and carries every label and taint its nodes get, so each node matches exactly
one rule. `In` compares whole strings; no `InRegexp` is used (Go's regexp.MatchString is not
anchored, and the hostnames are what reviewers read). A rule without matchFeatures would match
every node: every rule here has one. Label keys carry a prefix (nfd-master would put an
unprefixed one under feature.node.kubernetes.io/, and drops taints without one: rule
nfd_keys) and no kubernetes.io namespace (pkg/apis/nfd/validate/validate.go; rule
node_labels). `nodes_of()` turns a rule back into one entry per node.

Pools with a `nodeSelector` have no node names, and NFD cannot match a node by its labels
(features come from the node, not from the Node object), so no rule can find them: their
labels and taints are set when the nodes join (kubelet `--node-labels` and
`--register-with-taints` from the provisioning tool), and node-pools/<pool>.md says which.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from aifab.catalog import System
from aifab.expand.common import Output, metadata
from aifab.expand.summary.facts import generated_comment
from aifab.model import Cluster, NodePool, Taint
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
# kubernetes-sigs/node-feature-discovery api/nfd/v1alpha1 (the CRD the GPU Operator's NFD
# subchart installs) and source/system/system.go (feature `system.name`, attribute `nodename`).
NFD_API = "nfd.k8s-sigs.io/v1alpha1"
NODE_NAME_FEATURE = "system.name"
NODE_NAME_ATTRIBUTE = "nodename"


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
        if pool.node_selector:
            yield Output(f"{FOLDER}/{pool.name}.md", "document",
                         {"text": selector_pool_text(cluster, pool)})
        else:
            yield Output(f"{FOLDER}/{pool.name}.yaml", "nodes", node_feature_rule(cluster, pool))


def rule_name(pool: NodePool) -> str:
    """The NodeFeatureRule's name: cluster-scoped, beside the rules of other components."""
    return f"aifab-pool-{pool.name}"


def node_feature_rule(cluster: Cluster, pool: NodePool) -> dict[str, Any]:
    """The pool's NodeFeatureRule: one rule per run of nodes sharing their placement labels."""
    common = pool_labels(pool)
    names = hostnames(pool)
    runs: list[tuple[dict[str, str], list[str]]] = []
    for start, end in itertools.pairwise(_label_changes(pool) + [len(names)]):
        labels = _slot_labels(pool, node_slot(start, pool.system.nodes_per_rack))
        if not runs or runs[-1][0] != labels:
            runs.append((labels, []))
        runs[-1][1].extend(names[start:end])
    rules = [{
        "name": " ".join([pool.name] + [f"{key.rpartition('/')[2]} {value}"
                                        for key, value in placement.items()]),
        "labels": _sorted({**placement, **common}),
        "taints": [_taint(t) for t in pool.taints],
        "matchFeatures": [{"feature": NODE_NAME_FEATURE, "matchExpressions": {
            NODE_NAME_ATTRIBUTE: {"op": "In", "value": nodes}}}],
    } for placement, nodes in runs]
    return {"apiVersion": NFD_API, "kind": "NodeFeatureRule",
            "metadata": metadata(cluster, rule_name(pool), labels={LABEL_POOL: pool.name}),
            "spec": {"rules": rules}}


def nodes_of(data: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node a pool's NodeFeatureRule names: {name, labels, taints}, in node order."""
    for rule in data["spec"]["rules"]:
        for term in rule["matchFeatures"]:
            for name in term["matchExpressions"][NODE_NAME_ATTRIBUTE]["value"]:
                yield {"name": name, "labels": rule.get("labels", {}),
                       "taints": rule.get("taints", [])}


def selector_pool_text(cluster: Cluster, pool: NodePool) -> str:
    """What the provisioning tool gives the nodes of a `nodeSelector` pool when they join."""
    labels = {**pool.node_selector, **pool_labels(pool)}
    shown = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    taints = ",".join(f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}"
                      for t in pool.taints)
    selector = ", ".join(f"`{k}={v}`" for k, v in sorted(pool.node_selector.items()))
    return "\n".join([
        generated_comment(cluster, f"node pool {pool.name}"), "",
        f"# Node pool {pool.name}", "",
        (f"The pool selects {pool.node_count} existing {pool.system.id} nodes by {selector}. "
         "Node Feature Discovery cannot find them by name, so no NodeFeatureRule labels them: "
         "the provisioning tool sets these labels and taints when a node joins (kubelet flags)."),
        "", "```", f"--node-labels={shown}", f"--register-with-taints={taints}", "```", ""])


def pool_labels(pool: NodePool) -> dict[str, str]:
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


def _taint(taint: Taint) -> dict[str, str]:
    if taint.value:
        return {"key": taint.key, "value": taint.value, "effect": taint.effect}
    return {"key": taint.key, "effect": taint.effect}


def _mapping(labels: Mapping[str, str] | None) -> Mapping[str, str]:
    return labels or {}


def _sorted(labels: Mapping[str, str]) -> dict[str, str]:
    return dict(sorted(labels.items()))
