"""A plain `aifab generate` verifies every custom resource and every Helm values key against the
exact chart versions a blueprint names, from the data aifab ships (src/aifab/data/charts; the
versions in ../shared/reference are proven equal to it by tests/test_chart_data.py)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from aifab.expand import expand
from aifab.expand.common import Output
from aifab.expand.flux import releases_by_path
from aifab.generate import plan
from aifab.pipeline import run
from aifab.verify import Sources, verify
from bundled import BLUEPRINTS, CLUSTER_FILES, reference


@pytest.fixture(scope="module")
def gwangju() -> tuple[str, list[Output]]:
    """gwangju-gb200: GPU Operator v26.3.0, the DRA driver 25.12.0, Kueue, Network Operator."""
    cluster = run(BLUEPRINTS / "gwangju-gb200.yaml").cluster
    assert cluster is not None
    return cluster.kubernetes.version, list(expand(cluster))


def _edited(outputs: list[Output], kind: str, edit) -> list[Output]:
    """A copy of the outputs with the first output of `kind` (object kind or chart) edited."""
    done = False
    result = []
    for out in outputs:
        data = out.data
        if not done and kind in (data.get("kind"), data.get("chart")):
            data = copy.deepcopy(data)
            edit(data)
            done = True
        result.append(Output(out.path, out.kind, data) if data is not out.data else out)
    assert done, kind
    return result


def _release_edited(outputs: list[Output], chart: str, *, version: str | None = None,
                    values: dict | None = None) -> list[Output]:
    """A copy of the outputs with chart `chart`'s HelmRelease given more `values` and its
    source (an OCIRepository: the reference blueprint has a chart mirror) the tag `version`."""
    result = []
    for out in outputs:
        data = out.data
        if data.get("metadata", {}).get("name") == chart and data["kind"] in ("HelmRelease",
                                                                        "OCIRepository"):
            data = copy.deepcopy(data)
            if data["kind"] == "HelmRelease" and values:
                data["spec"]["values"].update(values)
            if data["kind"] == "OCIRepository" and version:
                data["spec"]["ref"]["tag"] = version
        result.append(Output(out.path, out.kind, data))
    return result


def _codes(outputs: list[Output], version: str, sources: Sources | None = None) -> list[str]:
    findings, _ = verify(outputs, version, sources or Sources(), "out")
    return [f"{f.code} {f.message}" for f in findings]


def test_plain_generate_of_every_bundled_blueprint_verifies_everything(tmp_path: Path) -> None:
    result = plan(sorted(BLUEPRINTS.glob("*.yaml")), tmp_path / "generated", Sources(), jobs=1)
    # the rules' warnings aside (test_generated names them), nothing from verification
    assert [f"{f.code} {f.message}" for f in result.findings if f.code.startswith("AF4")] == []
    assert not any("not verified" in n or "not checked" in n for n in result.notes)


def test_the_bundled_outputs_verify_cleanly(gwangju) -> None:
    version, outputs = gwangju
    assert _codes(outputs, version) == []


@pytest.mark.parametrize(("kind", "edit", "expected"), [
    ("ClusterQueue", lambda d: d["spec"].update(bogus=1), "'bogus' was unexpected"),
    ("ComputeDomain", lambda d: d["spec"].update(numNodes="four"), "'four' is not of type"),
    ("NicClusterPolicy", lambda d: d["spec"].update(unknownField={}), "'unknownField'"),
    ("IPPool", lambda d: d["spec"].update(perNodeBlockSize="x"), "'x' is not of type"),
])
def test_a_wrong_custom_resource_is_refused_without_flags(gwangju, kind, edit, expected) -> None:
    version, outputs = gwangju
    found = _codes(_edited(outputs, kind, edit), version)
    assert found and all(line.startswith("AF402") for line in found), found
    assert expected in found[0]


def test_values_are_checked_against_the_exact_version(gwangju) -> None:
    """draDriver is a key of gpu-operator v26.7.0, not of v26.3.0: checking v26.3.0 against
    v26.7.0's values (the old nearest-version fallback) let it through."""
    version, outputs = gwangju
    edited = _release_edited(outputs, "gpu-operator", values={"draDriver": {"repository": "x"}})
    assert [line[:5] for line in _codes(edited, version)] == ["AF404"]


def test_a_version_without_data_is_a_warning_saying_what_is_not_verified(gwangju,
                                                                          tmp_path) -> None:
    version, outputs = gwangju
    edited = _release_edited(outputs, "gpu-operator", version="v26.3.9")
    (tmp_path / "values").mkdir()
    shutil.copy(reference() / "chart-values" / "gpu-operator-v26.7.0.values.yaml",
                tmp_path / "values")
    findings, notes = verify(edited, version, Sources(chart_values=tmp_path / "values"), "out")
    assert [(f.code, f.severity.value) for f in findings] == [("AF408", "warning")]
    assert "gpu-operator v26.3.9 are not verified" in findings[0].message
    assert notes == []  # no nearer version stands in


def test_chart_values_folder_serves_versions_aifab_does_not_ship(gwangju, tmp_path) -> None:
    version, outputs = gwangju
    edited = _release_edited(outputs, "gpu-operator", version="v26.3.9", values={"bogus": 1})
    (tmp_path / "values").mkdir()
    shutil.copy(reference() / "chart-values" / "gpu-operator-v26.3.0.values.yaml",
                tmp_path / "values" / "gpu-operator-v26.3.9.values.yaml")
    found = _codes(edited, version, Sources(chart_values=tmp_path / "values"))
    assert [line[:5] for line in found] == ["AF404"]


def test_a_kind_without_a_crd_is_a_warning_and_crds_folder_fills_it(gwangju, tmp_path) -> None:
    version, outputs = gwangju
    edited = _edited(outputs, "ClusterQueue",
                     lambda d: d.update(apiVersion="example.com/v1", kind="Widget"))
    found = _codes(edited, version)
    assert [line[:5] for line in found] == ["AF407"]
    assert "gpu-operator v26.3.0" in found[0]
    (tmp_path / "crds").mkdir()
    (tmp_path / "crds" / "widget.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "spec:\n  group: example.com\n  names: {kind: Widget}\n  versions:\n"
        "  - name: v1\n    served: true\n    schema:\n      openAPIV3Schema:\n"
        "        type: object\n        properties:\n          apiVersion: {type: string}\n"
        "          kind: {type: string}\n          metadata: {type: object}\n", "utf-8")
    found = _codes(edited, version, Sources(crds=tmp_path / "crds"))
    assert [line[:5] for line in found] == ["AF402"] and "'spec'" in found[0]


def test_an_api_version_the_shipped_crd_does_not_serve(gwangju) -> None:
    version, outputs = gwangju
    edited = _edited(outputs, "ClusterQueue", lambda d: d.update(apiVersion="kueue.x-k8s.io/v9"))
    found = _codes(edited, version)
    assert [line[:5] for line in found] == ["AF403"] and "kueue 0.19.2" in found[0]


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.stem)
def test_every_chart_version_of_the_bundled_blueprints_is_shipped(path: Path) -> None:
    from aifab.verify import chart_data

    cluster = run(path).cluster
    assert cluster is not None
    for release in releases_by_path(expand(cluster)).values():
        assert chart_data.find(release.chart, release.version) is not None


def test_a_watching_run_verifies_again_when_a_chart_version_changes(gwangju) -> None:
    """An object's verdict depends on the chart versions of its cluster, not only its bytes:
    the memo of `generate --watch` keys it by them too."""
    from aifab.watch import watching_memo

    version, outputs = gwangju
    rendered = {out.path: out.path.encode() for out in outputs}  # same bytes in both runs
    memo = watching_memo()
    memo.next_run()
    assert verify(outputs, version, Sources(), "out", rendered, memo)[0] == []
    memo.next_run()
    unshipped = _release_edited(outputs, "kueue", version="0.19.9")
    found = {f.code for f in verify(unshipped, version, Sources(), "out", rendered, memo)[0]}
    assert found == {"AF407", "AF408"}
