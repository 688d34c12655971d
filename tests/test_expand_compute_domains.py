"""compute-domains: the DRA driver release paired with the GPU Operator, no standing domains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aifab.expand import compute_domains, expand
from aifab.expand.common import NS_DRA_DRIVER
from aifab.expand.flux import releases_by_path
from aifab.naming import LABEL_POOL
from bundled import REFERENCE, cluster_of, reference

BLUEPRINTS = Path(__file__).resolve().parents[1] / "blueprints"
PAIRED_CD_CRD = (REFERENCE / "versioned" / "nvidia-dra-driver-gpu-25.12.0"
                 / "resource.nvidia.com_computedomains.yaml")
RELEASE = "compute-domains/helmrelease-nvidia-dra-driver-gpu.yaml"
MIRROR = "registry.gwangju-1.ai.example.kr"

# Key paths of NVIDIA/k8s-dra-driver-gpu deployments/helm/nvidia-dra-driver-gpu/values.yaml (R4)
# that the component sets; read from the upstream file (the 25.3 and later versions all have them).
CHART_KEYS = {
    ("nvidiaDriverRoot",),
    ("image", "repository"),
    ("resources", "gpus", "enabled"),
    ("resources", "computeDomains", "enabled"),
    ("kubeletPlugin", "affinity"),
    ("kubeletPlugin", "tolerations"),
}


@pytest.fixture(scope="module")
def gwangju():
    return cluster_of(BLUEPRINTS / "gwangju-gb200.yaml")


def outputs(cluster) -> dict[str, Any]:
    return {o.path: o for o in compute_domains.expand(cluster)}


def leaf_paths(values: dict[str, Any], path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Key paths down to the chart keys we know (stop at the ones in CHART_KEYS)."""
    if path in CHART_KEYS or not isinstance(values, dict):
        return {path}
    paths = set()
    for key, value in values.items():
        paths |= leaf_paths(value, path + (key,))
    return paths


def test_no_standing_compute_domains(gwangju):
    """A node belongs to one ComputeDomain at a time: no domains per rack and tenant, only the
    DRA driver release (the per-workload domains are templates in examples/)."""
    for path, source in (("gwangju-gb200.yaml", "ocirepository"),  # its chart mirror
                         ("busan-gb300.yaml", "helmrepository")):  # NGC's Helm repository
        out = outputs(cluster_of(BLUEPRINTS / path))
        assert list(out) == [f"compute-domains/{source}-nvidia-dra-driver-gpu.yaml", RELEASE]
    deployed = [o for o in expand(gwangju) if not o.path.startswith("examples/")]
    assert [o.path for o in deployed if o.data.get("kind") == "ComputeDomain"] == []


@pytest.mark.parametrize("blueprint, operator", [
    ("gwangju-gb200.yaml", "v26.3.0"), ("busan-gb300.yaml", "v26.7.0")])
def test_dra_driver_pairs_with_the_gpu_operator(blueprint, operator):
    """Both releases run ClusterPolicy, so the standalone chart; 25.12.0 also matches the
    ComputeDomain CRD the v26.7.0 chart ships (../shared/reference SOURCES.md)."""
    cluster = cluster_of(BLUEPRINTS / blueprint)
    assert cluster.gpu_operator.version == operator
    pairing = compute_domains.dra_driver(cluster)
    assert pairing == {"chart": "nvidia-dra-driver-gpu", "version": "25.12.0",
                       "numNodesRequired": True}
    release = releases_by_path(outputs(cluster).values())[RELEASE]
    assert (release.chart, release.version) == ("nvidia-dra-driver-gpu", "25.12.0")
    crd = yaml.safe_load(reference(PAIRED_CD_CRD).read_text(encoding="utf-8"))
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert ("numNodes" in spec["required"]) is pairing["numNodesRequired"]


def test_v26_7_keeps_the_cluster_policy():
    """GPUCluster replaces ClusterPolicy (the chart says both together are invalid): the GPU
    Operator release keeps its ClusterPolicy and never deploys a GPUCluster."""
    from aifab.expand import gpu_operator

    cluster = cluster_of(BLUEPRINTS / "busan-gb300.yaml")
    values = gpu_operator.values(cluster)
    assert values.get("gpuCluster", {}).get("deployCR", False) is False
    assert values.get("clusterPolicy", {}).get("deployCR", True) is True


def test_release(gwangju):
    data = releases_by_path(outputs(gwangju).values())[RELEASE]
    assert data.chart == "nvidia-dra-driver-gpu"
    assert data.namespace == data.release["metadata"]["namespace"] == NS_DRA_DRIVER
    assert data.version == gwangju.catalog.charts["nvidia-dra-driver-gpu"]["version"] == "25.12.0"
    assert data.repository == "oci://registry.gwangju-1.ai.example.kr/charts"
    values = data.values
    assert values["resources"] == {"gpus": {"enabled": False}, "computeDomains": {"enabled": True}}
    assert values["image"]["repository"] == f"{MIRROR}/nvcr.io/nvidia/k8s-dra-driver-gpu"
    assert values["nvidiaDriverRoot"] == "/run/nvidia/driver"
    terms = values["kubeletPlugin"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [
        {"key": LABEL_POOL, "operator": "In", "values": ["gb200"]}]}]
    assert leaf_paths(values) <= CHART_KEYS


def test_no_compute_domains_no_output():
    assert outputs(cluster_of(BLUEPRINTS / "daejeon-b200.yaml")) == {}
    assert outputs(cluster_of(BLUEPRINTS / "seoul-rtxpro.yaml")) == {}


def test_tainted_pool_is_tolerated(tmp_path):
    data = yaml.safe_load((BLUEPRINTS / "gwangju-gb200.yaml").read_text(encoding="utf-8"))
    data["spec"]["nodePools"][0]["taints"] = [
        {"key": "aifab.dev/dedicated", "value": "training", "effect": "NoSchedule"}]
    path = tmp_path / "tainted.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    out = outputs(cluster_of(path))
    values = out[RELEASE].data["spec"]["values"]
    assert {"key": "aifab.dev/dedicated", "operator": "Equal", "value": "training",
            "effect": "NoSchedule"} in values["kubeletPlugin"]["tolerations"]
    assert leaf_paths(values) <= CHART_KEYS
