"""`aifab plan --mirror-list`: every chart and image a cluster pulls, concrete, for the enabled
components only and the node architectures of its pools; `--format skopeo` for skopeo sync."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from aifab.expand import expand
from aifab.expand.flux import releases_by_path
from aifab.mirror import _release, architectures, mirror_artifacts, mirror_lines
from aifab.pipeline import run as pipeline_run
from aifab.plan import EXIT_OK, EXIT_USAGE, run
from bundled import ALL_FILES, BLUEPRINTS, CLUSTER_FILES

GWANGJU = BLUEPRINTS / "gwangju-gb200.yaml"
# One repository:tag per line: a registry host, path segments, a tag (skopeo's reference grammar
# in short); no <placeholder> and no unfilled value.
IMAGE = re.compile(r"^image [a-z0-9.-]+\.[a-z]+(?:/[a-z0-9._-]+)+:[A-Za-z0-9_][A-Za-z0-9_.-]*"
                   r"(?:  # .*)?$")


@pytest.fixture(scope="module")
def gwangju():
    result = pipeline_run(GWANGJU)
    assert result.ok
    return result.cluster


def test_the_reference_list_is_concrete_and_names_nfd_with_its_tag() -> None:
    text, code = run([str(GWANGJU)], mirror_list=True)
    assert code == EXIT_OK
    lines = text.splitlines()
    assert "<" not in text
    assert all(IMAGE.match(line) for line in lines if line.startswith("image ")), lines
    # gpu-operator v26.3.0 depends on NFD 0.18.3, whose image tag is its appVersion
    assert "image registry.k8s.io/nfd/node-feature-discovery:v0.18.3" in lines
    assert "image nvcr.io/nvidia/gpu-operator:v26.3.0" in lines  # the empty tag: appVersion


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.stem)
def test_no_bundled_blueprint_leaves_anything_to_fill_in(path: Path) -> None:
    text, code = run([str(path)], mirror_list=True)
    assert code == EXIT_OK and "<" not in text
    assert all(IMAGE.match(line) for line in text.splitlines() if line.startswith("image "))


def chart(cluster, name: str):
    """The HelmRelease of chart `name` of the cluster, read with its source."""
    return next(r for r in releases_by_path(expand(cluster)).values() if r.chart == name)


def test_only_enabled_components(gwangju) -> None:
    lines = "\n".join(mirror_lines(mirror_artifacts(gwangju)))
    for absent in ("vgpu", "kata", "sandbox", "kubevirt", "cc-manager", "kueueviz", "dcgm:",
                   "gdrdrv", "sriov-network-operator"):
        assert absent not in lines, absent


def test_enabling_sandbox_workloads_adds_their_images(gwangju) -> None:
    release = chart(gwangju, "gpu-operator")
    enabled = replace(release, values={**release.values, "sandboxWorkloads": {"enabled": True},
                                       "vgpuManager": {"enabled": True}})
    before = {a.reference for a in _release(gwangju, release, None)}
    after = {a.line() for a in _release(gwangju, enabled, None)}
    added = {line for line in after if line.split(":")[0].split()[-1] not in before}
    assert any("kubevirt-gpu-device-plugin:v1.5.0" in line for line in added)
    assert any("vgpu-device-manager:v0.4.2" in line for line in added)
    # vGPU manager has no default image: the line says the blueprint must name it
    assert any("<vgpuManager.repository>" in line and "no default" in line for line in added)


def test_os_and_architecture_tagged_images(gwangju) -> None:
    assert architectures(gwangju) == ["amd64", "arm64"]  # DGX B200 and GB200 NVL72 trays
    lines = mirror_lines(mirror_artifacts(gwangju, node_os=("ubuntu22.04", "ubuntu24.04")))
    drivers = [line.split("  #")[0] for line in lines if "/driver:" in line]
    assert drivers == ["image nvcr.io/nvidia/driver:580.126.20-ubuntu22.04",
                       "image nvcr.io/nvidia/driver:580.126.20-ubuntu24.04"]
    doca = [line.split("  #")[0].rsplit(":", 1)[1] for line in lines if "doca-driver" in line]
    assert doca == [f"doca3.4.1-26.04-1.1.0.0-1-{os}-{arch}"
                    for os in ("ubuntu22.04", "ubuntu24.04") for arch in ("amd64", "arm64")]


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.stem)
def test_architectures_follow_the_pools(path: Path) -> None:
    cluster = pipeline_run(path).cluster
    expected = {"arm64" if p.system.gpu.grace else "amd64" for p in cluster.node_pools}
    assert set(architectures(cluster)) == expected
    if any(p.system.id.startswith(("gb200", "gb300")) for p in cluster.node_pools):
        assert "arm64" in expected


def test_skopeo_format_is_what_skopeo_sync_reads() -> None:
    text, code = run([str(GWANGJU)], fmt="skopeo", mirror_list=True)
    assert code == EXIT_OK
    document = yaml.safe_load(text)
    assert isinstance(document, dict) and document
    lines, _ = run([str(GWANGJU)], mirror_list=True)
    expected = {line.split("  #")[0][len("image "):] for line in lines.splitlines()
                if line.startswith("image ")}
    listed = set()
    for registry, entry in document.items():
        assert re.fullmatch(r"[a-z0-9.-]+\.[a-z]+", registry)
        assert list(entry) == ["images"]  # skopeo's keys: images, images-by-tag-regex, ...
        for repository, tags in entry["images"].items():
            assert isinstance(repository, str) and not repository.startswith("/")
            assert isinstance(tags, list) and tags
            assert all(isinstance(t, str) and t for t in tags)
            listed |= {f"{registry}/{repository}:{tag}" for tag in tags}
    assert listed == expected
    assert "skopeo sync --all --scoped --src yaml" in text
    assert "#   oci://registry.k8s.io/kueue/charts/kueue 0.19.2" in text.splitlines()


def test_skopeo_format_needs_the_mirror_list() -> None:
    text, code = run([str(GWANGJU)], fmt="skopeo")
    assert code == EXIT_USAGE and "--mirror-list" in text


def test_a_version_without_data_says_what_is_unknown(gwangju) -> None:
    unshipped = replace(chart(gwangju, "network-operator"), version="26.4.9")
    lines = [a.line() for a in _release(gwangju, unshipped, None)]
    assert "chart https://helm.ngc.nvidia.com/nvidia/network-operator 26.4.9" in lines
    assert any("<operator.image>" in line and "aifab ships no data" in line for line in lines)


def test_images_named_as_strings_in_an_images_map(gwangju) -> None:
    """The SR-IOV subchart lists its images as "repository:tag" strings; enabling it adds them
    with the tags the Network Operator chart gives."""
    release = chart(gwangju, "network-operator")
    assert not any("sriov" in a.reference for a in _release(gwangju, release, None))
    enabled = replace(release, values={**release.values, "sriovNetworkOperator": {"enabled": True}})
    lines = {a.line() for a in _release(gwangju, enabled, None)}
    assert "image nvcr.io/nvidia/mellanox/sriov-network-operator:network-operator-v26.4.1" in lines
    assert "image quay.io/brancz/kube-rbac-proxy:v0.21.2" in lines
    untagged = [line for line in lines if "sriov-network-metrics-exporter" in line]
    assert untagged and "no default" in untagged[0]  # upstream gives no tag: said, not invented
