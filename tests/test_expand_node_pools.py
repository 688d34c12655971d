"""The node-pools component: one NodeFeatureRule per pool, node names in order, labels, taints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aifab.expand import node_pools
from aifab.expand.node_pools import NFD_API, nodes_of
from aifab.naming import (
    LABEL_NVLINK_DOMAIN,
    LABEL_POOL,
    LABEL_RACK,
    LABEL_SCALABLE_UNIT,
    LABEL_SYSTEM,
)
from bundled import cluster_of

BLUEPRINTS = Path(__file__).resolve().parents[1] / "blueprints"


@pytest.fixture(scope="module")
def gwangju():
    return cluster_of(BLUEPRINTS / "gwangju-gb200.yaml")


def pools(cluster) -> dict[str, Any]:
    return {o.path: o for o in node_pools.expand(cluster)}


def test_reference_paths_kinds_and_counts(gwangju):
    out = pools(gwangju)
    assert sorted(out) == ["node-pools/b200-infer.yaml", "node-pools/gb200.yaml"]
    assert {o.kind for o in out.values()} == {"nodes"}
    gb200 = out["node-pools/gb200.yaml"].data
    assert gb200["apiVersion"] == NFD_API and gb200["kind"] == "NodeFeatureRule"
    assert gb200["metadata"]["name"] == "aifab-pool-gb200" and "namespace" not in gb200["metadata"]
    assert gb200["metadata"]["labels"]["aifab.dev/pool"] == "gb200"
    names = [n["name"] for n in nodes_of(gb200)]
    assert len(names) == 288 and names[0] == "gj1-r01-t01" and names[-1] == "gj1-r16-t18"
    assert names[17] == "gj1-r01-t18" and names[18] == "gj1-r02-t01"  # node order
    b200 = [n["name"] for n in nodes_of(out["node-pools/b200-infer.yaml"].data)]
    assert b200 == [f"gj1-b200-{i:03d}" for i in range(1, 32)]
    assert set(gb200["spec"]) == {"rules"}


def test_reference_labels(gwangju):
    out = pools(gwangju)
    nodes = {n["name"]: n for o in out.values() for n in nodes_of(o.data)}
    first, last = nodes["gj1-r01-t01"]["labels"], nodes["gj1-r16-t18"]["labels"]
    assert first[LABEL_POOL] == "gb200" and first[LABEL_SYSTEM] == "gb200-nvl72"
    assert first[LABEL_RACK] == "01" and last[LABEL_RACK] == "16"
    assert first[LABEL_NVLINK_DOMAIN] == "01" and last[LABEL_NVLINK_DOMAIN] == "16"
    # catalog: 8 NVL72 racks per scalable unit
    assert first[LABEL_SCALABLE_UNIT] == "01" and last[LABEL_SCALABLE_UNIT] == "02"
    assert nodes["gj1-r08-t18"]["labels"][LABEL_SCALABLE_UNIT] == "01"
    assert nodes["gj1-r09-t01"]["labels"][LABEL_SCALABLE_UNIT] == "02"
    assert first["aifab.dev/workload"] == "training"
    assert "nvidia.com/mig.config" not in first
    b200 = nodes["gj1-b200-031"]["labels"]
    assert b200[LABEL_POOL] == "b200-infer" and b200[LABEL_SYSTEM] == "dgx-b200"
    assert b200[LABEL_SCALABLE_UNIT] == "01"  # 31 usable nodes per DGX B200 SU
    assert LABEL_RACK not in b200 and LABEL_NVLINK_DOMAIN not in b200  # 8-GPU server
    assert b200["nvidia.com/mig.config"] == "all-balanced"  # from gpu_operator.mig_config_label
    assert b200["aifab.dev/workload"] == "inference"
    # every GPU node carries the GPU taint (resolve.GPU_TAINT), CPU pods stay off
    assert all(n["taints"] == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
               for n in nodes.values())
    for data in (o.data for o in out.values()):
        assert all(list(r["labels"]) == sorted(r["labels"]) for r in data["spec"]["rules"])


def hostnames_of(rule):
    (term,) = rule["matchFeatures"]
    assert term["feature"] == "system.name" and list(term["matchExpressions"]) == ["nodename"]
    expression = term["matchExpressions"]["nodename"]
    assert expression["op"] == "In"
    return expression["value"]


def test_rules_are_racks_for_nvl72_and_scalable_units_for_servers(gwangju):
    rules = pools(gwangju)["node-pools/gb200.yaml"].data["spec"]["rules"]
    assert len(rules) == 16 and all(len(hostnames_of(r)) == 18 for r in rules)
    assert hostnames_of(rules[4])[0] == "gj1-r05-t01"
    assert rules[4]["name"] == "gb200 scalable-unit 01 rack 05 nvlink-domain 05"
    assert {k: v for k, v in rules[4]["labels"].items() if k in (
        LABEL_NVLINK_DOMAIN, LABEL_RACK, LABEL_SCALABLE_UNIT)} == {
        LABEL_NVLINK_DOMAIN: "05", LABEL_RACK: "05", LABEL_SCALABLE_UNIT: "01"}
    assert all(r["labels"][LABEL_POOL] == "gb200" for r in rules)  # every rule is whole


def test_taints_are_the_pools_only():
    cluster = cluster_of(BLUEPRINTS / "daejeon-b200.yaml")
    (out,) = pools(cluster).values()
    nodes = list(nodes_of(out.data))
    assert len(nodes) == 128 and len(out.data["spec"]["rules"]) == 4  # one per 32-node SU
    assert nodes[0]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    assert nodes[-1]["labels"][LABEL_SCALABLE_UNIT] == "04"


def test_selector_pool_and_sharing_label():
    cluster = cluster_of(BLUEPRINTS / "seoul-rtxpro.yaml")
    out = pools(cluster)
    # NFD cannot find a selector pool's nodes by name: a page for the provisioning tool
    shared = out["node-pools/rtx-shared.md"]
    assert shared.kind == "document" and "node-pools/rtx-shared.yaml" not in out
    flags = shared.data["text"].split("```")[1].split()
    assert flags == [
        ("--node-labels=aifab.dev/pool=rtx-shared,aifab.dev/system=rtx-pro-6000-bse,"
         "aifab.dev/workload=batch-inference,nvidia.com/device-plugin.config=rtx-shared"),
        "--register-with-taints=nvidia.com/gpu:NoSchedule"]
    assert len(list(nodes_of(out["node-pools/rtx-mig.yaml"].data))) == 12


def test_topology_labels(gwangju):
    systems = gwangju.catalog.systems
    assert node_pools.pool_topology_labels(systems["gb200-nvl72"]) == [
        LABEL_SCALABLE_UNIT, LABEL_RACK, LABEL_NVLINK_DOMAIN]
    assert node_pools.pool_topology_labels(systems["dgx-b200"]) == [LABEL_SCALABLE_UNIT]
    assert node_pools.pool_topology_labels(systems["gb300-nvl72"]) == [
        LABEL_RACK, LABEL_NVLINK_DOMAIN]
    assert node_pools.pool_topology_labels(systems["rtx-pro-6000-bse"]) == []
