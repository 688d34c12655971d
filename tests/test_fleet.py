"""Fleets: defaults merged under clusters, findings at the file and line a value came from,
file references confined to the repository, and the cross-cluster rules."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from aifab.fleet.compose import merge
from aifab.fleet.rules import rules
from aifab.generate import plan
from aifab.pipeline import flatten, run
from aifab.verify import Sources
from bundled import edit, fleet_copy


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    return fleet_copy(tmp_path)


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def findings(path: Path) -> list[tuple[str, int, str]]:
    return sorted({(Path(f.file).name, f.line, f.code)
                   for r in flatten([run(path)]) for f in r.findings})


def test_merge_rules():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    assert merge(base, {"a": {"y": [3]}, "c": 2}) == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}
    assert merge(base, {"a": 5}) == {"a": 5, "b": 1}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1}  # inputs untouched


def test_fleet_composes_every_cluster_over_the_defaults(fleet):
    result = run(fleet)
    assert result.ok and result.cluster is None
    clusters = {m.cluster.name: m.cluster for m in result.members}
    assert set(clusters) == {"a-gb200", "a-b200"}
    gb200 = clusters["a-gb200"]
    assert gb200.gpu_operator.version == "v26.3.0"  # from the defaults
    assert gb200.gpu_operator.kernel_module_type == "open"  # the cluster's own
    assert gb200.kubernetes.version == "1.34" and gb200.sovereignty.residency == "KR"
    assert clusters["a-b200"].fabric.technology == "infiniband"


def test_a_bad_default_is_reported_in_the_fleet_file(fleet):
    edit(fleet, 'version: "1.34"', 'version: "1.20"')
    line = line_of(fleet, 'version: "1.20"')
    assert ("fleet.yaml", line, "AF353") in findings(fleet)  # once per cluster, one place


def test_an_unknown_key_in_the_defaults_points_at_the_fleet_line(fleet):
    edit(fleet, "      residency: KR", "      residency: KR\n      airgapped: true")
    assert ("fleet.yaml", line_of(fleet, "airgapped"), "AF201") in findings(fleet)


def test_a_bad_value_of_a_cluster_file_is_reported_in_that_file(fleet):
    member = fleet.parent / "clusters" / "a-gb200.yaml"
    edit(member, "racks: 8", "nodes: 144")
    assert ("a-gb200.yaml", line_of(member, "nodes: 144"), "AF310") in findings(fleet)


def test_an_inline_cluster_is_reported_in_the_fleet_file(fleet):
    edit(fleet, "nodes: 31", "nodes: 31\n            racks: 2")
    assert ("fleet.yaml", line_of(fleet, "racks: 2"), "AF311") in findings(fleet)


@pytest.mark.parametrize("reference", ["../../../../etc/passwd", "/etc/passwd", "clusters/missing.yaml",
                                       "fleet.yaml"])
def test_file_references_cannot_leave_the_repository_or_loop(fleet, reference):
    edit(fleet, "file: clusters/a-gb200.yaml", f"file: {reference}")
    assert ("fleet.yaml", line_of(fleet, f"file: {reference}"), "AF602") in findings(fleet)


def test_a_symlink_out_of_the_repository_is_refused(fleet, tmp_path):
    outside = tmp_path / "outside.yaml"
    shutil.copy(fleet.parent / "clusters" / "a-gb200.yaml", outside)
    os.symlink(outside, fleet.parent / "clusters" / "link.yaml")
    edit(fleet, "file: clusters/a-gb200.yaml", "file: clusters/link.yaml")
    assert ("fleet.yaml", line_of(fleet, "link.yaml"), "AF602") in findings(fleet)


def test_fleets_do_not_nest(fleet):
    shutil.copy(fleet, fleet.parent / "clusters" / "inner.yaml")
    edit(fleet, "file: clusters/a-gb200.yaml", "file: clusters/inner.yaml")
    assert ("fleet.yaml", line_of(fleet, "inner.yaml"), "AF603") in findings(fleet)


def test_an_entry_must_be_a_file_or_an_inline_cluster(fleet):
    edit(fleet, "    - file: clusters/a-gb200.yaml", "    - file: clusters/a-gb200.yaml\n      spec: {}")
    assert ("fleet.yaml", line_of(fleet, "- file: clusters/a-gb200.yaml"), "AF601") in findings(fleet)


def test_cluster_names_are_unique(fleet):
    edit(fleet, "name: a-b200", "name: a-gb200")
    assert ("fleet.yaml", line_of(fleet, "- metadata:"), "AF610") in findings(fleet)


@pytest.mark.parametrize("old, new, code, needle", [
    ("tenant: research\n      gpus: 600", "tenant: reserch\n      gpus: 600", "AF611", "reserch"),
    ("gpus: 600", "gpus: 900", "AF612", "gpus: 900"),
    ("gpus: 600", "gpus: 824\n    - tenant: research\n      gpus: 1", "AF614", "gpus: 1"),
])
def test_allocations(fleet, old, new, code, needle):
    edit(fleet, old, new)
    line = line_of(fleet, needle) - (1 if code == "AF614" else 0)
    assert ("fleet.yaml", line, code) in findings(fleet)


def test_allocations_cannot_exceed_the_fleet(fleet):
    member = fleet.parent / "clusters" / "a-gb200.yaml"
    edit(member, "    - name: research\n", "    - name: research\n      borrowingLimit: {gb200: 0}\n")
    edit(fleet, "gpus: 600", "gpus: 824\n    - tenant: other\n      gpus: 100")
    edit(member, "gb200: 576", "gb200: 476\n    - name: other\n      quota:\n        gb200: 100")
    assert ("fleet.yaml", line_of(fleet, "allocations:"), "AF613") in findings(fleet)


def test_site_power(fleet):
    edit(fleet, "powerBudgetKW: 5000", "powerBudgetKW: 1400")
    assert ("fleet.yaml", line_of(fleet, "powerBudgetKW: 1400"), "AF615") in findings(fleet)


def test_undeclared_and_duplicate_sites(fleet):
    edit(fleet, "  sites:\n    - name: campus-a\n      powerBudgetKW: 5000",
         "  sites:\n    - name: campus-b\n      powerBudgetKW: 5000\n    - name: campus-b\n"
         "      powerBudgetKW: 1")
    found = findings(fleet)
    assert ("fleet.yaml", line_of(fleet, "- file:"), "AF616") in found
    lines = fleet.read_text().splitlines()
    second = [i for i, line in enumerate(lines, 1) if "- name: campus-b" in line][1]
    assert ("fleet.yaml", second, "AF617") in found


def test_every_fleet_rule_code_is_exercised_here():
    text = Path(__file__).read_text()
    for rule in rules():
        for code in rule.CODES:
            assert text.count(f'"{code}"') >= 1, code


def test_generate_writes_every_cluster_of_a_fleet(fleet):
    result = plan([fleet], fleet.parent / "generated", Sources())
    assert result.ok, [f.message for f in result.findings if f.is_error]
    assert sorted(result.files) == ["a-b200", "a-gb200"]
    lock = result.files["a-gb200"]["aifab.lock.json"].decode()
    assert '"blueprint": "clusters/a-gb200.yaml"' in lock
