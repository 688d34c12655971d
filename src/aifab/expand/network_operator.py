"""Network Operator: its Helm release, the NicClusterPolicy, and one secondary network per rail.

Only with `spec.networkOperator` and `spec.fabric`. What it produces (folder `network-operator/`):

- the `network-operator` HelmRelease (chart values of Network Operator v26.4.1, R5; only keys of
  that values file): the operator and DOCA-OFED init-container images through the registry
  mirror. Node Feature Discovery: the GPU Operator (present in every cluster) deploys NFD with its
  chart defaults, whose worker already whitelists the network PCI classes 02/0200/0207 (R2
  values.yaml), so this chart runs with `nfd.enabled: false` (two NFD deployments would fight
  over the same labels) and keeps `nfd.deployNodeFeatureRules` for its own NodeFeatureRules;
- NicClusterPolicy `nic-cluster-policy` (mellanox.com/v1alpha1, reference CRD): `ofedDriver` only
  with `networkOperator.ofedDriver.deploy` (and `repoConfig`, the ConfigMap of the site's
  package repositories `sovereignty.packageRepositories`, written in the operator namespace,
  so the DOCA driver container installs kernel headers in an air gap); on InfiniBand
  `rdmaSharedDevicePlugin` with ONE resource per compute rail (`rdma/rdma_shared_rail<n>`,
  rdmaHcaMax 63, selected by `ifNames`, as the Network Operator quick start "IP over InfiniBand
  with RDMA Shared Device" does); on Spectrum-X instead `sriovDevicePlugin`, one
  `nvidia.com/hostdev_rail<n>` resource per rail with `isRdma`, because host-device networks take
  a whole PCI function (its RDMA device included) and need a device plugin that hands out its PCI
  address (Network Operator quick start "Host Device Network with RDMA", which runs no shared
  RDMA plugin): offering the same PF as a shared RDMA device too would hand one pod's RDMA
  device to others while the host-device CNI moves it into that pod; `secondaryNetwork` (multus,
  CNI plugins, and ipoib-cni on InfiniBand: the CRD's secondaryNetwork has no ipamPlugin, so
  IPAM is `nvIpam`); tolerations for
  every pool taint so the DaemonSets reach tainted GPU nodes. Images: `nvcr.io/nvidia/mellanox`
  (through the mirror) with tag `network-operator-<version>`, and the DOCA driver version of the
  release, as in the Network Operator v26.4.1 docs "NicClusterPolicy Custom Resource Example";
- per rail: an `IPoIBNetwork` (InfiniBand, master = the rail's IPoIB interface) or a
  `HostDeviceNetwork` (Spectrum-X), NetworkAttachmentDefinitions in `default` that pods reference
  as `default/compute-rail<n>`, with nv-ipam IPAM; and an nv-ipam `IPPool` (nv-ipam.nvidia.com/
  v1alpha1; fields subnet, perNodeBlockSize, gateway, nodeSelector from Mellanox/nvidia-k8s-ipam
  api/v1alpha1/ippool_type.go) in the operator namespace.

Rails: the most compute NICs of any pool (catalog `computeNics`); rail n exists on the pools with
more than n NICs, and its IPPool selects only their nodes. `fabric.subnet` is split into equal
power-of-two subnets, one per rail in order (ipaddress.subnets). perNodeBlockSize is the largest
power of two with blocks for every node of the rail (nv-ipam: at least 2, and within the subnet's
addresses minus network and broadcast, ippool_validate.go), capped at 64: a shared RDMA device
serves at most rdmaHcaMax = 63 pods per node. No gateway: rail networks are flat, unrouted L2.

Interface names are a convention the hosts must follow (udev rules or the NIC Configuration
Operator): `ibs<n>` for InfiniBand rails, `eth_r<n>` for Spectrum-X rails (the Network Operator
Launch Kit's rail netdev prefix `eth_r%rail%`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from aifab.addressing import Rail, nic_pools, rail_count, rails
from aifab.expand.common import (
    GPU_OPERATOR_RELEASE,
    NS_NETWORK_OPERATOR,
    REPO_CONFIGMAP,
    Output,
    image_registry,
    metadata,
    obj,
    repo_configmap,
)
from aifab.expand.flux import release
from aifab.model import Cluster
from aifab.naming import LABEL_POOL

COMPONENT = "network-operator"
CHART_KEY = "network-operator"
API = "mellanox.com/v1alpha1"
IPAM_API = "nv-ipam.nvidia.com/v1alpha1"
POLICY_NAME = "nic-cluster-policy"
NETWORK_NAMESPACE = "default"  # where the operator writes the NetworkAttachmentDefinitions
MELLANOX = "nvcr.io/nvidia/mellanox"
OPERATOR_REPOSITORY = "nvcr.io/nvidia/cloud-native"  # values.yaml operator.repository
RDMA_HCA_MAX = 63  # the upstream examples' value
RAIL_INTERFACE = {"infiniband": "ibs{rail}", "spectrum-x": "eth_r{rail}"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def expand(cluster: Cluster) -> Iterator[Output]:
    if cluster.network_operator is None or cluster.fabric is None:
        return
    yield from helm_release(cluster)
    if cluster.network_operator.deploy_ofed and cluster.sovereignty.package_repositories:
        yield repo_configmap(cluster, COMPONENT, NS_NETWORK_OPERATOR)
    yield obj(COMPONENT, nic_cluster_policy(cluster))
    for rail in rails(cluster):  # the fabric rule (AF336) made sure every rail fits
        yield obj(COMPONENT, network(cluster, rail.index))
        yield obj(COMPONENT, ip_pool(cluster, rail))


# -- rails ----------------------------------------------------------------------------------------





def rail_name(rail: int) -> str:
    return f"compute-rail{rail}"


def rail_resource(rail: int) -> str:
    return f"rdma_shared_rail{rail}"


def hostdev_resource(rail: int) -> str:
    return f"hostdev_rail{rail}"


def rail_interface(cluster: Cluster, rail: int) -> str:
    assert cluster.fabric is not None
    return RAIL_INTERFACE[cluster.fabric.technology].format(rail=rail)








# -- the Helm release -----------------------------------------------------------------------------

def helm_release(cluster: Cluster) -> list[Output]:
    assert cluster.network_operator is not None
    values = {
        # NFD comes from the GPU Operator; the rules still label NIC features (module docstring).
        "nfd": {"enabled": False, "deployNodeFeatureRules": True},
        "operator": {
            "repository": image_registry(cluster, OPERATOR_REPOSITORY),
            "ofedDriver": {"initContainer": {"repository": image_registry(cluster, MELLANOX)}},
        },
        "node-feature-discovery": {"image": {
            "repository": f"{image_registry(cluster, MELLANOX)}/node-feature-discovery"}},
    }
    # Its NodeFeatureRules (Mellanox/network-operator v26.4.0
    # deployment/network-operator/templates/nodefeaturerules.yaml) need the NFD CRD, which the
    # GPU Operator's NFD subchart installs: Helm would refuse the release before it.
    return release(COMPONENT, cluster, chart_key=CHART_KEY,
                   version=cluster.network_operator.version.removeprefix("v"),
                   namespace=NS_NETWORK_OPERATOR, values=values,
                   depends_on=[GPU_OPERATOR_RELEASE])


# -- NicClusterPolicy -----------------------------------------------------------------------------

def _image(cluster: Cluster, name: str, version: str | None = None) -> dict[str, str]:
    assert cluster.network_operator is not None
    return {"image": name, "repository": image_registry(cluster, MELLANOX),
            "version": version or f"network-operator-{cluster.network_operator.version}"}


def rdma_shared_config(cluster: Cluster) -> str:
    config = {"configList": [
        {"resourceName": rail_resource(rail), "rdmaHcaMax": RDMA_HCA_MAX,
         "selectors": {"ifNames": [rail_interface(cluster, rail)]}}
        for rail in range(rail_count(cluster))]}
    return json.dumps(config, sort_keys=True)


def sriov_config(cluster: Cluster) -> str:
    config = {"resourceList": [
        {"resourcePrefix": "nvidia.com", "resourceName": hostdev_resource(rail),
         "selectors": {"vendors": ["15b3"], "pfNames": [rail_interface(cluster, rail)],
                       "isRdma": True}}
        for rail in range(rail_count(cluster))]}
    return json.dumps(config, sort_keys=True)


def tolerations(cluster: Cluster) -> list[dict[str, str]]:
    """The GPU taint plus every pool taint of a NIC pool, as Exists tolerations, sorted."""
    keys = {(GPU_TOLERATION["key"], GPU_TOLERATION["effect"])}
    keys |= {(t.key, t.effect) for pool in nic_pools(cluster) for t in pool.taints}
    return [{"key": key, "operator": "Exists", "effect": effect} for key, effect in sorted(keys)]


def nic_cluster_policy(cluster: Cluster) -> dict[str, Any]:
    assert cluster.network_operator is not None and cluster.fabric is not None
    version = cluster.network_operator.version
    spec: dict[str, Any] = {}
    if cluster.network_operator.deploy_ofed:
        spec["ofedDriver"] = {  # the version is known: rule AF356 refuses the blueprint otherwise
            **_image(cluster, "doca-driver", cluster.catalog.doca_drivers[version]),
            # Upgrade and probe settings of the upstream NicClusterPolicy example (R5).
            "upgradePolicy": {"autoUpgrade": True, "maxParallelUpgrades": 1,
                              "drain": {"enable": True, "force": True, "deleteEmptyDir": True,
                                        "timeoutSeconds": 300}},
            "startupProbe": {"initialDelaySeconds": 10, "periodSeconds": 10},
            "livenessProbe": {"initialDelaySeconds": 30, "periodSeconds": 30},
            "readinessProbe": {"initialDelaySeconds": 10, "periodSeconds": 30},
        }
        if cluster.sovereignty.package_repositories:  # air gaps: the site's package mirror
            spec["ofedDriver"]["repoConfig"] = {"name": REPO_CONFIGMAP}
    if cluster.fabric.technology == "spectrum-x":  # each PF is a host device, never shared
        spec["sriovDevicePlugin"] = {**_image(cluster, "sriov-network-device-plugin"),
                                     "config": sriov_config(cluster)}
    else:
        spec["rdmaSharedDevicePlugin"] = {**_image(cluster, "k8s-rdma-shared-dev-plugin"),
                                          "config": rdma_shared_config(cluster)}
    secondary: dict[str, Any] = {"cniPlugins": _image(cluster, "plugins"),
                                 "multus": _image(cluster, "multus-cni")}
    if cluster.fabric.technology == "infiniband":
        secondary["ipoib"] = _image(cluster, "ipoib-cni")
    spec["secondaryNetwork"] = secondary
    spec["nvIpam"] = {**_image(cluster, "nvidia-k8s-ipam"), "enableWebhook": False}
    spec["tolerations"] = tolerations(cluster)
    return {"apiVersion": API, "kind": "NicClusterPolicy",
            "metadata": metadata(cluster, POLICY_NAME), "spec": spec}


# -- per-rail networks and IP pools ---------------------------------------------------------------

def network(cluster: Cluster, rail: int) -> dict[str, Any]:
    assert cluster.fabric is not None
    ipam = json.dumps({"type": "nv-ipam", "poolName": rail_name(rail)}, sort_keys=True)
    meta = metadata(cluster, rail_name(rail))
    if cluster.fabric.technology == "infiniband":
        return {"apiVersion": API, "kind": "IPoIBNetwork", "metadata": meta,
                "spec": {"networkNamespace": NETWORK_NAMESPACE,
                         "master": rail_interface(cluster, rail), "ipam": ipam}}
    return {"apiVersion": API, "kind": "HostDeviceNetwork", "metadata": meta,
            "spec": {"networkNamespace": NETWORK_NAMESPACE,
                     "resourceName": f"nvidia.com/{hostdev_resource(rail)}", "ipam": ipam}}


def ip_pool(cluster: Cluster, rail: Rail) -> dict[str, Any]:
    return {
        "apiVersion": IPAM_API, "kind": "IPPool",
        "metadata": metadata(cluster, rail_name(rail.index), NS_NETWORK_OPERATOR),
        "spec": {
            "subnet": str(rail.subnet),
            "perNodeBlockSize": rail.block,
            "nodeSelector": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": LABEL_POOL, "operator": "In", "values": [p.name for p in rail.pools]}]}]},
        },
    }
