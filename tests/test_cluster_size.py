"""Size: at most 5,000 nodes per cluster, refused on totals before any node is named, and lists
over the schema's limits refused before their items are validated (issue 19.7, issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aifab import naming
from aifab.check.cluster_size import MAX_NODES
from aifab.pipeline import run
from bundled import BLUEPRINTS, edit

SEOUL = BLUEPRINTS / "seoul-rtxpro.yaml"
FLEET = BLUEPRINTS / "korea-national.yaml"


def _seoul(tmp_path: Path) -> Path:
    path = tmp_path / "seoul.yaml"
    path.write_text(SEOUL.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def test_a_huge_cluster_is_refused_without_naming_a_node(tmp_path, monkeypatch):
    named = []
    real = naming.hostnames
    monkeypatch.setattr(naming, "hostnames", lambda pool: named.append(pool) or real(pool))
    for module in ("aifab.check.hostnames", "aifab.check.node_labels"):
        monkeypatch.setattr(f"{module}.hostnames", naming.hostnames)
    path = _seoul(tmp_path)
    edit(path, "      nodes: 12\n", "      nodes: 100000\n")
    result = run(path)
    assert [f.code for f in result.findings] == ["AF313"]
    assert "100,006 nodes" in result.findings[0].message and "split" in result.findings[0].hint
    assert named == []


def test_the_limit_is_kubernetes_five_thousand_nodes(tmp_path):
    path = _seoul(tmp_path)
    edit(path, "      nodes: 12\n", f"      nodes: {MAX_NODES - 6}\n")
    edit(path, "    powerBudgetKW: 150\n", "    powerBudgetKW: 50000\n")
    assert MAX_NODES == 5_000
    assert "AF313" not in {f.code for f in run(path).findings}
    edit(path, f"      nodes: {MAX_NODES - 6}\n", f"      nodes: {MAX_NODES - 5}\n")
    assert "AF313" in {f.code for f in run(path).findings}


def _pools(count: int) -> str:
    return "".join(f"    - name: p{i}\n      system: rtx-pro-6000-bse\n      nodes: 1\n"
                   f"      hostnames: \"p{i}-{{node}}\"\n" for i in range(count))


def test_too_many_pools_is_one_finding_and_the_pools_are_not_validated(tmp_path):
    path = _seoul(tmp_path)
    text = path.read_text(encoding="utf-8").split("  nodePools:\n")[0]
    path.write_text(text + "  nodePools:\n" + _pools(101) + "    - bad: [pool]\n")
    findings = run(path).findings
    assert [(f.code, f.json_path) for f in findings] == [("AF206", "spec.nodePools")]
    assert "102 items; at most 100" in findings[0].message


def test_a_label_map_over_its_limit_is_refused_before_its_keys_are_checked(tmp_path):
    path = _seoul(tmp_path)
    labels = "".join(f"        example.com/l{i}: v\n" for i in range(33))
    edit(path, "        aifab.dev/workload: inference\n", labels + "        Bad Key!: v\n")
    findings = run(path).findings
    assert [(f.code, f.json_path) for f in findings] == [("AF206", "spec.nodePools[0].labels")]


def test_lists_within_their_limits_are_validated_as_before(tmp_path):
    path = _seoul(tmp_path)
    text = path.read_text(encoding="utf-8").split("  nodePools:\n")[0]
    path.write_text(text + "  nodePools:\n" + _pools(100) + "  tenants: []\n")
    assert "AF206" not in {f.code for f in run(path).findings}


def _member(entry: dict) -> dict:
    return yaml.safe_load((BLUEPRINTS / entry["file"]).read_text(encoding="utf-8"))


def test_the_national_fleet_keeps_its_size_in_clusters_kubernetes_supports():
    result = run(FLEET)
    assert result.ok, [f"{f.file}:{f.line} {f.code} {f.message}" for f in result.findings]
    clusters = [member.cluster for member in result.members]
    assert all(c is not None for c in clusters)
    assert max(sum(p.node_count for p in c.node_pools) for c in clusters) <= MAX_NODES
    assert sum(c.gpus for c in clusters) >= 260_000


def test_the_national_fleet_clusters_share_their_site_budgets():
    fleet = yaml.safe_load(FLEET.read_text(encoding="utf-8"))
    budgets = {site["name"]: site["powerBudgetKW"] for site in fleet["spec"]["sites"]}
    used: dict[str, float] = {}
    for entry in fleet["spec"]["clusters"]:
        site = _member(entry)["spec"]["site"]
        used[site["name"]] = used.get(site["name"], 0) + site["powerBudgetKW"]
    assert set(used) == set(budgets)
    assert all(used[name] <= budgets[name] for name in budgets), (used, budgets)


@pytest.mark.parametrize("entry", yaml.safe_load(FLEET.read_text())["spec"]["clusters"],
                         ids=lambda e: e["file"])
def test_every_fleet_cluster_file_names_itself_after_its_file(entry):
    assert _member(entry)["metadata"]["name"] == Path(entry["file"]).stem
