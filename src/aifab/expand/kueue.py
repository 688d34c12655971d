"""Kueue: its Helm release and the queueing objects that turn tenant quotas into admission.

What it produces (folder `kueue/`, only with `spec.kueue`), all in `kueue.x-k8s.io/v1beta2` (the
storage version of every reference CRD; facts section 5, R6):

- the `kueue` HelmRelease: the OCI chart, version without the leading "v" (catalog note), the
  controller image (and the KueueViz images) through the registry mirror, and the manager
  Configuration (below). Keys are those of kubernetes-sigs/kueue `charts/kueue/values.yaml`
  (`controllerManager.manager.image.{repository,tag,pullPolicy}`, `kueueViz.{backend,frontend}
  .image`, `managerConfig.controllerManagerConfigYaml`). Released charts pull
  `registry.k8s.io/kueue/kueue:<tag>` (the Kueue installation docs), which is the upstream used;
- a Topology per system in use (named after the catalog id): the pool topology labels of
  `node_pools.pool_topology_labels`, broadest first, then `kubernetes.io/hostname`, which the CRD
  only allows as the lowest level (at most 16 levels);
- a ResourceFlavor per pool: nodeLabels `aifab.dev/pool=<pool>`, the system's Topology, and one
  toleration per pool taint, so admitted pods reach tainted nodes;
- the Cohort `kueue.cohort` (v1beta2 has a Cohort kind), which every tenant ClusterQueue joins;
- a ClusterQueue per tenant: `cohortName`, a namespaceSelector on the tenant namespace, and
  resourceGroups with the GPU resources of each pool the tenant has quota (or a borrowing limit)
  on. Quotas are whole GPUs in the blueprint and are converted into what the device plugin
  advertises (`common.gpu_resources`, shared with the tenants' ResourceQuotas): MIG pools under
  the `mixed` strategy `nvidia.com/mig-<profile>` (the plugin spells a profile's `+` as `.`, R3)
  x instances per GPU; under `single` `nvidia.com/gpu` x instances; time-sliced and MPS pools
  x replicas; other pools `nvidia.com/gpu`. The strategy is `cluster.mig_strategy`. Pools
  whose resources overlap share one resource group (Kueue: a resource belongs to one group, a
  flavor to at most one group, and each flavor lists every covered resource; missing ones get
  quota "0"). Preemption: reclaimWithinCohort Any, withinClusterQueue LowerPriority;
  fairSharing weight 1 when `kueue.fairSharing`;
- a LocalQueue `default` in each tenant namespace, pointing at the tenant's ClusterQueue;
- a WorkloadPriorityClass per `kueue.priorityClasses` entry.

CPU and memory: Kueue refuses a workload that requests a resource no resource group covers
("resource cpu unavailable in ClusterQueue", pkg/scheduler/flavorassigner). The catalog has no
CPU or memory capacity per node, so instead of inventing quotas, the manager Configuration
excludes them from quota accounting (`resources.excludeResourcePrefixes`, config v1beta2): cpu,
memory, ephemeral-storage, hugepages-*, and the Network Operator's `rdma/` and
`nvidia.com/hostdev` (Spectrum-X) resources. GPUs stay the only managed resources, with the IMEX
channels of ComputeDomain pools: Kueue v0.19 turns on KueueDRAIntegration, so the channel
DeviceClass is mapped to a resource (`resources.deviceClassMappings`) that the queues of those
pools cover. Kueue manages only tenant namespaces (`managedJobsNamespaceSelector` on the tenant
label), runs two replicas with a PodDisruptionBudget, and admits gangs all or nothing
(`waitForPodsReady`). With fair sharing the Configuration gets the `fairSharing` section (in
config v1beta2 its presence enables it; the strategies are the chart's commented defaults). The
Configuration is the chart's default otherwise, serialised once as JSON (valid YAML).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from aifab.expand.common import (
    NS_KUEUE,
    Output,
    gpu_resources,
    image_registry,
    metadata,
    obj,
    quantity,
)
from aifab.expand.flux import release
from aifab.expand.namespaces import TENANT_LABEL
from aifab.expand.node_pools import pool_topology_labels
from aifab.model import Cluster, NodePool, Taint, Tenant
from aifab.naming import HOSTNAME_LABEL, LABEL_POOL, tenant_namespace

COMPONENT = "kueue"
CHART_KEY = "kueue"
API = "kueue.x-k8s.io/v1beta2"
MAX_TOPOLOGY_LEVELS = 16
LOCAL_QUEUE = "default"
IMAGE_UPSTREAM = "registry.k8s.io/kueue"  # Kueue installation docs: registry.k8s.io/kueue/kueue
EXCLUDED_RESOURCE_PREFIXES = ("cpu", "ephemeral-storage", "hugepages-", "memory",
                              "nvidia.com/hostdev", "rdma/")
# DRA (KueueDRAIntegration, on by default in Kueue v0.19): a pod whose ResourceClaimTemplate asks
# for a DeviceClass that no `resources.deviceClassMappings` entry maps is inadmissible. A
# ComputeDomain pod claims one IMEX channel from this DeviceClass (DRA driver v25.12.0,
# deployments/helm/nvidia-dra-driver-gpu/templates/deviceclass-compute-domain-default-channel.yaml)
# which Kueue counts as CHANNEL_RESOURCE (kueue apis/config/v1beta2 DeviceClassMapping).
CHANNEL_DEVICE_CLASS = "compute-domain-default-channel.nvidia.com"
CHANNEL_RESOURCE = "nvidia.com/compute-domain-channel"
# The chart's commented waitForPodsReady (charts/kueue/values.yaml v0.19.2): gangs of multi-node
# jobs are admitted all or nothing, and a job whose pods never all start is requeued.
WAIT_FOR_PODS_READY = {
    "timeout": "5m", "recoveryTimeout": "3m", "blockAdmission": False,
    "requeuingStrategy": {"timestamp": "Eviction", "backoffBaseSeconds": 60,
                          "backoffMaxSeconds": 3600},
}
# Two controller replicas behind leader election, and a PodDisruptionBudget keeping one: the
# Kueue webhook is in the admission path of every tenant job.
CONTROLLER_REPLICAS = 2
FAIR_SHARING_STRATEGIES = ("LessThanOrEqualToFinalShare", "LessThanInitialShare")


def expand(cluster: Cluster) -> Iterator[Output]:
    if cluster.kueue is None:
        return
    yield from helm_release(cluster)
    for system_id in sorted({pool.system.id for pool in cluster.node_pools}):
        yield topology(cluster, system_id)
    for pool in cluster.node_pools:
        yield resource_flavor(cluster, pool)
    yield cohort(cluster)
    for tenant in cluster.tenants:
        yield cluster_queue(cluster, tenant)
        yield local_queue(cluster, tenant)
    for pc in cluster.kueue.priority_classes:
        data: dict[str, Any] = {"apiVersion": API, "kind": "WorkloadPriorityClass",
                                "metadata": metadata(cluster, pc.name), "value": pc.value}
        if pc.description:
            data["description"] = pc.description
        yield obj(COMPONENT, data)


# -- the Helm release -----------------------------------------------------------------------------

def manager_config(cluster: Cluster) -> dict[str, Any]:
    """The chart's default Configuration (charts/kueue/values.yaml) plus aifab's settings."""
    config: dict[str, Any] = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {"groupKindConcurrency": {
            "Job.batch": 5, "Pod": 5, "Workload.kueue.x-k8s.io": 5,
            "LocalQueue.kueue.x-k8s.io": 1, "ClusterQueue.kueue.x-k8s.io": 1,
            "ResourceFlavor.kueue.x-k8s.io": 1}},
        "clientConnection": {"qps": 50, "burst": 100},
        "integrations": {"frameworks": [
            "batch/job", "kubeflow.org/mpijob", "ray.io/rayjob", "ray.io/raycluster",
            "jobset.x-k8s.io/jobset", "trainer.kubeflow.org/trainjob", "kubeflow.org/paddlejob",
            "kubeflow.org/pytorchjob", "kubeflow.org/tfjob", "kubeflow.org/xgboostjob",
            "kubeflow.org/jaxjob", "workload.codeflare.dev/appwrapper", "pod", "deployment",
            "statefulset", "leaderworkerset.x-k8s.io/leaderworkerset"]},
        "resources": {"excludeResourcePrefixes": list(EXCLUDED_RESOURCE_PREFIXES)},
        # Only tenant namespaces: operator pods never wait on the Kueue webhook.
        "managedJobsNamespaceSelector": {"matchExpressions": [
            {"key": TENANT_LABEL, "operator": "Exists"}]},
        "waitForPodsReady": WAIT_FOR_PODS_READY,
    }
    if any(pool.compute_domains for pool in cluster.node_pools):
        config["resources"]["deviceClassMappings"] = [
            {"name": CHANNEL_RESOURCE, "deviceClassNames": [CHANNEL_DEVICE_CLASS]}]
    assert cluster.kueue is not None
    if cluster.kueue.fair_sharing:
        config["fairSharing"] = {"preemptionStrategies": list(FAIR_SHARING_STRATEGIES)}
    return config


def helm_release(cluster: Cluster) -> list[Output]:
    assert cluster.kueue is not None
    tag = cluster.kueue.version  # image tags keep the "v"; the chart version drops it
    registry = image_registry(cluster, IMAGE_UPSTREAM)
    values = {
        "controllerManager": {
            "manager": {"image": {
                "repository": f"{registry}/kueue", "tag": tag, "pullPolicy": "IfNotPresent"}},
            "replicas": CONTROLLER_REPLICAS,
            "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        },
        "kueueViz": {
            "backend": {"image": {"repository": f"{registry}/kueueviz-backend", "tag": tag,
                                  "pullPolicy": "IfNotPresent"}},
            "frontend": {"image": {"repository": f"{registry}/kueueviz-frontend", "tag": tag,
                                   "pullPolicy": "IfNotPresent"}},
        },
        "managerConfig": {"controllerManagerConfigYaml": json.dumps(
            manager_config(cluster), sort_keys=True, indent=2)},
    }
    return release(COMPONENT, cluster, chart_key=CHART_KEY, version=tag.removeprefix("v"),
                   namespace=NS_KUEUE, values=values)


# -- topology and flavors -------------------------------------------------------------------------

def topology_levels(cluster: Cluster, system_id: str) -> list[str]:
    levels = [*pool_topology_labels(cluster.catalog.systems[system_id]), HOSTNAME_LABEL]
    if len(levels) > MAX_TOPOLOGY_LEVELS:
        raise ValueError(f"{system_id}: {len(levels)} topology levels, Kueue allows 16")
    return levels


def topology(cluster: Cluster, system_id: str) -> Output:
    return obj(COMPONENT, {
        "apiVersion": API, "kind": "Topology", "metadata": metadata(cluster, system_id),
        "spec": {"levels": [{"nodeLabel": key} for key in topology_levels(cluster, system_id)]},
    })


def toleration(taint: Taint) -> dict[str, str]:
    """The toleration for one taint (Exists without a value: the CRD forbids a value then)."""
    if taint.value:
        return {"key": taint.key, "operator": "Equal", "value": taint.value, "effect": taint.effect}
    return {"key": taint.key, "operator": "Exists", "effect": taint.effect}


def resource_flavor(cluster: Cluster, pool: NodePool) -> Output:
    spec: dict[str, Any] = {"nodeLabels": {LABEL_POOL: pool.name},
                            "topologyName": pool.system.id}
    tolerations = _unique(toleration(t) for t in pool.taints)
    if tolerations:
        spec["tolerations"] = tolerations
    return obj(COMPONENT, {"apiVersion": API, "kind": "ResourceFlavor",
                           "metadata": metadata(cluster, pool.name), "spec": spec})


# -- quotas ---------------------------------------------------------------------------------------

def tenant_pools(cluster: Cluster, tenant: Tenant) -> list[NodePool]:
    """The pools the tenant has a quota or borrowing limit on, in blueprint order."""
    names = set(tenant.quota) | set(tenant.borrowing_limit)
    return [pool for pool in cluster.node_pools if pool.name in names]


def queue_resources(pool: NodePool, strategy: str) -> dict[str, int]:
    """What a tenant's queue counts per GPU of `pool`: the device plugin's resources and, on
    ComputeDomain pools, one IMEX channel per GPU (a pod holds one channel and at least one
    GPU, so channels never run out before GPUs do)."""
    resources = gpu_resources(pool, strategy)
    if pool.compute_domains:
        resources[CHANNEL_RESOURCE] = 1
    return resources


def resource_groups(cluster: Cluster, tenant: Tenant) -> list[dict[str, Any]]:
    strategy = cluster.mig_strategy  # the blueprint's, else what the pools need (model)
    pools = [(pool, queue_resources(pool, strategy)) for pool in tenant_pools(cluster, tenant)]
    groups: list[tuple[set[str], list[tuple[NodePool, dict[str, int]]]]] = []
    for pool, resources in pools:  # merge every group that shares a resource with this pool
        joined = [g for g in groups if g[0] & set(resources)]
        names = set(resources).union(*(g[0] for g in joined))
        members = [m for g in joined for m in g[1]] + [(pool, resources)]
        groups = [g for g in groups if g not in joined] + [(names, members)]
    order = {pool.name: i for i, pool in enumerate(cluster.node_pools)}
    groups.sort(key=lambda g: min(order[p.name] for p, _ in g[1]))
    out = []
    for names, members in groups:
        covered = sorted(names)
        members.sort(key=lambda m: order[m[0].name])
        out.append({"coveredResources": covered,
                    "flavors": [_flavor(tenant, pool, resources, covered)
                                for pool, resources in members]})
    return out


def _flavor(tenant: Tenant, pool: NodePool, resources: Mapping[str, int],
            covered: list[str]) -> dict[str, Any]:
    quota = tenant.quota.get(pool.name, 0)
    limit = tenant.borrowing_limit.get(pool.name)
    entries = []
    for name in covered:
        per_gpu = resources.get(name, 0)  # 0: the pool has no such resource
        entry = {"name": name, "nominalQuota": quantity(quota * per_gpu)}
        if limit is not None or per_gpu == 0:
            entry["borrowingLimit"] = quantity((limit or 0) * per_gpu)
        entries.append(entry)
    return {"name": pool.name, "resources": entries}


def cohort(cluster: Cluster) -> Output:
    assert cluster.kueue is not None
    spec: dict[str, Any] = {}
    if cluster.kueue.fair_sharing:
        spec["fairSharing"] = {"weight": quantity(1)}
    return obj(COMPONENT, {"apiVersion": API, "kind": "Cohort",
                           "metadata": metadata(cluster, cluster.kueue.cohort), "spec": spec})


def cluster_queue(cluster: Cluster, tenant: Tenant) -> Output:
    assert cluster.kueue is not None
    spec: dict[str, Any] = {
        "cohortName": cluster.kueue.cohort,
        "namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": tenant_namespace(tenant.name)}},
        "preemption": {"reclaimWithinCohort": "Any", "withinClusterQueue": "LowerPriority"},
        "resourceGroups": resource_groups(cluster, tenant),
    }
    if cluster.kueue.fair_sharing:
        spec["fairSharing"] = {"weight": quantity(1)}
    return obj(COMPONENT, {"apiVersion": API, "kind": "ClusterQueue",
                           "metadata": metadata(cluster, tenant.name), "spec": spec})


def local_queue(cluster: Cluster, tenant: Tenant) -> Output:
    return obj(COMPONENT, {
        "apiVersion": API, "kind": "LocalQueue",
        "metadata": metadata(cluster, LOCAL_QUEUE, tenant_namespace(tenant.name)),
        "spec": {"clusterQueue": tenant.name},
    })


def _unique(items: Iterator[dict[str, str]]) -> list[dict[str, str]]:
    seen: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for item in items:
        seen.setdefault(tuple(sorted(item.items())), item)
    return [seen[key] for key in sorted(seen)]
