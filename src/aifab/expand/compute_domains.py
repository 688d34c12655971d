"""ComputeDomains: the NVIDIA DRA driver and one ComputeDomain per NVLink domain per tenant.

Only for pools with `computeDomains: true` (GB200/GB300 NVL72). What it produces (folder
`compute-domains/`):

- the `nvidia-dra-driver-gpu` HelmRelease in NS_DRA_DRIVER, with only its ComputeDomain part
  (`resources.computeDomains.enabled`; `resources.gpus.enabled: false`, since whole GPUs stay with
  the GPU Operator's device plugin and DRA GPU allocation is a technology preview, R1 "NVIDIA DRA
  Driver for GPUs"), the driver root of the GPU Operator's driver container
  (`nvidiaDriverRoot: /run/nvidia/driver`, as the values file's comment says), the image through
  the registry mirror, and its kubelet plugin kept to the compute-domain pools. Value keys:
  NVIDIA/k8s-dra-driver-gpu `deployments/helm/nvidia-dra-driver-gpu/values.yaml` (R4);
- ComputeDomain `resource.nvidia.com/v1beta1` objects (CRD of R4): `numNodes: 0` (the
  recommended elastic mode: IMEX daemons follow the pods), `channel.allocationMode: Single`, and
  a ResourceClaimTemplate name that the ComputeDomain controller creates in the same namespace.

Why one ComputeDomain per rack per tenant. Upstream treats a ComputeDomain as belonging to a
workload: "an individual ComputeDomain (CD) guarantees MNNVL-reachability between pods that are
in the CD, and secure isolation from other pods that are not in the CD" (R4, README), and its
examples create one CD beside each multi-node job. aifab cannot know the jobs, so it creates the
standing domains a tenant needs to start with: ComputeDomains are namespaced and their claim
template lives in the CD's namespace, so each tenant with quota on the pool gets its own (tenants
stay isolated from each other), and IMEX never reaches beyond one NVLink domain, so one per rack
covers every placement. Jobs of one tenant on one rack that reference the same domain share its
IMEX channel; a tenant that needs isolation between its own jobs creates per-job ComputeDomains
in its namespace, which nothing here prevents. Pods pick a rack's domain by its name
(`aifab.naming.compute_domain_name`), which carries the rack number, and select the rack's
nodes themselves (the ComputeDomain spec has no node selector).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aifab.expand.common import (
    LABEL_POOL,
    NS_DRA_DRIVER,
    Output,
    image_registry,
    metadata,
    obj,
    release,
)
from aifab.model import Cluster, NodePool
from aifab.naming import compute_domain_channel, compute_domain_name, tenant_namespace

COMPONENT = "compute-domains"
CHART_KEY = "nvidia-dra-driver-gpu"

# Where the GPU Operator's driver container exposes the driver (gpu-operator values.yaml
# hostPaths.driverInstallDir, R2), as the DRA values file asks for operator-managed drivers.
OPERATOR_DRIVER_ROOT = "/run/nvidia/driver"

API_VERSION = "resource.nvidia.com/v1beta1"
ALLOCATION_MODE = "Single"  # one IMEX channel per claim: the CRD default, written out


def compute_domain_pools(cluster: Cluster) -> list[NodePool]:
    return sorted((p for p in cluster.node_pools if p.compute_domains and p.rack_count),
                  key=lambda p: p.name)


def tenants_of(cluster: Cluster, pool: NodePool) -> list[str]:
    """Namespaces of the tenants with quota on `pool`, sorted."""
    return sorted(tenant_namespace(t.name) for t in cluster.tenants
                  if t.quota.get(pool.name, 0) > 0)




def values(cluster: Cluster, pools: list[NodePool]) -> dict[str, Any]:
    """Chart values: the compute-domain part only, its kubelet plugin on the pools' nodes."""
    plugin: dict[str, Any] = {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": LABEL_POOL, "operator": "In", "values": [p.name for p in pools]},
            ]}],
        }}},
    }
    if taints := sorted({(t.key, t.value, t.effect) for p in pools for t in p.taints}):
        plugin["tolerations"] = [
            {"key": key, "operator": "Equal", "value": value, "effect": effect}
            for key, value, effect in taints
        ]
    return {
        "nvidiaDriverRoot": OPERATOR_DRIVER_ROOT,
        "image": {"repository": image_registry(cluster, cluster.catalog.charts[CHART_KEY]["image"])},
        "resources": {"gpus": {"enabled": False}, "computeDomains": {"enabled": True}},
        "kubeletPlugin": plugin,
    }


def compute_domain(cluster: Cluster, pool: NodePool, rack: int, namespace: str) -> Output:
    return obj(COMPONENT, {
        "apiVersion": API_VERSION,
        "kind": "ComputeDomain",
        "metadata": metadata(cluster, compute_domain_name(pool, rack), namespace,
                             labels={LABEL_POOL: pool.name}),
        "spec": {
            "numNodes": 0,
            "channel": {
                "allocationMode": ALLOCATION_MODE,
                "resourceClaimTemplate": {"name": compute_domain_channel(pool, rack)},
            },
        },
    })


def expand(cluster: Cluster) -> Iterator[Output]:
    pools = compute_domain_pools(cluster)
    if not pools:
        return
    yield release(COMPONENT, cluster, chart_key=CHART_KEY,
                  version=cluster.catalog.charts[CHART_KEY]["version"], namespace=NS_DRA_DRIVER,
                  values=values(cluster, pools))
    for pool in pools:
        for namespace in tenants_of(cluster, pool):
            for rack in range(1, (pool.rack_count or 0) + 1):
                yield compute_domain(cluster, pool, rack, namespace)
