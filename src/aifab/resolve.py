"""Resolve: schema-valid blueprint data -> the immutable `Cluster` model, defaults applied.

Runs only on data that passed the schema, so keys have the right types; semantic problems
(a `nodes` count on an NVL72 pool, say) are left for the rules, which see what was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aifab.catalog import Catalog, load_catalog
from aifab.model import (
    Cluster,
    Fabric,
    GpuOperator,
    Kubernetes,
    Kueue,
    NetworkOperator,
    NodePool,
    PeerRule,
    PriorityClass,
    Sharing,
    Site,
    Sovereignty,
    StorageClass,
    Taint,
    Tenant,
)

DEFAULT_SUBNET = "10.200.0.0/16"
DEFAULT_PRIORITY_CLASSES = (
    PriorityClass("production", 1000, "Production training and serving; preempts lower classes."),
    PriorityClass("research", 500, "Research and experiments."),
    PriorityClass("best-effort", 100, "Opportunistic work that borrowed capacity may evict."),
)


def resolve(data: Mapping[str, Any], source: str, catalog: Catalog | None = None) -> Cluster:
    catalog = catalog or load_catalog()
    meta, spec = data["metadata"], data["spec"]
    operator = spec["gpuOperator"]
    driver = operator["driver"]
    return Cluster(
        source=source,
        name=meta["name"],
        description=meta.get("description", ""),
        labels=_frozen(meta.get("labels", {})),
        site=_site(spec["site"]),
        sovereignty=_sovereignty(spec.get("sovereignty", {})),
        kubernetes=_kubernetes(spec["kubernetes"]),
        gpu_operator=GpuOperator(
            version=operator["version"],
            driver_version=driver["version"],
            kernel_module_type=driver.get("kernelModuleType", "auto"),
            gpu_direct_rdma=operator.get("gpuDirectRDMA", "dma-buf"),
            gds=operator.get("gds", False),
            cdi=operator.get("cdi", True),
            dcgm_exporter=operator.get("dcgmExporter", {}).get("enabled", True),
            service_monitor=operator.get("dcgmExporter", {}).get("serviceMonitor", False),
            prometheus_operator=operator.get("dcgmExporter", {}).get("prometheusOperator",
                                                                     "deploy"),
            mig_strategy=operator.get("mig", {}).get("strategy"),
        ),
        network_operator=_network_operator(spec.get("networkOperator")),
        kueue=_kueue(spec.get("kueue"), meta["name"]),
        fabric=_fabric(spec.get("fabric")),
        node_pools=tuple(
            _pool(pool, i, catalog, driver["version"]) for i, pool in enumerate(spec["nodePools"])
        ),
        storage=tuple(_storage(s, i) for i, s in enumerate(spec.get("storage", []))),
        tenants=tuple(_tenant(t, i) for i, t in enumerate(spec.get("tenants", []))),
        catalog=catalog,
    )


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


def _site(site: Mapping[str, Any]) -> Site:
    return Site(
        name=site["name"],
        country=site["country"],
        power_budget_kw=float(site["powerBudgetKW"]),
        cooling=site["cooling"],
        rack_power_limit_kw=site.get("rackPowerLimitKW"),
    )


def _sovereignty(sov: Mapping[str, Any]) -> Sovereignty:
    return Sovereignty(
        residency=sov.get("residency"),
        air_gapped=sov.get("airGapped", False),
        registry_mirror=sov.get("registryMirror"),
        chart_mirror=sov.get("chartMirror"),
        package_repositories=_frozen(dict(sorted(sov.get("packageRepositories", {}).items()))),
    )


def _kubernetes(k8s: Mapping[str, Any]) -> Kubernetes:
    dns = k8s.get("dns", {})
    return Kubernetes(
        version=k8s["version"],
        dns_namespace=dns.get("namespace", "kube-system"),
        dns_pod_labels=_frozen(dns.get("podLabels", {"k8s-app": "kube-dns"})),
    )


def _network_operator(net: Mapping[str, Any] | None) -> NetworkOperator | None:
    if net is None:
        return None
    return NetworkOperator(net["version"], net.get("ofedDriver", {}).get("deploy", True))


def _kueue(kueue: Mapping[str, Any] | None, cluster: str) -> Kueue | None:
    if kueue is None:
        return None
    classes = tuple(
        PriorityClass(c["name"], c["value"], c.get("description", ""))
        for c in kueue.get("priorityClasses", [])
    )
    return Kueue(
        version=kueue["version"],
        cohort=kueue.get("cohort", cluster),
        fair_sharing=kueue.get("fairSharing", False),
        priority_classes=classes or DEFAULT_PRIORITY_CLASSES,
    )


def _fabric(fabric: Mapping[str, Any] | None) -> Fabric | None:
    if fabric is None:
        return None
    compute = fabric["compute"]
    return Fabric(
        technology=compute["technology"],
        link_gbps=compute["linkGbps"],
        subnet=compute.get("subnet", DEFAULT_SUBNET),
        partition_key=compute.get("partitionKey"),
    )


def _pool(pool: Mapping[str, Any], index: int, catalog: Catalog, driver: str) -> NodePool:
    sharing = None
    for kind, settings in pool.get("sharing", {}).items():
        sharing = Sharing(kind, settings["replicas"])
    override = pool.get("driver", {}).get("version")
    return NodePool(
        path=("spec", "nodePools", index),
        name=pool["name"],
        system=catalog.systems[pool["system"]],
        racks=pool.get("racks"),
        nodes=pool.get("nodes"),
        hostnames=pool.get("hostnames"),
        node_selector=_frozen(pool.get("nodeSelector", {})),
        compute_domains=pool.get("computeDomains", False),
        mig_config=pool.get("mig", {}).get("config"),
        sharing=sharing,
        driver_version=override or driver,
        driver_overridden=override is not None,
        labels=_frozen(pool.get("labels", {})),
        taints=_taints(pool.get("taints", [])),
    )


# Every GPU pool is tainted so that pods which ask for no GPU stay off GPU nodes; the GPU
# Operator's operands tolerate it (blackwell-facts section 6), Kueue's ResourceFlavors add the
# toleration to admitted pods. A blueprint taint with this key replaces it (e.g. a value or
# PreferNoSchedule).
GPU_TAINT = Taint("nvidia.com/gpu", "", "NoSchedule")


def _taints(written: list[Mapping[str, Any]]) -> tuple[Taint, ...]:
    taints = tuple(Taint(t["key"], t.get("value", ""), t["effect"]) for t in written)
    if any(t.key == GPU_TAINT.key for t in taints):
        return taints
    return (*taints, GPU_TAINT)  # after the blueprint's: their indices are their JSON paths


def _storage(entry: Mapping[str, Any], index: int) -> StorageClass:
    return StorageClass(
        path=("spec", "storage", index),
        name=entry["name"],
        backend=entry["backend"],
        capacity_tib=entry.get("capacityTiB"),
        default=entry.get("default", False),
        # node-local volumes die with their node; shared file systems keep data by default
        reclaim_policy=entry.get("reclaimPolicy", "Delete" if entry["backend"] == "local-nvme" else "Retain"),
        parameters=_frozen(entry.get("parameters", {})),
        mount_options=tuple(entry.get("mountOptions", [])),
    )


def _tenant(entry: Mapping[str, Any], index: int) -> Tenant:
    path = ("spec", "tenants", index)
    network = entry.get("network", {})
    return Tenant(
        path=path,
        name=entry["name"],
        description=entry.get("description", ""),
        quota=_frozen(entry["quota"]),
        borrowing_limit=_frozen(entry.get("borrowingLimit", {})),
        groups=tuple(entry.get("groups", [])),
        ingress=tuple(_peer_rule(rule, path + ("network", "ingress", i))
                      for i, rule in enumerate(network.get("ingress", []))),
        egress=tuple(_peer_rule(rule, path + ("network", "egress", i))
                     for i, rule in enumerate(network.get("egress", []))),
    )


def _peer_rule(entry: Mapping[str, Any], path: tuple[Any, ...]) -> PeerRule:
    return PeerRule(path=path, namespaces=tuple(entry.get("namespaces", [])),
                    cidrs=tuple(entry.get("cidrs", [])), ports=tuple(entry["ports"]),
                    protocol=entry.get("protocol", "TCP"))
