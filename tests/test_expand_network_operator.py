"""The network-operator component: Helm values, NicClusterPolicy, per-rail networks and pools."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from aifab.expand import network_operator
from aifab.expand.common import NS_NETWORK_OPERATOR
from aifab.expand.flux import releases_by_path
from aifab.naming import LABEL_POOL
from bundled import REFERENCE, cluster_of, reference, variant

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ROOT / "blueprints"
VALUES_FILE = REFERENCE / "chart-values" / "network-operator-v26.4.1.values.yaml"
MIRROR = "registry.gwangju-1.ai.example.kr"


@pytest.fixture(scope="module")
def gwangju():
    return cluster_of(BLUEPRINTS / "gwangju-gb200.yaml")


def outputs(cluster) -> dict[str, Any]:
    return {o.path: o for o in network_operator.expand(cluster)}


def of_kind(cluster, kind: str) -> list[dict[str, Any]]:
    return [o.data for o in network_operator.expand(cluster) if o.data["kind"] == kind]


def policy(cluster) -> dict[str, Any]:
    (data,) = of_kind(cluster, "NicClusterPolicy")
    return data


def test_reference_outputs(gwangju):
    out = outputs(gwangju)
    assert "network-operator/helmrelease-network-operator.yaml" in out
    assert "network-operator/nicclusterpolicy-nic-cluster-policy.yaml" in out
    # 8 rails: DGX B200 has 8 compute NICs, a GB200 tray 4
    assert [d["metadata"]["name"] for d in of_kind(gwangju, "IPoIBNetwork")] == [
        f"compute-rail{i}" for i in range(8)]
    assert len(of_kind(gwangju, "IPPool")) == 8
    assert of_kind(gwangju, "HostDeviceNetwork") == []
    pool = out["network-operator/nvidia-network-operator/ippool-compute-rail0.yaml"]
    assert pool.kind == "object"


def test_release_values(gwangju):
    rel = releases_by_path(outputs(gwangju).values())[
        "network-operator/helmrelease-network-operator.yaml"]
    assert rel.version == "26.4.1" and rel.namespace == NS_NETWORK_OPERATOR
    assert rel.repository == f"oci://{MIRROR}/charts"
    values = rel.values
    assert values["nfd"] == {"enabled": False, "deployNodeFeatureRules": True}
    assert values["operator"]["repository"] == f"{MIRROR}/nvcr.io/nvidia/cloud-native"
    assert values["operator"]["ofedDriver"]["initContainer"]["repository"] == \
        f"{MIRROR}/nvcr.io/nvidia/mellanox"


def _keys(values: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    if not isinstance(values, dict):
        return {prefix}
    keys = {prefix} if prefix else set()
    for key, value in values.items():
        keys |= _keys(value, prefix + (key,))
    return keys


def test_values_keys_exist_in_chart(gwangju):
    defaults = yaml.safe_load(reference(VALUES_FILE).read_text(encoding="utf-8"))
    rel = outputs(gwangju)["network-operator/helmrelease-network-operator.yaml"].data
    assert _keys(rel["spec"]["values"]) <= _keys(defaults)


def test_nic_cluster_policy(gwangju):
    spec = policy(gwangju)["spec"]
    assert policy(gwangju)["metadata"]["name"] == "nic-cluster-policy"
    assert spec["ofedDriver"]["image"] == "doca-driver"
    assert spec["ofedDriver"]["version"] == "doca3.4.1-26.04-1.1.0.0-1"
    config = json.loads(spec["rdmaSharedDevicePlugin"]["config"])
    assert [c["resourceName"] for c in config["configList"]] == [
        f"rdma_shared_rail{i}" for i in range(8)]
    assert config["configList"][0]["selectors"] == {"ifNames": ["ibs0"]}
    assert spec["rdmaSharedDevicePlugin"]["config"] == json.dumps(config, sort_keys=True)
    assert set(spec["secondaryNetwork"]) == {"cniPlugins", "multus", "ipoib"}
    assert "sriovDevicePlugin" not in spec
    for section in (spec["ofedDriver"], spec["rdmaSharedDevicePlugin"], spec["nvIpam"],
                    *spec["secondaryNetwork"].values()):
        assert section["repository"] == f"{MIRROR}/nvcr.io/nvidia/mellanox"
    assert spec["nvIpam"]["version"] == "network-operator-v26.4.1"
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert gpu in spec["tolerations"]


def test_no_ofed(tmp_path):
    cluster = variant(tmp_path, lambda d: d["spec"]["networkOperator"].update(
        {"ofedDriver": {"deploy": False}}))
    assert "ofedDriver" not in policy(cluster)["spec"]


def test_rail_pools_and_subnets(gwangju):
    pools = {d["metadata"]["name"]: d for d in of_kind(gwangju, "IPPool")}
    subnets = [ipaddress.ip_network(pools[f"compute-rail{i}"]["spec"]["subnet"])
               for i in range(8)]
    assert [str(s) for s in subnets[:2]] == ["10.200.0.0/19", "10.200.32.0/19"]
    parent = ipaddress.ip_network("10.200.0.0/16")
    assert all(s.subnet_of(parent) for s in subnets)
    assert all(not a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1:])
    rail0, rail7 = pools["compute-rail0"]["spec"], pools["compute-rail7"]["spec"]
    assert rail0["nodeSelector"]["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": LABEL_POOL, "operator": "In", "values": ["gb200", "b200-infer"]}]
    terms = rail7["nodeSelector"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["b200-infer"]
    # 288 + 31 nodes on rail 0 must each get a block
    assert rail0["perNodeBlockSize"] * 319 <= subnets[0].num_addresses - 2
    assert rail0["perNodeBlockSize"] >= 2
    assert all(p["metadata"]["namespace"] == NS_NETWORK_OPERATOR for p in pools.values())
    net = of_kind(gwangju, "IPoIBNetwork")[3]["spec"]
    assert net["master"] == "ibs3"
    assert json.loads(net["ipam"]) == {"type": "nv-ipam", "poolName": "compute-rail3"}


def test_spectrum_x():
    cluster = cluster_of(BLUEPRINTS / "busan-gb300.yaml")
    nets = of_kind(cluster, "HostDeviceNetwork")
    assert len(nets) == 4 and of_kind(cluster, "IPoIBNetwork") == []  # GB300 tray: 4 NICs
    assert nets[0]["spec"]["resourceName"] == "nvidia.com/hostdev_rail0"
    spec = policy(cluster)["spec"]
    assert "ipoib" not in spec["secondaryNetwork"]
    sriov = json.loads(spec["sriovDevicePlugin"]["config"])
    assert [r["resourceName"] for r in sriov["resourceList"]] == [
        f"hostdev_rail{i}" for i in range(4)]
    assert spec["sriovDevicePlugin"]["repository"] == "nvcr.io/nvidia/mellanox"  # no mirror
    assert [p["spec"]["subnet"] for p in of_kind(cluster, "IPPool")][0] == "10.220.0.0/18"


def test_no_fabric_no_output():
    assert list(network_operator.expand(cluster_of(BLUEPRINTS / "seoul-rtxpro.yaml"))) == []


CRDS = {"NicClusterPolicy": "mellanox.com_nicclusterpolicies.yaml",
        "IPoIBNetwork": "mellanox.com_ipoibnetworks.yaml",
        "HostDeviceNetwork": "mellanox.com_hostdevicenetworks.yaml"}


@pytest.mark.parametrize("name", ["gwangju-gb200.yaml", "busan-gb300.yaml", "daejeon-b200.yaml"])
def test_objects_match_reference_crds(name):
    for data in of_kind_all(cluster_of(BLUEPRINTS / name)):
        path = reference(REFERENCE / "crds" / CRDS[data["kind"]])
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
        schema = version["schema"]["openAPIV3Schema"]
        jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(data)))


def of_kind_all(cluster) -> list[dict[str, Any]]:
    return [o.data for o in network_operator.expand(cluster) if o.data["kind"] in CRDS]
