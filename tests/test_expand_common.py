"""Shared expand helpers: device-plugin resources per GPU, mirrors, object paths."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from aifab.expand.common import gpu_resources, image_registry, mig_resource, obj
from aifab.model import Sharing
from aifab.pipeline import run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():
    result = run(ROOT / "blueprints" / "gwangju-gb200.yaml")
    assert result.cluster is not None
    return result.cluster


def test_gpu_resources_by_strategy(cluster):
    b200, gb200 = cluster.pool("b200-infer"), cluster.pool("gb200")
    assert gpu_resources(b200, "mixed") == {
        "nvidia.com/mig-1g.23gb": 2, "nvidia.com/mig-2g.45gb": 1, "nvidia.com/mig-3g.90gb": 1}
    single = dataclasses.replace(b200, mig_config="all-1g.23gb")
    assert gpu_resources(single, "single") == {"nvidia.com/gpu": 7}
    assert gpu_resources(single, "mixed") == {"nvidia.com/mig-1g.23gb": 7}
    assert gpu_resources(gb200, "mixed") == {"nvidia.com/gpu": 1}
    sliced = dataclasses.replace(gb200, sharing=Sharing("timeSlicing", 4))
    assert gpu_resources(sliced, "none") == {"nvidia.com/gpu": 4}
    sliced_mig = dataclasses.replace(b200, sharing=Sharing("timeSlicing", 2))
    assert gpu_resources(sliced_mig, "mixed")["nvidia.com/mig-1g.23gb"] == 4


def test_media_extension_profiles_use_a_dot(cluster):
    b200 = dataclasses.replace(cluster.pool("b200-infer"), mig_config="all-1g.23gb.me")
    assert gpu_resources(b200, "mixed") == {"nvidia.com/mig-1g.23gb.me": 1}
    assert mig_resource("1g.10gb+me") == "nvidia.com/mig-1g.10gb.me"


def test_image_registry_keeps_the_upstream_host_under_the_mirror(cluster):
    assert image_registry(cluster, "nvcr.io/nvidia") == "registry.gwangju-1.ai.example.kr/nvcr.io/nvidia"
    plain = dataclasses.replace(cluster, sovereignty=dataclasses.replace(
        cluster.sovereignty, registry_mirror=None))
    assert image_registry(plain, "nvcr.io/nvidia") == "nvcr.io/nvidia"


def test_object_paths_group_namespaced_objects_by_namespace():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "ns"}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}
    assert obj("comp", cm).path == "comp/ns/configmap-x.yaml"
    assert obj("comp", ns).path == "comp/namespace-ns.yaml"
