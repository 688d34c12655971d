"""ComputeDomains: the NVIDIA DRA driver that lets pools run multi-node NVLink (IMEX) jobs.

Only for pools with `computeDomains: true` (GB200/GB300 NVL72). What it produces (folder
`compute-domains/`): the DRA driver HelmRelease in NS_DRA_DRIVER, the chart and version that
pair with the blueprint's GPU Operator release (catalog `charts.dra-driver-pairing`), with only
its ComputeDomain part (`resources.computeDomains.enabled`; `resources.gpus.enabled: false`:
whole GPUs stay with the GPU Operator's device plugin), the driver root of the GPU Operator's
driver container (`nvidiaDriverRoot: /run/nvidia/driver`, as the values file's comment says),
the image through the registry mirror, and its kubelet plugin kept to the compute-domain pools.
Value keys: NVIDIA/k8s-dra-driver-gpu v25.12.0 `deployments/helm/nvidia-dra-driver-gpu/
values.yaml` (R4).

No standing ComputeDomains. A ComputeDomain belongs to one workload: a node is in one
ComputeDomain at a time (R4 v25.12.0 `cmd/compute-domain-kubelet-plugin/computedomain.go`),
one domain may span racks, and NVIDIA's guidance is one ComputeDomain per workload ("an
individual ComputeDomain (CD) guarantees MNNVL-reachability between pods that are in the CD,
and secure isolation from other pods that are not in the CD", R4 README). Standing domains
per rack would pin every node of a rack to whichever job claimed it first. Tenants create a
ComputeDomain beside each multi-node job instead (their Role allows it, tenants.py); the
ready template of such a job is in `examples/` (nvlink_jobs.py), and Kueue counts the IMEX
channels (kueue.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from aifab.expand.common import (
    GPU_OPERATOR_RELEASE,
    NS_DRA_DRIVER,
    Output,
    image_registry,
)
from aifab.expand.flux import release
from aifab.model import Cluster, NodePool
from aifab.naming import LABEL_POOL

COMPONENT = "compute-domains"
CHART_KEY = "nvidia-dra-driver-gpu"
PAIRING_KEY = "dra-driver-pairing"

# Where the GPU Operator's driver container exposes the driver (gpu-operator values.yaml
# hostPaths.driverInstallDir, R2), as the DRA values file asks for operator-managed drivers.
OPERATOR_DRIVER_ROOT = "/run/nvidia/driver"

# The kubelet plugin's pods wait for the GPU driver under OPERATOR_DRIVER_ROOT, which the GPU
# Operator's driver container builds and loads on a node's first start: its startup probe
# allows 60 s + 120 x 10 s = 21 min for that (NVIDIA/gpu-operator v26.7.0
# assets/state-driver/0500_daemonset.yaml, startupProbe). The release waits for the GPU
# Operator's (spec.dependsOn), then up to 30 min: the driver build, the container toolkit and
# the validator after it, and image pulls through the mirror.
DRIVER_WAIT = "30m"


def compute_domain_pools(cluster: Cluster) -> list[NodePool]:
    return sorted((p for p in cluster.node_pools if p.compute_domains and p.rack_count),
                  key=lambda p: p.name)


def dra_driver(cluster: Cluster) -> Mapping[str, Any]:
    """The DRA driver release that pairs with the cluster's GPU Operator: `chart`, `version`,
    `numNodesRequired` (catalog). A release without a recorded pairing gets the chart's own."""
    pairs = cluster.catalog.charts[PAIRING_KEY]["releases"]
    chart = cluster.catalog.charts[CHART_KEY]
    default = {"chart": CHART_KEY, "version": chart["version"], "numNodesRequired": True}
    return pairs.get(cluster.gpu_operator.version, default)


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
    chart = cluster.catalog.charts[dra_driver(cluster)["chart"]]
    return {
        "nvidiaDriverRoot": OPERATOR_DRIVER_ROOT,
        "image": {"repository": image_registry(cluster, chart["image"])},
        "resources": {"gpus": {"enabled": False}, "computeDomains": {"enabled": True}},
        "kubeletPlugin": plugin,
    }


def expand(cluster: Cluster) -> Iterator[Output]:
    pools = compute_domain_pools(cluster)
    if not pools:
        return
    pairing = dra_driver(cluster)
    yield from release(COMPONENT, cluster, chart_key=pairing["chart"], version=pairing["version"],
                       namespace=NS_DRA_DRIVER, values=values(cluster, pools),
                       timeout=DRIVER_WAIT, depends_on=[GPU_OPERATOR_RELEASE])
