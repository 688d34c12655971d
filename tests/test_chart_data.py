"""The shipped chart data (src/aifab/data/charts) is what tools/chart_data.py derives from the
upstream files it records: checked against ../shared/reference, which holds byte-identical
copies of many of them (found by git blob id)."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import yaml

from bundled import ROOT, reference

_spec = importlib.util.spec_from_file_location("chart_data", ROOT / "tools" / "chart_data.py")
assert _spec and _spec.loader
chart_data = importlib.util.module_from_spec(_spec)
sys.modules["chart_data"] = chart_data
_spec.loader.exec_module(chart_data)

MANIFEST = yaml.safe_load(chart_data.MANIFEST.read_text(encoding="utf-8"))
ENTRIES = list(chart_data.entries(MANIFEST))
SHIPPED = sorted(chart_data.OUT.glob("*/*.json"))
# Every file of these versions is in ../shared/reference (SOURCES.md); of jobset v0.12.0 the
# reference holds the CRD, not the chart's values.yaml.
WHOLLY_IN_REFERENCE = {"gpu-operator@v26.3.0", "gpu-operator@v26.7.0",
                       "nvidia-dra-driver-gpu@25.12.0",
                       "prometheus-operator@v0.93.0", "helm-controller@v1.6.3",
                       "source-controller@v1.9.1"}


@pytest.fixture(scope="module")
def by_blob() -> dict[str, bytes]:
    found = {}
    for path in sorted(reference().rglob("*.yaml")):
        data = path.read_bytes()
        found[chart_data.blob_id(data)] = data
    return found


def _id(entry: dict) -> str:
    return f"{entry['chart']}@{entry['version']}"


def test_one_shipped_file_per_manifest_entry() -> None:
    assert [chart_data.output_path(e) for e in ENTRIES] == sorted(
        SHIPPED, key=[chart_data.output_path(e) for e in ENTRIES].index)
    assert len(SHIPPED) == len(ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=_id)
def test_shipped_file_is_the_scripts_output(entry: dict, by_blob: dict[str, bytes]) -> None:
    shipped = chart_data.output_path(entry).read_bytes()
    files = chart_data.from_recorded(json.loads(shipped), by_blob.get)
    if _id(entry) in WHOLLY_IN_REFERENCE:
        assert files is not None, "a file of this version is missing from the reference"
    if files is not None:
        assert chart_data.derive(entry, files) == shipped


@pytest.mark.parametrize("entry", ENTRIES, ids=_id)
def test_every_reference_file_matches_its_part(entry: dict, by_blob: dict[str, bytes]) -> None:
    """Versions only partly in the reference: each CRD and values file that is there gives
    exactly the shipped part derived from it."""
    shipped = json.loads(chart_data.output_path(entry).read_bytes())
    chart_dirs = {s["repository"]: s.get("chart") for s in entry["sources"]}
    for source in shipped["sources"]:
        for path, blob in source["files"]:
            if blob not in by_blob:
                continue
            role, sub = chart_data._role(path, chart_dirs.get(source["repository"]))
            text = by_blob[blob].decode("utf-8")
            if role == "crd":
                for doc in yaml.safe_load_all(text):
                    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                        assert chart_data.compact_crd(doc) in shipped["crds"]
            elif sub is None:
                values = chart_data.packaged(entry, yaml.safe_load(text))
                for key, value in values.items():
                    if key not in shipped["subcharts"]:
                        assert shipped["values"][key] == value, key


def test_the_reference_covers_what_it_should(by_blob: dict[str, bytes]) -> None:
    covered = set()
    for entry in ENTRIES:
        recorded = json.loads(chart_data.output_path(entry).read_bytes())
        if chart_data.from_recorded(recorded, by_blob.get) is not None:
            covered.add(_id(entry))
    assert WHOLLY_IN_REFERENCE <= covered


def test_descriptions_are_dropped_but_rules_and_defaults_kept() -> None:
    jobset = json.loads((chart_data.OUT / "jobset" / "v0.12.0.json").read_bytes())
    text = json.dumps(jobset)
    assert '"description"' not in text.replace('"description":{', "")
    spec = jobset["crds"][0]["versions"][0]["schema"]["properties"]["spec"]
    assert any("InOrder" in r["rule"] for r in spec["x-kubernetes-validations"])


def test_nfd_image_of_gpu_operator_v26_3_0() -> None:
    """NFD's image comes from the subchart, its empty tag is the subchart's appVersion
    (gpu-operator v26.3.0 Chart.yaml depends on NFD 0.18.3)."""
    data = json.loads((chart_data.OUT / "gpu-operator" / "v26.3.0.json").read_bytes())
    nfd = [i for i in data["images"] if i["path"] == "node-feature-discovery.image"]
    assert nfd == [{"path": "node-feature-discovery.image", "form": "helm", "image": None,
                    "repository": "registry.k8s.io/nfd/node-feature-discovery",
                    "tag": "v0.18.3", "when": ["nfd.enabled"]}]
    assert "image" in data["values"]["node-feature-discovery"]


def test_derive_is_deterministic_in_file_order(by_blob: dict[str, bytes]) -> None:
    entry = next(e for e in ENTRIES if _id(e) == "gpu-operator@v26.7.0")
    shipped = chart_data.output_path(entry).read_bytes()
    files = chart_data.from_recorded(json.loads(shipped), by_blob.get)
    assert files is not None
    assert chart_data.derive(entry, list(reversed(files))) == shipped



def test_every_chart_version_the_catalog_accepts_is_shipped() -> None:
    from aifab.verify import chart_data as shipped

    catalog = yaml.safe_load((ROOT / "src" / "aifab" / "catalog" / "compatibility.yaml")
                             .read_text(encoding="utf-8"))
    wanted = [("gpu-operator", r["version"]) for r in catalog["gpuOperator"]["releases"]]
    wanted += [("network-operator", v) for v in catalog["networkOperator"]["versions"]]
    wanted += [("kueue", v) for v in catalog["kueue"]["versions"]]
    wanted += [("nvidia-dra-driver-gpu", catalog["charts"]["nvidia-dra-driver-gpu"]["version"])]
    missing = [f"{c} {v}" for c, v in wanted if shipped.find(c, str(v)) is None]
    assert missing == []
