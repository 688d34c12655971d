"""Judge: is there a node the pods can run on, with the GPUs or MIG slices each asks for?

A node fits a pod when its labels satisfy the pod's nodeSelector and required node affinity,
the pod tolerates its NoSchedule and NoExecute taints (selectors.py), and it advertises at
least what the pod asks of each GPU resource (devices.py). A pod Kueue admits also gets its
ResourceFlavor's nodeLabels and tolerations (kueue v0.19.2 pkg/podset), so each flavor of its
ClusterQueue is tried. Nodes carry the labels aifab gives them plus the kubelet's
kubernetes.io/hostname, kubernetes.io/os and kubernetes.io/arch; labels that operators add at
run time (GPU feature discovery) are not known here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any

from aifab.admit import devices, selectors
from aifab.admit.cluster import ClusterView
from aifab.admit.kueue import cluster_queue, flavors
from aifab.admit.objects import Submitted
from aifab.admit.pools import Pool
from aifab.admit.quantity import shown
from aifab.admit.workloads import PodSet, pod_requests, pod_sets
from aifab.catalog import Catalog, load_catalog
from aifab.diagnostics import Finding, finding

GPU_RESOURCES = ("nvidia.com/gpu", "nvidia.com/mig-")


@cache
def _catalog() -> Catalog:
    return load_catalog()


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _node_labels(pool: Pool, node_labels: Mapping[str, str], name: str) -> dict[str, str]:
    system = _catalog().systems.get(pool.system)
    arch = system.cpu_architecture if system is not None else "amd64"
    return {**node_labels, "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch}


def judge(obj: Submitted, cluster: ClusterView, batch: Sequence[Submitted]
          ) -> Iterator[Finding]:
    sets = pod_sets(obj.data)
    if not sets or not cluster.pools:
        return
    queue = cluster_queue(obj, cluster, batch)
    options = [(_map(_map(f.get("spec")).get("nodeLabels")), _list(_map(f.get("spec"))
                .get("tolerations"))) for f in (flavors(queue, cluster) if queue else [])]
    for pods in sets:
        yield from _place(pods, options or [({}, [])], cluster)


def _place(pods: PodSet, options: list[tuple[Mapping[str, Any], list[Any]]],
           cluster: ClusterView) -> Iterator[Finding]:
    selector = {str(k): str(v) for k, v in _map(pods.spec.get("nodeSelector")).items()}
    asked = {name: value for name, value in pod_requests(pods.spec).items()
             if name.startswith(GPU_RESOURCES) and value > 0}
    matching: list[tuple[Pool, dict[str, int]]] = []  # pools with a node the pod may use
    tainted: dict[str, list[str]] = {}  # pool -> taints that keep the pod off
    for pool in cluster.pools:
        for labels_added, tolerations_added in options:
            wanted = {**selector, **{str(k): str(v) for k, v in labels_added.items()}}
            fits = [node for node in pool.nodes
                    if _fits(_node_labels(pool, node.labels, node.name), wanted, pods.spec)]
            if not fits:
                continue
            blocking = selectors.untolerated(
                [*_list(pods.spec.get("tolerations")), *tolerations_added], pool.taints)
            if blocking:
                tainted[pool.name] = [selectors.taint_text(t) for t in blocking]
                continue
            matching.append((pool, devices.per_node(pool, cluster, _catalog())))
            break
    if not matching:
        if tainted:
            why = "; ".join(f"pool {p} is tainted {', '.join(t)}" for p, t in tainted.items())
            yield finding("AF730", f"no node can run these pods: {why}, which they do not "
                          "tolerate", pods.path + ("tolerations",),
                          hint="add a toleration for the pool's taint (GPU pools are tainted "
                          "nvidia.com/gpu:NoSchedule)")
        else:
            yield finding("AF730", "no node of the cluster matches the pods' nodeSelector and "
                          f"node affinity ({_shown(selector)})",
                          pods.path + ("nodeSelector",) if selector else pods.path,
                          hint="select a pool by its label aifab.dev/pool: " + ", ".join(
                              p.name for p in cluster.pools))
        return
    for resource, amount in sorted(asked.items()):
        most = max(offered.get(resource, 0) for _, offered in matching)
        if amount > most:
            pools = ", ".join(f"{p.name} ({p.system}: {offered.get(resource, 0)})"
                              for p, offered in matching)
            yield finding("AF731", f"each pod asks for {shown(amount)} {resource}; the nodes it "
                          f"may run on offer at most {most} (pools {pools}): it never "
                          "schedules", _container_path(pods, resource),
                          hint="ask for at most what one node has, and spread the rest over "
                          "more pods" if most else f"no node it may use offers {resource}: "
                          "choose a pool that does (MIG slices need a pool with that MIG "
                          "layout)")


def _fits(labels: Mapping[str, str], wanted: Mapping[str, str],
          spec: Mapping[str, Any]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items()) and \
        selectors.node_affinity(spec, labels)


def _container_path(pods: PodSet, resource: str) -> tuple[Any, ...]:
    for index, container in enumerate(_list(pods.spec.get("containers"))):
        asked = _map(_map(container).get("resources"))
        for field in ("limits", "requests"):
            if resource in _map(asked.get(field)):
                return pods.path + ("containers", index, "resources", field, resource)
    return pods.path


def _shown(selector: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) or "no selector"


