"""What every component needs: the Output type, object metadata, mirrors, quantities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aifab.model import Cluster, NodePool

MANAGED_BY = {"app.kubernetes.io/managed-by": "aifab"}
AIFAB_API = "aifab.dev/v1alpha1"


@dataclass(frozen=True, slots=True)
class Output:
    """One generated file: a path relative to generated/<cluster>/ and the data it holds.

    `kind` says what the Pulumi stack does with it:
    - "object":  a Kubernetes object (apiVersion, kind, metadata, ...), applied as is;
    - "release": a Flux HelmRelease (expand/flux.py; its source is an "object" beside it);
    - "nodes":   a node pool's NodeFeatureRule (an object like the others; verify also checks
      its node names, labels and taints);
    - "document": a file for reviewers (SUMMARY.md, an SVG): `data["text"]` is written as is,
      with its own "generated" header; nothing is deployed from it.
    """

    path: str
    kind: str
    data: Mapping[str, Any]


def obj(component: str, data: dict[str, Any]) -> Output:
    """A Kubernetes object at `<component>/[<namespace>/]<kind>-<name>.yaml`."""
    meta = data["metadata"]
    folder = f"{component}/{meta['namespace']}" if "namespace" in meta else component
    return Output(f"{folder}/{data['kind'].lower()}-{meta['name']}.yaml", "object", data)


def metadata(cluster: Cluster, name: str, namespace: str | None = None,
             labels: Mapping[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """metadata with the labels every aifab object carries, so `kubectl get -l` finds them."""
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = {**MANAGED_BY, "aifab.dev/cluster": cluster.name, **(labels or {})}
    meta.update(extra)
    return meta


def chart_repository(cluster: Cluster, upstream: str) -> str:
    """The chart repository to use: the site's chart mirror when set, else upstream."""
    return cluster.sovereignty.chart_mirror or upstream


def image_registry(cluster: Cluster, upstream: str) -> str:
    """An image repository prefix (e.g. nvcr.io/nvidia) through the site's registry mirror.

    The mirror keeps the upstream host as the first path segment (registry.site/nvcr.io/nvidia),
    as `skopeo sync` and registry proxy caches lay it out, so one mirror serves every upstream.
    """
    mirror = cluster.sovereignty.registry_mirror
    return f"{mirror}/{upstream}" if mirror else upstream


# The site's OS package repositories for driver containers (sovereignty.packageRepositories).
REPO_CONFIGMAP = "aifab-driver-repo-config"


def repo_configmap(cluster: Cluster, component: str, namespace: str) -> Output:
    """The site's package repository files, mounted by a driver container that builds kernel
    modules instead of reaching the Internet: the GPU Operator's driver.repoConfig and
    NVIDIADriver spec.repoConfig (R1, "Install NVIDIA GPU Operator in Air-Gapped Environments",
    local package repository) and the Network Operator's ofedDriver.repoConfig (its CRD)."""
    return obj(component, {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(cluster, REPO_CONFIGMAP, namespace),
        "data": dict(cluster.sovereignty.package_repositories),
    })


def quantity(count: int) -> str:
    """A Kubernetes quantity for a count, in its one canonical spelling (a plain integer)."""
    return str(int(count))


# Where each operator runs (aifab.naming.OPERATOR_NAMESPACES lists them for the rules).
NS_GPU_OPERATOR = "gpu-operator"
# The GPU Operator's HelmRelease (name, namespace): releases that need its driver or its NFD
# CRDs depend on it.
GPU_OPERATOR_RELEASE = ("gpu-operator", NS_GPU_OPERATOR)
NS_NETWORK_OPERATOR = "nvidia-network-operator"
NS_KUEUE = "kueue-system"
NS_DRA_DRIVER = "nvidia-dra-driver-gpu"
NS_MONITORING = "monitoring"  # the Prometheus Operator (expand/monitoring.py)
NS_JOBSET = "jobset-system"  # the JobSet installation docs' namespace

GPU_RESOURCE = "nvidia.com/gpu"


def mig_resource(profile: str) -> str:
    """The extended resource of a MIG profile under the `mixed` strategy. The device plugin
    turns '+' into '.': 1g.10gb+me is nvidia.com/mig-1g.10gb.me (NVIDIA/k8s-device-plugin)."""
    return "nvidia.com/mig-" + profile.replace("+", ".")


def gpu_resources(pool: NodePool, strategy: str) -> dict[str, int]:
    """Resource -> how many of it the device plugin advertises per physical GPU of `pool`.

    MIG `mixed`: one resource per profile; `single`: every MIG device as nvidia.com/gpu;
    time-slicing and MPS multiply by their replicas (on MIG devices too).
    """
    replicas = pool.sharing.replicas if pool.sharing is not None else 1
    profiles = pool.mig_profiles
    if not profiles or strategy == "none":
        return {GPU_RESOURCE: replicas}
    if strategy == "single":
        return {GPU_RESOURCE: sum(profiles.values()) * replicas}
    return {mig_resource(p): n * replicas for p, n in sorted(profiles.items())}
