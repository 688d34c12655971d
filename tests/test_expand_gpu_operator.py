"""The gpu-operator component: Helm values, MIG and sharing ConfigMaps, per-pool NVIDIADrivers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from aifab.expand import gpu_operator
from aifab.expand.common import NS_GPU_OPERATOR
from aifab.expand.flux import releases_by_path
from aifab.naming import LABEL_POOL
from bundled import REFERENCE, cluster_of, reference, variant

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ROOT / "blueprints"
DRIVER_CRD = REFERENCE / "crds" / "nvidia.com_nvidiadrivers.yaml"
MIRROR = "registry.gwangju-1.ai.example.kr"


@pytest.fixture(scope="module")
def gwangju():
    return cluster_of(BLUEPRINTS / "gwangju-gb200.yaml")


def outputs(cluster) -> dict[str, Any]:
    return {o.path: o for o in gpu_operator.expand(cluster)}


def release_values(cluster) -> dict[str, Any]:
    return outputs(cluster)["gpu-operator/helmrelease-gpu-operator.yaml"].data["spec"]["values"]


def unknown_keys(data: Any, defaults: Any, path: str = "") -> list[str]:
    """Keys of `data` (dicts only, down to lists) missing from the chart's default values."""
    if not isinstance(data, dict) or not isinstance(defaults, dict):
        return []
    problems = []
    for key, value in data.items():
        if key not in defaults:
            problems.append(f"{path}{key}")
        else:
            problems += unknown_keys(value, defaults[key], f"{path}{key}.")
    return problems


def repositories(values: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    found = {}
    if isinstance(values, dict):
        for key, value in values.items():
            if key == "repository" and isinstance(value, str):
                found[path] = value
            else:
                found.update(repositories(value, path + (key,)))
    return found


# -- the reference blueprint ----------------------------------------------------------------------

def test_reference_outputs(gwangju):
    assert sorted(outputs(gwangju)) == [
        "gpu-operator/gpu-operator/configmap-aifab-mig-config.yaml",
        "gpu-operator/helmrelease-gpu-operator.yaml",
        "gpu-operator/ocirepository-gpu-operator.yaml",
    ]


def test_release(gwangju):
    data = releases_by_path(outputs(gwangju).values())["gpu-operator/helmrelease-gpu-operator.yaml"]
    assert data.chart == "gpu-operator"
    assert data.version == "v26.3.0"
    assert data.namespace == data.release["metadata"]["namespace"] == NS_GPU_OPERATOR
    assert data.repository == "oci://registry.gwangju-1.ai.example.kr/charts"
    values = data.values
    assert values["driver"]["version"] == "580.126.20"
    assert values["driver"]["kernelModuleType"] == "open"
    assert "useOpenKernelModules" not in values["driver"]
    assert "rdma" not in values["driver"]  # dma-buf needs no rdma values
    assert "nvidiaDriverCRD" not in values["driver"]  # no pool overrides the driver
    assert values["cdi"] == {"enabled": True}
    assert values["gds"]["enabled"] is False
    assert values["dcgmExporter"]["enabled"] is True
    assert values["dcgmExporter"]["serviceMonitor"] == {"enabled": True}
    assert values["toolkit"]["enabled"] is True
    # all-balanced mixes three profiles on the B200 pool
    assert values["mig"] == {"strategy": "mixed"}
    assert values["migManager"]["enabled"] is True
    assert values["migManager"]["config"] == {"name": "aifab-mig-config", "default": "all-disabled"}
    assert "devicePlugin" not in values or "config" not in values["devicePlugin"]
    # no pool taints: the NFD subchart keeps its tolerations; its image goes through the mirror;
    # nfd-master applies the taints of the pools' NodeFeatureRules (node_pools)
    assert values["node-feature-discovery"] == {
        "image": {"repository": f"{MIRROR}/registry.k8s.io/nfd/node-feature-discovery"},
        "master": {"enableTaints": True}}


# The chart releases whose values.yaml ../shared/reference holds (SOURCES.md).
CHART_RELEASES = ("v26.3.0", "v26.7.0")
# The NFD subchart of each release (deployments/gpu-operator/Chart.yaml; SOURCES.md).
NFD_CHART = {"v26.3.0": "0.18.3", "v26.7.0": "0.19.0"}


def values_file(version: str) -> Path:
    return REFERENCE / "chart-values" / f"gpu-operator-{version}.values.yaml"


def nfd_values_file(version: str) -> Path:
    return REFERENCE / "chart-values" / f"node-feature-discovery-{NFD_CHART[version]}.values.yaml"


def read(path: Path) -> Any:
    return yaml.safe_load(reference(path).read_text(encoding="utf-8"))


def merged(base: Any, over: Any) -> Any:
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    return {**base, **{key: merged(base.get(key), value) for key, value in over.items()}}


def at_release(tmp_path, version: str, edit=None):
    """The reference cluster at GPU Operator `version`, with `edit` applied."""
    tmp_path.mkdir(exist_ok=True)

    def change(data):
        data["spec"]["gpuOperator"]["version"] = version
        if edit:
            edit(data)
    return variant(tmp_path, change)


@pytest.mark.parametrize("version", CHART_RELEASES)
def test_values_use_only_chart_keys_of_the_exact_release(version, tmp_path):
    defaults = read(values_file(version))
    # the subchart's own values sit under its name, merged with what the parent sets for it
    # (Helm merges maps key by key: the parent's `master.config` keeps `master.enableTaints`)
    defaults["node-feature-discovery"] = merged(read(nfd_values_file(version)),
                                                defaults["node-feature-discovery"])

    def everything(data):
        pools = data["spec"]["nodePools"]
        pools[0]["driver"] = {"version": "580.95.05"}
        pools[0]["taints"] = [{"key": "aifab.dev/dedicated", "value": "training",
                               "effect": "NoSchedule"}]
        pools[1]["sharing"] = {"timeSlicing": {"replicas": 2}}
        data["spec"]["gpuOperator"]["gpuDirectRDMA"] = "peermem"
        data["spec"]["gpuOperator"]["gds"] = True

    for cluster in (at_release(tmp_path / "plain", version),
                    at_release(tmp_path / "all", version, everything)):
        assert unknown_keys(release_values(cluster), defaults) == []


@pytest.mark.parametrize("version", CHART_RELEASES)
def test_every_chart_image_of_the_release_goes_through_the_mirror(version, tmp_path):
    upstream = {path: repo for path, repo in repositories(read(values_file(version))).items()
                if repo}
    cluster = at_release(tmp_path, version)
    # every repository key of that release's values file, with its default
    assert dict(gpu_operator.chart_image_repositories(cluster)) == upstream
    # and the NFD subchart's, under the subchart's name: unmirrored, NFD never starts
    upstream |= {("node-feature-discovery", *path): repo
                 for path, repo in repositories(read(nfd_values_file(version))).items() if repo}
    emitted = repositories(release_values(cluster))
    assert set(emitted) == set(upstream)
    for path, repo in emitted.items():
        assert repo == f"{MIRROR}/{upstream[path]}", path


def test_no_mirror_keeps_chart_repositories(tmp_path):
    def no_mirror(data):
        data["spec"]["sovereignty"] = {"residency": "KR"}

    values = release_values(variant(tmp_path, no_mirror))
    assert repositories(values) == {}


def test_mig_configmap(gwangju):
    cm = outputs(gwangju)["gpu-operator/gpu-operator/configmap-aifab-mig-config.yaml"].data
    assert cm["kind"] == "ConfigMap"
    assert cm["metadata"]["name"] == "aifab-mig-config"
    assert cm["metadata"]["namespace"] == NS_GPU_OPERATOR
    assert list(cm["data"]) == ["config.yaml"]
    document = yaml.safe_load(cm["data"]["config.yaml"])
    assert document == {
        "version": "v1",
        "mig-configs": {
            "all-disabled": [{"devices": "all", "mig-enabled": False}],
            "all-balanced": [{
                "device-filter": [gwangju.pool("b200-infer").system.gpu.device_filter],
                "devices": "all",
                "mig-enabled": True,
                "mig-devices": dict(gwangju.pool("b200-infer").mig_profiles),
            }],
        },
    }
    assert document["mig-configs"]["all-balanced"][0]["mig-devices"] == {
        "1g.23gb": 2, "2g.45gb": 1, "3g.90gb": 1}


def test_node_labels(gwangju):
    assert gpu_operator.mig_config_label(gwangju.pool("b200-infer")) == {
        "nvidia.com/mig.config": "all-balanced"}
    assert gpu_operator.mig_config_label(gwangju.pool("gb200")) == {}
    assert gpu_operator.device_plugin_label(gwangju.pool("gb200")) == {}


# -- other blueprints and variants ----------------------------------------------------------------

def test_sharing_configmap_seoul():
    cluster = cluster_of(BLUEPRINTS / "seoul-rtxpro.yaml")
    out = outputs(cluster)
    values = release_values(cluster)
    assert values["devicePlugin"]["config"] == {
        "name": "aifab-device-plugin-config", "default": gpu_operator.SHARING_DEFAULT_KEY}
    cm = out["gpu-operator/gpu-operator/configmap-aifab-device-plugin-config.yaml"].data
    assert sorted(cm["data"]) == [gpu_operator.SHARING_DEFAULT_KEY, "rtx-shared"]
    shared = yaml.safe_load(cm["data"]["rtx-shared"])
    assert shared == {
        "version": "v1",
        "flags": {"migStrategy": values["mig"]["strategy"]},
        "sharing": {"timeSlicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}},
    }
    default = yaml.safe_load(cm["data"][gpu_operator.SHARING_DEFAULT_KEY])
    assert default == {"version": "v1", "flags": {"migStrategy": values["mig"]["strategy"]}}
    assert gpu_operator.device_plugin_label(cluster.pool("rtx-shared")) == {
        "nvidia.com/device-plugin.config": "rtx-shared"}


def test_time_slicing_mig_pool_under_mixed_strategy(tmp_path):
    def shared_mig(data):
        data["spec"]["nodePools"][1]["sharing"] = {"timeSlicing": {"replicas": 3}}

    cluster = variant(tmp_path, shared_mig)
    cm = outputs(cluster)["gpu-operator/gpu-operator/configmap-aifab-device-plugin-config.yaml"]
    config = yaml.safe_load(cm.data["data"]["b200-infer"])
    assert config["sharing"]["timeSlicing"]["resources"] == [
        {"name": f"nvidia.com/mig-{p}", "replicas": 3} for p in ("1g.23gb", "2g.45gb", "3g.90gb")]


def test_mps_pool(tmp_path):
    def mps(data):
        data["spec"]["nodePools"][0]["sharing"] = {"mps": {"replicas": 4}}

    cluster = variant(tmp_path, mps)
    cm = outputs(cluster)["gpu-operator/gpu-operator/configmap-aifab-device-plugin-config.yaml"]
    config = yaml.safe_load(cm.data["data"]["gb200"])
    assert config["sharing"] == {"mps": {"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}}


def test_no_mig_no_sharing_daejeon():
    cluster = cluster_of(BLUEPRINTS / "daejeon-b200.yaml")
    out = outputs(cluster)
    assert list(out) == ["gpu-operator/ocirepository-gpu-operator.yaml",
                         "gpu-operator/helmrelease-gpu-operator.yaml",
                         "gpu-operator/gpu-operator/configmap-aifab-driver-repo-config.yaml"]
    values = release_values(cluster)
    assert values["mig"] == {"strategy": "none"}
    assert values["migManager"]["enabled"] is False
    assert "config" not in values["migManager"]


def test_peermem(tmp_path):
    def peermem(data):
        data["spec"]["gpuOperator"]["gpuDirectRDMA"] = "peermem"

    assert release_values(variant(tmp_path, peermem))["driver"]["rdma"] == {
        "enabled": True, "useHostMofed": False}  # the Network Operator deploys OFED

    def host_ofed(data):
        peermem(data)
        data["spec"]["networkOperator"]["ofedDriver"] = {"deploy": False}

    assert release_values(variant(tmp_path, host_ofed))["driver"]["rdma"] == {
        "enabled": True, "useHostMofed": True}


def test_pool_taints_are_tolerated(tmp_path):
    def taint(data):
        data["spec"]["nodePools"][0]["taints"] = [
            {"key": "aifab.dev/dedicated", "value": "training", "effect": "NoSchedule"}]

    values = release_values(variant(tmp_path, taint))
    wanted = {"key": "aifab.dev/dedicated", "operator": "Equal", "value": "training",
              "effect": "NoSchedule"}
    assert wanted in values["daemonsets"]["tolerations"]
    assert values["daemonsets"]["tolerations"][0]["key"] == "nvidia.com/gpu"  # chart default kept
    assert wanted in values["node-feature-discovery"]["worker"]["tolerations"]


def strict_problems(data: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the structural schema does not declare (the API server would reject or prune)."""
    problems = []
    if isinstance(data, dict) and "properties" in schema:
        for key, value in data.items():
            if key not in schema["properties"]:
                problems.append(f"{path}{key}")
            else:
                problems += strict_problems(value, schema["properties"][key], f"{path}{key}.")
    elif isinstance(data, list) and "items" in schema:
        for i, item in enumerate(data):
            problems += strict_problems(item, schema["items"], f"{path}{i}.")
    return problems


def test_per_pool_drivers(tmp_path):
    def override(data):
        data["spec"]["nodePools"][0]["driver"] = {"version": "580.95.05"}
        data["spec"]["gpuOperator"]["gds"] = True
        data["spec"]["gpuOperator"]["gpuDirectRDMA"] = "peermem"

    cluster = variant(tmp_path, override)
    out = outputs(cluster)
    values = release_values(cluster)
    assert values["driver"]["nvidiaDriverCRD"] == {"enabled": True, "deployDefaultCR": False}
    drivers = {p: o.data for p, o in out.items() if o.data["kind"] == "NVIDIADriver"}
    assert sorted(drivers) == ["gpu-operator/nvidiadriver-b200-infer-driver.yaml",
                               "gpu-operator/nvidiadriver-gb200-driver.yaml"]
    gb200 = drivers["gpu-operator/nvidiadriver-gb200-driver.yaml"]
    b200 = drivers["gpu-operator/nvidiadriver-b200-infer-driver.yaml"]
    assert gb200["spec"]["version"] == "580.95.05"
    assert b200["spec"]["version"] == "580.126.20"
    assert gb200["spec"]["nodeSelector"] == {LABEL_POOL: "gb200"}
    assert b200["spec"]["nodeSelector"] == {LABEL_POOL: "b200-infer"}
    assert gb200["spec"]["repository"] == f"{MIRROR}/nvcr.io/nvidia"
    assert gb200["spec"]["manager"]["repository"] == f"{MIRROR}/nvcr.io/nvidia/cloud-native"
    assert gb200["spec"]["gds"]["repository"] == f"{MIRROR}/nvcr.io/nvidia/cloud-native"
    assert gb200["spec"]["rdma"] == {"enabled": True, "useHostMofed": False}
    assert "namespace" not in gb200["metadata"]  # cluster-scoped

    crd = yaml.safe_load(reference(DRIVER_CRD).read_text(encoding="utf-8"))
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema = version["schema"]["openAPIV3Schema"]
    validator = jsonschema.Draft202012Validator(schema)
    for data in drivers.values():
        assert data["apiVersion"] == f"{crd['spec']['group']}/v1alpha1"
        errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == []
        assert strict_problems(data["spec"], schema["properties"]["spec"]) == []
