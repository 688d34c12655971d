"""The GPUs and MIG slices one node of a pool offers, from what the cluster is set up with.

GPUs per node come from the catalog (by the pool's system). A pool's `nvidia.com/mig.config`
label picks a MIG layout of the MIG manager's ConfigMap (gpu-operator values
`migManager.config.name`; its `mig-configs`, v1 format of NVIDIA/mig-parted), advertised per
the GPU Operator's `mig.strategy`: `mixed` as `nvidia.com/mig-<profile>` (and the GPUs left
whole as `nvidia.com/gpu`), `single` as `nvidia.com/gpu`. A `nvidia.com/device-plugin.config`
label (else `devicePlugin.config.default`) picks a device plugin config whose time-slicing
replicas multiply what it shares (NVIDIA/k8s-device-plugin, sharing.timeSlicing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from aifab.admit.cluster import ClusterView
from aifab.admit.pools import Pool
from aifab.catalog import Catalog

MIG_LABEL = "nvidia.com/mig.config"
PLUGIN_LABEL = "nvidia.com/device-plugin.config"


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _config(cluster: ClusterView, name: Any, key: Any) -> Any:
    """A YAML document held in the gpu-operator namespace's ConfigMap `name` under `key`."""
    release = cluster.release("gpu-operator")
    if release is None or not name or not key:
        return None
    configmap = cluster.find("ConfigMap", str(name), release.namespace)
    text = _map(_map(configmap).get("data")).get(str(key))
    return yaml.safe_load(text) if isinstance(text, str) else None  # generated, reviewed


def per_node(pool: Pool, cluster: ClusterView, catalog: Catalog) -> dict[str, int]:
    """Resource name -> how many one node of the pool advertises (GPUs and MIG slices)."""
    system = catalog.systems.get(pool.system)
    gpus = system.gpus_per_node if system is not None else 0
    release = cluster.release("gpu-operator")
    values = release.values if release is not None else {}
    found: dict[str, int] = {"nvidia.com/gpu": gpus}
    layout = pool.labels.get(MIG_LABEL)
    if layout:
        migs = _map(_config(cluster, _map(_map(values.get("migManager")).get("config"))
                            .get("name"), "config.yaml"))
        slices: dict[str, int] = {}
        whole = gpus
        entries = _map(migs.get("mig-configs")).get(layout)
        for entry in entries if isinstance(entries, list) else []:
            entry = _map(entry)
            devices = entry.get("devices")
            count = gpus if devices == "all" else len(devices) if isinstance(devices, list) else 0
            if entry.get("mig-enabled") is True:
                whole -= count
                for profile, each in _map(entry.get("mig-devices")).items():
                    if isinstance(each, int):
                        slices[str(profile)] = slices.get(str(profile), 0) + each * count
        if _map(values.get("mig")).get("strategy", "single") == "mixed":
            found = {"nvidia.com/gpu": max(whole, 0),
                     **{f"nvidia.com/mig-{p}": n for p, n in slices.items()}}
        elif slices:
            found = {"nvidia.com/gpu": sum(slices.values())}
    plugin = _map(_map(values.get("devicePlugin")).get("config"))
    sharing = _map(_map(_config(cluster, plugin.get("name"), pool.labels.get(
        PLUGIN_LABEL, plugin.get("default")))).get("sharing"))
    shared = _map(sharing.get("timeSlicing")).get("resources")
    for resource in shared if isinstance(shared, list) else []:
        name, replicas = _map(resource).get("name"), _map(resource).get("replicas")
        if name in found and isinstance(replicas, int) and replicas > 0:
            found[name] *= replicas
    return found
