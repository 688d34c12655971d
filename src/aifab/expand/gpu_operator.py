"""GPU Operator: its Helm release, the MIG and device-plugin ConfigMaps, per-pool NVIDIADrivers.

What it produces (folder `gpu-operator/`):

- the `gpu-operator` HelmRelease (chart values of GPU Operator v26.7.0, R2
  `deployments/gpu-operator/values.yaml`; only keys of that file are set);
- ConfigMap `aifab-mig-config` when a pool has a MIG config: a mig-parted document
  (`version: v1`, `mig-configs`) with `all-disabled` and every config the pools use, one entry per
  GPU model (`device-filter`, as in the operator's default mig-parted ConfigMap, R2), with the
  catalog's profile counts. Nodes pick a config with the label `nvidia.com/mig.config`
  (`mig_config_label`);
- ConfigMap `aifab-device-plugin-config` when a pool shares GPUs: one key per sharing pool
  (`version: v1`, `flags.migStrategy`, `sharing.timeSlicing|mps.resources`) and a default key for
  every other node (R3, k8s-device-plugin README "Shared Access to GPUs"; nodes pick a key with
  the label `nvidia.com/device-plugin.config`, `device_plugin_label`). Under the `mixed` MIG
  strategy a time-sliced MIG pool shares its `nvidia.com/mig-<profile>` resources (R3: the
  time-sliceable resources are nvidia.com/gpu and those of the mixed strategy);
- NVIDIADriver (nvidia.com/v1alpha1) objects when a pool overrides the driver: the chart then runs
  with `driver.nvidiaDriverCRD.enabled` (ClusterPolicy `spec.driver.useNvidiaDriverCRD`) and
  without its catch-all `default` NVIDIADriver (`deployDefaultCR: false`), and every pool gets
  its own NVIDIADriver selecting `aifab.dev/pool=<pool>`. One per pool rather than one per
  driver version: the CRD's `spec.nodeSelector` is a plain label map (no `In`), and the
  operator needs the selectors of its NVIDIADrivers not to overlap (R1, "NVIDIA GPU Driver
  Custom Resource Definition"), which equality on the pool label guarantees.

GPUDirect RDMA: `peermem` sets `driver.rdma.enabled` (and `useHostMofed` when the Network
Operator does not deploy OFED); `dma-buf` needs no RDMA value, only the open kernel modules (R1,
"GPUDirect RDMA"; facts section 4). Every image repository of the values file goes through the
registry mirror when one is set, the node-feature-discovery subchart's image included (without
it NFD never starts in an air gap and the operator deploys nothing).

Node labels and taints: nfd-master sets them from the pools' NodeFeatureRules
(aifab.expand.node_pools); it applies a rule's taints only with `enableTaints`, which the NFD
subchart's `master.enableTaints` value passes as `-enable-taints` (kubernetes-sigs/
node-feature-discovery v0.17.2 to v0.19.0, deployment/helm/node-feature-discovery/values.yaml
and templates/master.yaml; chart default false, left alone by the GPU Operator's values).

Air gaps: the driver container installs kernel headers and OS packages from the Internet unless
it is given a package repository (`driver.repoConfig`) or runs precompiled. With
`sovereignty.packageRepositories` the ConfigMap `aifab-driver-repo-config` holds the site's
repository files and the ClusterPolicy and every NVIDIADriver name it (R1, "Install NVIDIA GPU
Operator in Air-Gapped Environments"); rule AF382 warns when an air-gapped cluster has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from aifab.catalog import version_tuple
from aifab.expand.common import (
    GPU_RESOURCE,
    NS_GPU_OPERATOR,
    REPO_CONFIGMAP,
    Output,
    image_registry,
    metadata,
    mig_resource,
    obj,
    repo_configmap,
)
from aifab.expand.flux import release
from aifab.model import Cluster, NodePool
from aifab.naming import DEVICE_PLUGIN_CONFIG_LABEL, LABEL_POOL, MIG_CONFIG_LABEL

COMPONENT = "gpu-operator"
CHART_KEY = "gpu-operator"

MIG_CONFIGMAP = "aifab-mig-config"
MIG_CONFIG_KEY = "config.yaml"  # the key mig-manager reads (values.yaml, migManager.config)
MIG_DISABLED = "all-disabled"
SHARING_CONFIGMAP = "aifab-device-plugin-config"
# The device-plugin config of nodes without a label. Pool names are DNS labels (no dots), so
# this key can never be a pool's key.
SHARING_DEFAULT_KEY = "aifab.default"

DRA_DRIVER_KEY = "draDriver"

# Every image `repository` of the GPU Operator v26.7.0 chart values (R2, values.yaml), as the
# path of its parent in the values and the chart default. vgpuManager.repository is "" upstream
# (the vGPU manager image is private) and is left alone. `draDriver` is a key of the chart only
# from the release that runs the DRA driver through GPUCluster (catalog
# features.gpuCluster.minOperator): NVIDIA/gpu-operator v26.3.0
# deployments/gpu-operator/values.yaml has no `draDriver`, v26.7.0's has.
CHART_IMAGE_REPOSITORIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ccManager",), "nvcr.io/nvidia/cloud-native"),
    (("dcgm",), "nvcr.io/nvidia/cloud-native"),
    (("dcgmExporter",), "nvcr.io/nvidia/k8s"),
    (("devicePlugin",), "nvcr.io/nvidia"),
    ((DRA_DRIVER_KEY,), "nvcr.io/nvidia"),
    (("driver",), "nvcr.io/nvidia"),
    (("driver", "manager"), "nvcr.io/nvidia/cloud-native"),
    (("gdrcopy",), "nvcr.io/nvidia/cloud-native"),
    (("gds",), "nvcr.io/nvidia/cloud-native"),
    (("gfd",), "nvcr.io/nvidia"),
    (("kataSandboxDevicePlugin",), "nvcr.io/nvidia/cloud-native"),
    (("migManager",), "nvcr.io/nvidia/cloud-native"),
    (("nodeStatusExporter",), "nvcr.io/nvidia"),
    (("operator",), "nvcr.io/nvidia"),
    (("sandboxDevicePlugin",), "nvcr.io/nvidia"),
    (("toolkit",), "nvcr.io/nvidia/k8s"),
    (("validator",), "nvcr.io/nvidia"),
    (("vfioManager",), "nvcr.io/nvidia/cloud-native"),
    (("vfioManager", "driverManager"), "nvcr.io/nvidia/cloud-native"),
    (("vgpuDeviceManager",), "nvcr.io/nvidia/cloud-native"),
    (("vgpuManager", "driverManager"), "nvcr.io/nvidia/cloud-native"),
)


# The NFD subchart's image (kubernetes-sigs/node-feature-discovery v0.18.3 and v0.19.0
# deployment/helm/node-feature-discovery/values.yaml, image.repository; the GPU Operator chart
# does not override it). Subchart values go under the subchart's name.
NFD_SUBCHART = "node-feature-discovery"
NFD_REPOSITORY = "registry.k8s.io/nfd/node-feature-discovery"


# The chart's default tolerations for operands and the NFD worker (R2, values.yaml); pool taints
# are added to them so the operands reach tainted GPU nodes.
DAEMONSET_TOLERATIONS = ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
NFD_WORKER_TOLERATIONS = (
    {"key": "node-role.kubernetes.io/control-plane", "operator": "Equal", "value": "",
     "effect": "NoSchedule"},
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
)


# -- labels for node_pools ------------------------------------------------------------------------

def mig_config_label(pool: NodePool) -> dict[str, str]:
    """The node label selecting the pool's mig-parted config ({} without MIG: mig-manager then
    applies its default, all-disabled)."""
    return {MIG_CONFIG_LABEL: pool.mig_config} if pool.mig_config is not None else {}


def device_plugin_label(pool: NodePool) -> dict[str, str]:
    """The node label selecting the pool's key of the device-plugin ConfigMap ({} without
    sharing: the plugin then uses the ConfigMap's default key)."""
    return {DEVICE_PLUGIN_CONFIG_LABEL: pool.name} if pool.sharing is not None else {}


# -- derived settings -----------------------------------------------------------------------------

def mig_pools(cluster: Cluster) -> list[NodePool]:
    return [pool for pool in cluster.node_pools if pool.mig_config is not None]


def sharing_pools(cluster: Cluster) -> list[NodePool]:
    return sorted((p for p in cluster.node_pools if p.sharing is not None), key=lambda p: p.name)


def per_pool_drivers(cluster: Cluster) -> bool:
    """NVIDIADriver objects are needed when some pool runs a driver of its own."""
    return any(pool.driver_overridden for pool in cluster.node_pools)


def tolerations(cluster: Cluster, defaults: tuple[dict[str, str], ...]) -> list[dict[str, str]]:
    """`defaults` plus one toleration per distinct pool taint that no default (an Exists on
    its key and effect, like the chart's nvidia.com/gpu) tolerates already, sorted."""
    covered = {(d["key"], d["effect"]) for d in defaults if d["operator"] == "Exists"}
    taints = sorted({(t.key, t.value, t.effect) for p in cluster.node_pools for t in p.taints
                     if (t.key, t.effect) not in covered})
    return [dict(t) for t in defaults] + [
        {"key": key, "operator": "Equal", "value": value, "effect": effect}
        for key, value, effect in taints
    ]


def _rdma(cluster: Cluster) -> dict[str, bool] | None:
    """driver.rdma for the legacy nvidia-peermem module; None for dma-buf and disabled."""
    if cluster.gpu_operator.gpu_direct_rdma != "peermem":
        return None
    network = cluster.network_operator
    return {"enabled": True, "useHostMofed": not (network is not None and network.deploy_ofed)}


# -- the Helm release -----------------------------------------------------------------------------

def values(cluster: Cluster) -> dict[str, Any]:
    go = cluster.gpu_operator
    driver: dict[str, Any] = {"version": go.driver_version,
                              "kernelModuleType": go.kernel_module_type}
    if rdma := _rdma(cluster):
        driver["rdma"] = rdma
    if per_pool_drivers(cluster):
        driver["nvidiaDriverCRD"] = {"enabled": True, "deployDefaultCR": False}
    if cluster.sovereignty.package_repositories:
        driver["repoConfig"] = {"configMapName": REPO_CONFIGMAP}
    migs = mig_pools(cluster)
    out: dict[str, Any] = {
        "cdi": {"enabled": go.cdi},
        "dcgmExporter": {"enabled": go.dcgm_exporter,
                         "serviceMonitor": {"enabled": go.service_monitor}},
        "driver": driver,
        "gds": {"enabled": go.gds},
        "mig": {"strategy": cluster.mig_strategy},
        "migManager": {"enabled": bool(migs)},
        "toolkit": {"enabled": True},
    }
    if migs:
        out["migManager"]["config"] = {"name": MIG_CONFIGMAP, "default": MIG_DISABLED}
    if sharing_pools(cluster):
        out["devicePlugin"] = {"config": {"name": SHARING_CONFIGMAP,
                                          "default": SHARING_DEFAULT_KEY}}
    # the pools' NodeFeatureRules taint the nodes (module docstring)
    _section(out, (NFD_SUBCHART, "master"))["enableTaints"] = True
    # the chart's defaults already tolerate the GPU taint every pool carries; other taints
    # are added to them
    if (daemonsets := tolerations(cluster, DAEMONSET_TOLERATIONS)) != list(DAEMONSET_TOLERATIONS):
        out["daemonsets"] = {"tolerations": daemonsets}
    if (nfd := tolerations(cluster, NFD_WORKER_TOLERATIONS)) != list(NFD_WORKER_TOLERATIONS):
        _section(out, (NFD_SUBCHART, "worker"))["tolerations"] = nfd
    if cluster.sovereignty.registry_mirror:
        for path, upstream in chart_image_repositories(cluster):
            _section(out, path)["repository"] = image_registry(cluster, upstream)
        _section(out, (NFD_SUBCHART, "image"))["repository"] = image_registry(
            cluster, NFD_REPOSITORY)
    return out


def chart_image_repositories(cluster: Cluster) -> tuple[tuple[tuple[str, ...], str], ...]:
    """The image repositories of the chart release the cluster names."""
    since = cluster.catalog.features["gpuCluster"]["minOperator"]
    if version_tuple(cluster.gpu_operator.version) >= version_tuple(since):
        return CHART_IMAGE_REPOSITORIES
    return tuple(entry for entry in CHART_IMAGE_REPOSITORIES if entry[0] != (DRA_DRIVER_KEY,))


def _section(values: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = values
    for key in path:
        node = node.setdefault(key, {})
    return node


# -- ConfigMaps -----------------------------------------------------------------------------------

def mig_parted_config(cluster: Cluster) -> dict[str, Any]:
    """The mig-parted document: all-disabled plus each config the pools use, per GPU model."""
    gpus: dict[str, dict[str, Any]] = {}  # config -> device filter -> profiles
    for pool in mig_pools(cluster):
        if pool.mig_config == MIG_DISABLED:
            continue
        gpu = pool.system.gpu
        profiles = gpu.mig_configs.get(pool.mig_config, {})
        gpus.setdefault(pool.mig_config, {})[gpu.device_filter] = profiles
    configs: dict[str, Any] = {MIG_DISABLED: [{"devices": "all", "mig-enabled": False}]}
    for name in sorted(gpus):
        configs[name] = [
            {"device-filter": [device_filter], "devices": "all", "mig-enabled": True,
             "mig-devices": {profile: int(count) for profile, count in sorted(profiles.items())}}
            for device_filter, profiles in sorted(gpus[name].items())
        ]
    return {"version": "v1", "mig-configs": configs}


def mig_configmap(cluster: Cluster) -> Output:
    document = yaml.safe_dump(mig_parted_config(cluster), sort_keys=True)
    return obj(COMPONENT, {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(cluster, MIG_CONFIGMAP, NS_GPU_OPERATOR),
        "data": {MIG_CONFIG_KEY: document},
    })


def sharing_config(pool: NodePool | None, strategy: str) -> dict[str, Any]:
    """One device-plugin config file: `pool`'s sharing, or no sharing for `None`."""
    config: dict[str, Any] = {"version": "v1", "flags": {"migStrategy": strategy}}
    if pool is None or pool.sharing is None:
        return config
    names = [mig_resource(p) for p in sorted(pool.mig_profiles)] if (
        strategy == "mixed" and pool.mig_profiles) else [GPU_RESOURCE]
    resources = [{"name": name, "replicas": pool.sharing.replicas} for name in names]
    config["sharing"] = {pool.sharing.kind: {"resources": resources}}
    return config


def sharing_configmap(cluster: Cluster) -> Output:
    strategy = cluster.mig_strategy
    configs = {SHARING_DEFAULT_KEY: sharing_config(None, strategy)}
    configs.update({pool.name: sharing_config(pool, strategy) for pool in sharing_pools(cluster)})
    return obj(COMPONENT, {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(cluster, SHARING_CONFIGMAP, NS_GPU_OPERATOR),
        "data": {key: yaml.safe_dump(configs[key], sort_keys=True) for key in sorted(configs)},
    })


# -- NVIDIADrivers --------------------------------------------------------------------------------

def driver_name(pool: NodePool) -> str:
    return f"{pool.name}-driver"


def nvidia_driver(cluster: Cluster, pool: NodePool) -> Output:
    go = cluster.gpu_operator
    images = cluster.catalog.charts[CHART_KEY]["images"]

    def image(key: str) -> dict[str, str]:
        found = dict(images[key])
        return {**found, "repository": image_registry(cluster, found["repository"])}

    spec: dict[str, Any] = {
        "default": False,
        "driverType": "gpu",
        **image("driver"),
        "version": pool.driver_version,
        "kernelModuleType": go.kernel_module_type,
        "nodeSelector": {LABEL_POOL: pool.name},
        "manager": image("driverManager"),
        "tolerations": tolerations(cluster, DAEMONSET_TOLERATIONS),
    }
    if rdma := _rdma(cluster):
        spec["rdma"] = rdma
    if go.gds:
        spec["gds"] = {"enabled": True, **image("gds")}
    if cluster.sovereignty.package_repositories:
        spec["repoConfig"] = {"name": REPO_CONFIGMAP}
    return obj(COMPONENT, {
        "apiVersion": "nvidia.com/v1alpha1",
        "kind": "NVIDIADriver",
        "metadata": metadata(cluster, driver_name(pool), labels={LABEL_POOL: pool.name}),
        "spec": spec,
    })


# -- the component --------------------------------------------------------------------------------

def expand(cluster: Cluster) -> Iterator[Output]:
    yield from release(COMPONENT, cluster, chart_key=CHART_KEY,
                       version=cluster.gpu_operator.version, namespace=NS_GPU_OPERATOR,
                       values=values(cluster))
    if cluster.sovereignty.package_repositories:
        yield repo_configmap(cluster, COMPONENT, NS_GPU_OPERATOR)
    if mig_pools(cluster):
        yield mig_configmap(cluster)
    if sharing_pools(cluster):
        yield sharing_configmap(cluster)
    if per_pool_drivers(cluster):
        for pool in sorted(cluster.node_pools, key=lambda p: p.name):
            yield nvidia_driver(cluster, pool)
