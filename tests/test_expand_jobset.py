"""jobset: the JobSet controller's release with Kueue, every values key one the chart has."""

from __future__ import annotations

from dataclasses import replace

from aifab.expand import expand, jobset
from aifab.expand.common import NS_JOBSET
from aifab.expand.flux import ChartRelease, releases_by_path
from bundled import CLUSTER_FILES, ROOT, cluster_of

MIRROR = "registry.gwangju-1.ai.example.kr"


def unknown_values_keys(release: ChartRelease) -> list[str]:
    """What aifab's verifier says of a release's values, against the shipped data of the exact
    chart version (tools/chart_data.py made it from the chart's values.yaml at its tag)."""
    from aifab.verify import chart_data
    from aifab.verify.helm_values import Defaults

    shipped = chart_data.find(release.chart, release.version)
    assert shipped is not None and shipped.values is not None, release.chart
    notes: list[str] = []
    found = [f.message for f in Defaults().check(release, "release", notes)]
    return found + notes


def releases(blueprint) -> dict[str, ChartRelease]:
    return releases_by_path(jobset.expand(cluster_of(blueprint)))


def test_every_cluster_with_kueue_runs_the_jobset_controller():
    for blueprint in CLUSTER_FILES:
        cluster = cluster_of(blueprint)
        paths = [p for p, r in releases_by_path(expand(cluster)).items() if r.chart == "jobset"]
        assert paths == (["jobset/helmrelease-jobset.yaml"] if cluster.kueue else []), blueprint


def test_release_through_the_mirrors():
    data = releases(ROOT / "blueprints" / "gwangju-gb200.yaml")["jobset/helmrelease-jobset.yaml"]
    assert (data.chart, data.version) == ("jobset", "0.12.0")
    assert data.namespace == data.release["metadata"]["namespace"] == NS_JOBSET
    assert data.repository == "oci://registry.gwangju-1.ai.example.kr/charts"
    assert data.values["image"] == {"repository": f"{MIRROR}/registry.k8s.io/jobset/jobset",
                                    "tag": "v0.12.0", "pullPolicy": "IfNotPresent"}
    assert data.values["controller"]["replicas"] == 2


def test_every_values_key_exists_in_the_chart():
    for blueprint in CLUSTER_FILES:
        for data in releases(blueprint).values():
            assert unknown_values_keys(data) == [], blueprint
    good = releases(ROOT / "blueprints" / "gwangju-gb200.yaml")["jobset/helmrelease-jobset.yaml"]
    bogus = replace(good, values={**good.values, "controler": {}})
    assert unknown_values_keys(bogus) == [
        "chart jobset has no values key spec.values.controler"]
