"""Helm releases are Flux objects: a HelmRelease (helm.toolkit.fluxcd.io/v2) and its source
(source.toolkit.fluxcd.io/v1 OCIRepository or HelmRepository), valid for the real Flux CRDs
(../shared/reference/crds), through the chart mirror, read back by the deploy tree."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from aifab.deploy.tree import load_cluster_tree
from aifab.expand.flux import (
    HELM_CHART_LAYER,
    FluxError,
    duration,
    is_release,
    is_source,
    read_release,
    source_key,
)
from aifab.verify import chart_data
from aifab.verify.crds import CRDs, from_folder
from bundled import ROOT, chart_releases, reference

GENERATED = ROOT / "generated"
CLUSTERS = sorted(p.name for p in GENERATED.iterdir() if p.is_dir())
FLUX_CRDS = ("helm.toolkit.fluxcd.io_helmreleases.yaml",
             "source.toolkit.fluxcd.io_ocirepositories.yaml",
             "source.toolkit.fluxcd.io_helmrepositories.yaml")


def tree(cluster: str) -> dict[str, dict[str, Any]]:
    folder = GENERATED / cluster
    # examples/: templates, never deployed; node-pools/: the NodePool files (another change)
    paths = [p for p in sorted(folder.rglob("*.yaml"))
             if p.relative_to(folder).parts[0] not in ("examples", "node-pools")]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return {p.relative_to(folder).as_posix(): yaml.load(p.read_bytes(), Loader=loader)
            for p in paths}


@pytest.fixture(scope="module")
def flux_crds(tmp_path_factory: pytest.TempPathFactory) -> CRDs:
    """Only the Flux CRD files of ../shared/reference, as upstream ships them."""
    folder = tmp_path_factory.mktemp("flux-crds")
    for name in FLUX_CRDS:
        (folder / name).write_bytes((reference() / "crds" / name).read_bytes())
    definitions, problems = from_folder(folder)
    assert not problems and {d.kind for d in definitions} == {
        "HelmRelease", "OCIRepository", "HelmRepository"}
    return CRDs(definitions, "the Flux CRDs of ../shared/reference")


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_releases_are_flux_objects_valid_for_the_real_crds(cluster: str, flux_crds: CRDs) -> None:
    files = tree(cluster)
    releases = {p: d for p, d in files.items() if d.get("kind") == "HelmRelease"}
    assert releases
    # no pseudo-kind: every HelmRelease is Flux's
    assert {d["apiVersion"] for d in releases.values()} == {"helm.toolkit.fluxcd.io/v2"}
    assert not [p for p, d in files.items() if str(d.get("apiVersion")).startswith("aifab.dev")]
    flux = {p: d for p, d in files.items() if is_release(d) or is_source(d)}
    assert len(flux) == 2 * len(releases)  # one source per release
    for path, data in flux.items():
        found = [f"{f.code} {f.message}" for f in flux_crds.check(data, path)]
        assert found == [], path


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_every_release_reads_back_with_its_source(cluster: str) -> None:
    files = tree(cluster)
    lock = json.loads((GENERATED / cluster / "aifab.lock.json").read_text())
    blueprint = yaml.safe_load((ROOT / lock["blueprint"]).read_text())
    mirror = (blueprint["spec"].get("sovereignty") or {}).get("chartMirror")
    releases = chart_releases(files.values())
    assert len(releases) == sum(d.get("kind") == "HelmRelease" for d in files.values()) > 0
    for release in releases:
        spec = release.release["spec"]
        # Flux would name the release <targetNamespace>-<name> otherwise (helmreleases.md)
        assert spec["releaseName"] == release.name == release.release["metadata"]["name"]
        assert spec["targetNamespace"] == release.namespace
        assert spec["install"]["crds"] == spec["upgrade"]["crds"] == "CreateReplace"
        assert chart_data.find(release.chart, release.version) is not None
        if mirror is not None:
            assert release.repository == mirror.rstrip("/")
        if release.oci:
            assert release.source["spec"]["layerSelector"] == {
                "mediaType": HELM_CHART_LAYER, "operation": "copy"}
            assert release.source["spec"]["ref"] == {"tag": release.version}
        else:
            assert release.source["kind"] == "HelmRepository"
            assert release.repository.startswith("https://")


def test_the_dra_driver_waits_for_the_gpu_operator_and_a_driver_build() -> None:
    """The kubelet plugin needs the driver the GPU Operator's driver container builds: its
    startup probe allows 60 s + 120 x 10 s (gpu-operator v26.7.0 state-driver daemonset)."""
    for cluster in ("gwangju-gb200", "busan-gb300"):
        (dra,) = [r for r in chart_releases(tree(cluster).values())
                  if r.chart == "nvidia-dra-driver-gpu"]
        assert dra.depends_on == (("gpu-operator", "gpu-operator"),)
        assert dra.timeout >= 60 + 120 * 10


def test_the_deploy_tree_gives_each_release_its_chart() -> None:
    loaded = load_cluster_tree(GENERATED, "gwangju-gb200")
    assert [s.kind for s in loaded.sources] == ["OCIRepository"] * len(loaded.releases)
    by_name = {r.name: r for r in loaded.releases}
    kueue = by_name["kueue"]
    helm = kueue.helm
    assert (kueue.namespace, helm.chart, helm.version) == ("kueue-system", "kueue", "0.19.2")
    assert helm.repository == "oci://registry.gwangju-1.ai.example.kr/charts"
    assert kueue.source_path == "kueue/ocirepository-kueue.yaml"
    assert helm.values["controllerManager"]["replicas"] == 2
    assert helm.timeout == 900 and helm.depends_on == ()
    assert not any(e.kind in ("OCIRepository", "HelmRepository") for e in loaded.objects)


def test_a_release_without_its_source_is_refused() -> None:
    files = tree("seoul-rtxpro")
    (release,) = [d for p, d in files.items() if p == "kueue/helmrelease-kueue.yaml"]
    sources = {source_key(d): d for d in files.values() if is_source(d)}
    assert read_release(release, sources).repository.startswith("oci://")
    with pytest.raises(FluxError, match="OCIRepository kueue-system/kueue is not in the tree"):
        read_release(release, {k: v for k, v in sources.items() if k[2] != "kueue"})


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("1h", 3600), ("1h30m", 5400),
                                                ("90s", 90)])
def test_durations(text: str, seconds: int) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "5d", "m"])
def test_durations_aifab_does_not_write_are_refused(text: str) -> None:
    with pytest.raises(FluxError):
        duration(text)


def test_verify_refuses_a_helm_release_its_crd_refuses() -> None:
    """generate verifies HelmReleases against the Flux CRD aifab ships, CEL rules included."""
    from aifab.expand import expand
    from aifab.expand.common import Output
    from aifab.verify import Sources, verify
    from bundled import cluster_of

    cluster = cluster_of(ROOT / "blueprints" / "seoul-rtxpro.yaml")
    outputs = list(expand(cluster))
    assert verify(outputs, cluster.kubernetes.version, Sources(), "out")[0] == []
    path = "kueue/helmrelease-kueue.yaml"
    (good,) = [o for o in outputs if o.path == path]
    both = copy.deepcopy(dict(good.data))  # chart and chartRef: the CRD allows one of them
    both["spec"]["chart"] = {"spec": {"chart": "kueue", "sourceRef": {
        "kind": "HelmRepository", "name": "kueue"}}}
    typo = copy.deepcopy(dict(good.data))
    typo["spec"]["intervall"] = "1h"
    for data, code in ((both, "AF410"), (typo, "AF402")):
        edited = [Output(o.path, o.kind, data) if o.path == path else o for o in outputs]
        found = verify(edited, cluster.kubernetes.version, Sources(), "out")[0]
        assert [(f.code, f.file) for f in found] == [(code, f"out/{path}")], found


def test_a_tree_with_the_old_pseudo_kind_is_refused(tmp_path) -> None:
    """A tree generated before releases were Flux objects says it needs regenerating."""
    from test_deploy import copy_tree, relock

    from aifab.deploy.tree import TreeError

    generated = copy_tree(tmp_path, "seoul-rtxpro")
    old = generated / "seoul-rtxpro" / "kueue" / "helmrelease-kueue.yaml"
    old.write_text("apiVersion: aifab.dev/v1alpha1\nkind: HelmRelease\nmetadata:\n"
                   "  name: kueue\n  namespace: kueue-system\nchart: kueue\nversion: 0.19.2\n")
    relock(generated / "seoul-rtxpro")
    with pytest.raises(TreeError,
                       match="HelmRelease of aifab.dev/v1alpha1 was written by an older aifab"):
        load_cluster_tree(generated, "seoul-rtxpro")
