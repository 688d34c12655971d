"""The namespaces component: operator namespaces (privileged where pods reach into the node,
else baseline), restricted tenant namespaces."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from aifab.expand import namespaces
from aifab.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "blueprints" / "gwangju-gb200.yaml"
PSA = "pod-security.kubernetes.io"


@pytest.fixture(scope="module")
def cluster():
    result = run(REFERENCE)
    assert result.cluster is not None and result.ok
    return result.cluster


def _by_name(cluster):
    return {o.data["metadata"]["name"]: o for o in namespaces.expand(cluster)}


def test_reference_namespaces(cluster):
    outputs = _by_name(cluster)
    assert sorted(outputs) == sorted([
        "gpu-operator", "nvidia-network-operator", "kueue-system", "jobset-system",
        "monitoring", "nvidia-dra-driver-gpu", "foundation-models", "public-research"])
    for output in outputs.values():
        assert output.kind == "object"
        assert output.data["apiVersion"] == "v1" and output.data["kind"] == "Namespace"
        assert output.path == f"namespaces/namespace-{output.data['metadata']['name']}.yaml"
        assert "namespace" not in output.data["metadata"]


def test_only_the_namespaces_that_reach_into_the_node_are_privileged(cluster):
    outputs = _by_name(cluster)
    levels = {"gpu-operator": "privileged", "nvidia-network-operator": "privileged",
              "nvidia-dra-driver-gpu": "privileged", "kueue-system": "baseline",
              "jobset-system": "baseline", "monitoring": "baseline"}
    for name, level in levels.items():
        labels = outputs[name].data["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"{PSA}/{mode}"] == level, name
        assert "aifab.dev/tenant" not in labels
        assert labels["aifab.dev/cluster"] == "gwangju-gb200"


def test_tenant_namespaces_enforce_through_admission_policies_and_warn_baseline(cluster):
    """Baseline refuses IPC_LOCK (NCCL over RDMA): aifab-tenant-baseline enforces instead."""
    outputs = _by_name(cluster)
    for tenant in ("foundation-models", "public-research"):
        labels = outputs[tenant].data["metadata"]["labels"]
        assert labels["aifab.dev/tenant"] == tenant
        assert labels[f"{PSA}/enforce"] == "privileged"
        assert f"{PSA}/enforce-version" not in labels
        for mode in ("audit", "warn"):
            assert labels[f"{PSA}/{mode}"] == "baseline"
            assert labels[f"{PSA}/{mode}-version"] == "v1.34"


def test_optional_operators_only_when_used(cluster):
    bare = dataclasses.replace(
        cluster, network_operator=None, kueue=None, tenants=(),
        gpu_operator=dataclasses.replace(cluster.gpu_operator, service_monitor=False),
        node_pools=tuple(dataclasses.replace(p, compute_domains=False) for p in cluster.node_pools))
    assert sorted(_by_name(bare)) == ["gpu-operator"]
