"""Nodes and fabrics: GPU pools tainted, Spectrum-X PFs offered once, Lustre and the DOCA driver."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from aifab.expand import expand, network_operator, node_pools
from aifab.pipeline import run
from bundled import CLUSTER_FILES, REFERENCE, ROOT, cluster_of, reference

BLUEPRINTS = ROOT / "blueprints"
GPU_OPERATOR_VALUES = REFERENCE / "chart-values" / "gpu-operator-v26.3.0.values.yaml"


def _variant(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load((BLUEPRINTS / "gwangju-gb200.yaml").read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("blueprint", CLUSTER_FILES, ids=lambda p: p.stem)
def test_every_gpu_pool_is_tainted(blueprint):
    """CPU pods stay off GPU trays: every node of every pool carries nvidia.com/gpu:NoSchedule
    (or the blueprint's own taint with that key, daejeon's `present` value)."""
    cluster = cluster_of(blueprint)
    for out in node_pools.expand(cluster):
        if out.kind == "document":  # a selector pool: the kubelet flags its nodes join with
            flag = next(w for w in out.data["text"].split() if w.startswith("--register-with"))
            assert re.search(r"[=,]nvidia\.com/gpu(=[^:,]*)?:NoSchedule(,|$)", flag), out.path
            continue
        for rule in out.data["spec"]["rules"]:
            assert [t for t in rule["taints"] if t["key"] == "nvidia.com/gpu"
                    and t["effect"] == "NoSchedule"], (out.path, rule["name"])


def test_the_gpu_taint_is_tolerated_where_it_must_be():
    cluster = cluster_of(BLUEPRINTS / "gwangju-gb200.yaml")
    out = {o.path: o.data for o in expand(cluster)}
    # tenant pods: Kueue adds the flavor's tolerations to what it admits
    for pool in ("gb200", "b200-infer"):
        tolerations = out[f"kueue/resourceflavor-{pool}.yaml"]["spec"]["tolerations"]
        assert any(t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule"
                   for t in tolerations), pool
    # the DRA driver's kubelet plugin, the Network Operator's DaemonSets, the GPU Operator
    dra = out["compute-domains/helmrelease-nvidia-dra-driver-gpu.yaml"]["spec"]["values"]
    assert any(t["key"] == "nvidia.com/gpu" for t in dra["kubeletPlugin"]["tolerations"])
    nic = out["network-operator/nicclusterpolicy-nic-cluster-policy.yaml"]["spec"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in (
        nic["tolerations"])
    # the GPU Operator's operands: the chart's default tolerations, which aifab leaves alone
    values = out["gpu-operator/helmrelease-gpu-operator.yaml"]["spec"]["values"]
    chart = yaml.safe_load(reference(GPU_OPERATOR_VALUES).read_text(encoding="utf-8"))
    tolerations = values.get("daemonsets", chart["daemonsets"])["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations


def test_a_blueprint_gpu_taint_replaces_the_default():
    cluster = cluster_of(BLUEPRINTS / "daejeon-b200.yaml")
    for pool in cluster.node_pools:
        gpu = [t for t in pool.taints if t.key == "nvidia.com/gpu"]
        assert len(gpu) == 1
    pool = next(p for p in cluster.node_pools if any(t.value == "present" for t in p.taints))
    assert [t.value for t in pool.taints if t.key == "nvidia.com/gpu"] == ["present"]


def test_spectrum_x_offers_each_pf_once():
    """A host-device network takes the whole PF into one pod: the same PF must not also be an
    RDMA shared device (Network Operator quick start "Host Device Network with RDMA")."""
    cluster = cluster_of(BLUEPRINTS / "busan-gb300.yaml")
    spec = network_operator.nic_cluster_policy(cluster)["spec"]
    sriov = json.loads(spec["sriovDevicePlugin"]["config"])["resourceList"]
    host_pfs = {pf for r in sriov for pf in r["selectors"]["pfNames"]}
    assert host_pfs == {f"eth_r{i}" for i in range(4)}
    shared = json.loads(spec.get("rdmaSharedDevicePlugin", {}).get("config", '{"configList": []}'))
    shared_ifs = {name for c in shared["configList"] for name in c["selectors"]["ifNames"]}
    assert host_pfs & shared_ifs == set()
    assert "rdmaSharedDevicePlugin" not in spec


def test_infiniband_keeps_the_shared_rdma_devices():
    spec = network_operator.nic_cluster_policy(cluster_of(BLUEPRINTS / "gwangju-gb200.yaml"))[
        "spec"]
    assert "sriovDevicePlugin" not in spec and "rdmaSharedDevicePlugin" in spec


def test_lustre_over_infiniband_with_the_doca_container_is_flagged(tmp_path):
    result = run(BLUEPRINTS / "gwangju-gb200.yaml")
    found = [f for f in result.findings if f.code == "AF389"]
    assert result.ok and len(found) == 1 and not found[0].is_error
    assert found[0].path == ("spec", "storage", 1, "backend")
    assert "ofedDriver.deploy: false" in found[0].hint

    def host_ofed(data):
        data["spec"]["networkOperator"]["ofedDriver"] = {"deploy": False}

    assert not [f for f in run(_variant(tmp_path, host_ofed)).findings if f.code == "AF389"]
