"""jobset: the JobSet controller's release with Kueue, every values key one the chart has."""

from __future__ import annotations

import subprocess
import sys

import yaml

from aifab.expand import expand, jobset
from aifab.expand.common import NS_JOBSET
from bundled import CLUSTER_FILES, REFERENCE, ROOT, cluster_of

KEYS = ROOT / "tests" / "fixtures" / "chart-keys" / "jobset-0.12.0.keys"
REFERENCE_VALUES = REFERENCE / "chart-values" / "jobset-0.12.0.values.yaml"
MIRROR = "registry.gwangju-1.ai.example.kr"


def chart_keys() -> set[str]:
    """The key paths of kubernetes-sigs/jobset v0.12.0 charts/jobset/values.yaml: from the
    reference folder when it holds the file, else the list tools/chart_keys.py made of it."""
    if REFERENCE_VALUES.is_file():
        text = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "chart_keys.py"), "--source", "reference"],
            input=REFERENCE_VALUES.read_text(encoding="utf-8"), capture_output=True, text=True,
            check=True).stdout
    else:
        text = KEYS.read_text(encoding="utf-8")
    return {line for line in text.splitlines() if line and not line.startswith("#")}


def set_paths(values: dict, prefix: str = "") -> set[str]:
    paths = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        paths |= set_paths(value, path + ".") if isinstance(value, dict) and value else {path}
    return paths


def releases(blueprint) -> dict[str, dict]:
    return {o.path: o.data for o in jobset.expand(cluster_of(blueprint))}


def test_every_cluster_with_kueue_runs_the_jobset_controller():
    for blueprint in CLUSTER_FILES:
        cluster = cluster_of(blueprint)
        paths = [o.path for o in expand(cluster) if o.data.get("chart") == "jobset"]
        assert paths == (["jobset/helmrelease-jobset.yaml"] if cluster.kueue else []), blueprint


def test_release_through_the_mirrors():
    data = releases(ROOT / "blueprints" / "gwangju-gb200.yaml")["jobset/helmrelease-jobset.yaml"]
    assert (data["chart"], data["version"]) == ("jobset", "0.12.0")
    assert data["metadata"]["namespace"] == NS_JOBSET
    assert data["repository"] == "oci://registry.gwangju-1.ai.example.kr/charts"
    assert data["values"]["image"] == {"repository": f"{MIRROR}/registry.k8s.io/jobset/jobset",
                                       "tag": "v0.12.0", "pullPolicy": "IfNotPresent"}
    assert data["values"]["controller"]["replicas"] == 2


def test_every_values_key_exists_in_the_chart():
    keys = chart_keys()
    assert "controller.podDisruptionBudget.minAvailable" in keys  # the list is the chart's
    for blueprint in CLUSTER_FILES:
        for data in releases(blueprint).values():
            assert set_paths(data["values"]) - keys == set(), blueprint


def test_key_list_is_what_the_tool_makes_of_it():
    """The committed list is tools/chart_keys.py's output, header included."""
    lines = KEYS.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# kubernetes-sigs/jobset tag v0.12.0 (commit f22e565a")
    body = [line for line in lines if not line.startswith("#")]
    assert body == sorted(body) and len(body) == len(set(body))
    document = {"a": {"b": 1, "c": {}}, "d": []}
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "chart_keys.py"), "--source", "x"],
                         input=yaml.safe_dump(document), capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[2:] == ["a", "a.b", "a.c", "a.c.*", "d"]
