"""aifab plan: capacity and bill of materials, the mirror list, rich rendering; progress."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from aifab.mirror import mirror_artifacts, mirror_lines
from aifab.pipeline import run as pipeline_run
from aifab.plan import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    cluster_plan,
    render,
    run,
)
from aifab.progress import progress, shown

ROOT = Path(__file__).resolve().parents[1]
GWANGJU = str(ROOT / "blueprints" / "gwangju-gb200.yaml")
FLEET = str(ROOT / "tests" / "fixtures" / "fleet" / "fleet.yaml")
KOREA = str(ROOT / "blueprints" / "korea-national.yaml")
MIRROR = "registry.gwangju-1.ai.example.kr"


@pytest.fixture(scope="module")
def gwangju():
    result = pipeline_run(Path(GWANGJU))
    assert result.ok
    return result.cluster


def test_reference_totals(gwangju):
    plan = cluster_plan(gwangju)
    pools = {p.name: p for p in plan.pools}
    gb200, b200 = pools["gb200"], pools["b200-infer"]
    assert (gb200.gpus, gb200.nodes, gb200.racks, gb200.scalable_units) == (1152, 288, 16, 2)
    assert (gb200.rails, gb200.compute_nics, gb200.nvlink_domains) == (4, 1152, 16)
    assert gb200.leaf_switches is None  # the fact base has no GB200 switch counts
    assert (b200.nodes, b200.rails, b200.nic_gbps, b200.compute_nics) == (31, 8, 400, 248)
    # 31 of a 32-node SU: one SU; the RA's smallest design is 2 SU (16 leaf, 8 spine)
    assert (b200.scalable_units, b200.su_size, b200.fabric_design) == (1, "32 nodes", "2 SU")
    assert (b200.leaf_switches, b200.spine_switches, b200.core_switches) == (16, 8, 0)
    assert b200.notes == ("the reference architecture has no 1 SU design; switch counts are "
                          "those of its 2 SU design",)
    totals = plan.totals
    assert totals["gpus"] == 1400 and totals["nodes"] == 319 and totals["racks"] == 16
    assert totals["powerKW"] == 2555.3 and totals["powerBudgetKW"] == 3000
    assert totals["switchCountsComplete"] is False


def test_json_shape():
    text, code = run([GWANGJU], fmt="json")
    assert code == EXIT_OK
    data = json.loads(text)
    assert set(data) == {"clusters", "fleets", "total", "findings"} and data["findings"] == []
    (cluster,) = data["clusters"]
    assert set(cluster) == {"name", "file", "site", "pools", "totals"}
    assert cluster["site"] == {"name": "gwangju-1", "cooling": "liquid", "powerBudgetKW": 3000}
    gb200 = cluster["pools"][0]
    assert gb200["name"] == "gb200" and gb200["gpus"] == 1152 and gb200["racks"] == 16
    assert gb200["scalableUnits"] == 2 and gb200["suSize"] == "8 racks"
    assert gb200["nicGbps"] == 400 and gb200["powerKW"] == 2112
    assert cluster["pools"][1]["leafSwitches"] == 16
    assert cluster["pools"][1]["fabricDesign"] == "2 SU"
    assert cluster["totals"]["gpus"] == 1400
    assert data["total"]["clusters"] == 1 and data["total"]["gpus"] == 1400


def test_fleet_ends_with_the_grand_total():
    data, code = run([FLEET], fmt="json")
    assert code == EXIT_OK
    plans = json.loads(data)
    assert [c["name"] for c in plans["clusters"]] == ["a-gb200", "a-b200"]
    assert list(plans)[-2:] == ["total", "findings"]
    assert plans["total"] == {
        "clusters": 2, "sites": 1, "gpus": 576 + 248, "nodes": 144 + 31, "racks": 8,
        "powerKW": 1499.3,  # 8 x 132 kW + 31 x 14.3 kW
        "systems": {"dgx-b200": {"gpus": 248, "nodes": 31, "racks": None, "powerKW": 443.3},
                    "gb200-nvl72": {"gpus": 576, "nodes": 144, "racks": 8, "powerKW": 1056}}}
    text, code = run([FLEET], width=100)
    assert code == EXIT_OK
    tail = text[text.index("total: 2 clusters on 1 site"):]
    assert text.index("a-b200: compute fabric") < text.index("total: 2 clusters")
    rows = [line.split() for line in tail.splitlines() if line.strip()]
    assert ["dgx-b200", "248", "31", "-", "443.3"] in rows
    assert ["gb200-nvl72", "576", "144", "8", "1,056"] in rows
    assert rows[-1] == ["total", "824", "175", "8", "1,499.3"]


def test_several_blueprints_are_totalled_and_one_is_not():
    seoul = str(ROOT / "blueprints" / "seoul-rtxpro.yaml")
    data, _ = run([GWANGJU, seoul], fmt="json")
    plans = json.loads(data)
    assert plans["total"]["clusters"] == 2 and plans["total"]["sites"] == 2
    assert plans["total"]["gpus"] == sum(c["totals"]["gpus"] for c in plans["clusters"])
    assert "total: 2 clusters on 2 sites" in run([GWANGJU, seoul])[0]
    assert "total: " not in run([GWANGJU])[0]  # one cluster: its own totals say it all


def test_korea_national_fleet_total():
    data, code = run([KOREA], fmt="json")
    assert code == EXIT_OK
    total = json.loads(data)["total"]
    assert (total["clusters"], total["sites"], total["gpus"]) == (19, 6, 260480)
    assert sum(s["gpus"] for s in total["systems"].values()) == 260480


def test_mirror_list_names_upstream_images_and_charts(gwangju):
    lines = mirror_lines(mirror_artifacts(gwangju))
    assert lines == sorted(set(lines))
    assert not [line for line in lines if MIRROR in line]
    assert any(line.startswith("image nvcr.io/nvidia/driver:580.126.20-ubuntu24.04 ")
               for line in lines)
    for chart in ("chart https://helm.ngc.nvidia.com/nvidia/gpu-operator v26.3.0",
                  "chart https://helm.ngc.nvidia.com/nvidia/network-operator 26.4.1",
                  "chart https://helm.ngc.nvidia.com/nvidia/nvidia-dra-driver-gpu 25.12.0",
                  "chart oci://registry.k8s.io/kueue/charts/kueue 0.19.2",
                  "image registry.k8s.io/kueue/kueue:v0.19.2",
                  "image nvcr.io/nvidia/mellanox/multus-cni:network-operator-v26.4.1"):
        assert chart in lines
    # tags the outputs leave to the charts come from the exact chart versions' data
    assert "image nvcr.io/nvidia/k8s-dra-driver-gpu:v25.12.0" in lines
    assert "image nvcr.io/nvidia/k8s-device-plugin:v0.19.0" in lines


def test_mirror_list_command_text_and_json():
    text, code = run([GWANGJU], mirror_list=True)
    assert code == EXIT_OK
    assert MIRROR not in text
    assert "image nvcr.io/nvidia/driver:580.126.20" in text
    data, _ = run([GWANGJU], mirror_list=True, fmt="json")
    items = json.loads(data)["artifacts"]
    driver = next(i for i in items if i["reference"] == "nvcr.io/nvidia/driver")
    assert driver["version"] == "580.126.20-ubuntu24.04" and driver["kind"] == "image"


def test_rich_tables_render(gwangju):
    from rich.console import Console

    console = Console(record=True, width=120, file=io.StringIO())
    render([cluster_plan(gwangju)], console)
    out = console.export_text()
    assert "gwangju-gb200" in out and "1,400" in out and "2,555.3" in out
    assert "2 x 8 racks" in out and "1 x 32 nodes" in out and "8 x 400" in out
    assert "16/8/0 + ?" in out  # GB200 switch counts are unknown, so the total is partial
    assert "note: gb200: the catalog has no switch counts for gb200-nvl72" in out


def _pool_plan(tmp_path, system, nodes, technology="infiniband", gbps=400):
    """The plan of a one-pool blueprint and its findings."""
    path = tmp_path / "p.yaml"
    path.write_text(f"""apiVersion: aifab.dev/v1alpha1
kind: Cluster
metadata: {{name: p}}
spec:
  site: {{name: lab, country: KR, powerBudgetKW: 100000, cooling: liquid}}
  kubernetes: {{version: "1.34"}}
  gpuOperator: {{version: v26.3.0, driver: {{version: "580.126.20"}}}}
  networkOperator: {{version: v26.4.1}}
  fabric: {{compute: {{technology: {technology}, linkGbps: {gbps}, subnet: 10.0.0.0/8}}}}
  nodePools:
    - {{name: pool, system: {system}, nodes: {nodes}, hostnames: "n-{{node:05d}}"}}
""", encoding="utf-8")
    result = pipeline_run(path)
    assert result.ok, result.findings
    (plan,) = cluster_plan(result.cluster).pools
    return plan, [f.code for f in result.findings]


@pytest.mark.parametrize(("nodes", "sus", "design", "switches"), [
    (128, 4, "4 SU", (32, 16, 0)),      # NVIDIA's own 4 SU design (D5)
    (256, 8, "8 SU", (64, 32, 0)),      # still two tiers
    (512, 16, "16 SU", (128, 128, 64)),  # the core tier: 128 spines, not 16 x 4
    (1024, 32, "32 SU", (256, 256, 128)),
    # between two rows of one shape (8 leaf, 4 spine per SU; 8, 8 and 4 core): scaled
    (96, 3, "2-4 SU, scaled", (24, 12, 0)),
    (39 * 32, 39, "32-64 SU, scaled", (312, 312, 156)),
    # between a two-tier and a three-tier row: the larger design, never a mix
    (12 * 32, 12, "16 SU", (128, 128, 64)),
])
def test_dgx_b200_switches_follow_the_reference_architecture(tmp_path, nodes, sus, design,
                                                              switches):
    plan, codes = _pool_plan(tmp_path, "dgx-b200", nodes)
    assert (plan.scalable_units, plan.fabric_design) == (sus, design)
    assert (plan.leaf_switches, plan.spine_switches, plan.core_switches) == switches
    assert "AF334" not in codes  # whole SUs of 32 nodes: no partial-SU warning
    assert bool(plan.notes) == (plan.fabric_design != f"{sus} SU")


def test_128_dgx_b200_is_four_whole_sus_in_text(tmp_path):
    plan, codes = _pool_plan(tmp_path, "dgx-b200", 128)
    assert codes == [] and plan.notes == ()
    text, _ = run([str(tmp_path / "p.yaml")], width=120)
    assert "4 x 32 nodes" in text and "32/16/0" in text


@pytest.mark.parametrize(("technology", "gbps", "nodes", "sus", "switches"), [
    ("infiniband", 800, 288, 4, (32, 18, 0)),    # XDR: 4 SU have 18 spines (D7)
    ("infiniband", 800, 576, 8, (64, 36, 0)),
    ("infiniband", 800, 1296, 18, (144, 72, 0)),
    ("infiniband", 800, 3 * 72, 3, (32, 18, 0)),  # 2 SU 16/8, 4 SU 32/18: not one shape
    ("spectrum-x", 800, 64, 1, (16, 8, 0)),      # the 64-node SU of the Spectrum-X RA
    ("spectrum-x", 800, 256, 4, (64, 32, 0)),
])
def test_dgx_b300_switches_follow_its_variant(tmp_path, technology, gbps, nodes, sus, switches):
    plan, _ = _pool_plan(tmp_path, "dgx-b300", nodes, technology, gbps)
    assert plan.scalable_units == sus
    assert (plan.leaf_switches, plan.spine_switches, plan.core_switches) == switches


def test_beyond_the_largest_design_has_no_counts(tmp_path):
    plan, _ = _pool_plan(tmp_path, "dgx-b200", 65 * 32)
    assert plan.scalable_units == 65 and plan.leaf_switches is None
    assert "beyond the reference architecture's largest design (64 SU)" in plan.notes[0]


def test_text_without_colour_has_no_escape_codes():
    text, code = run([GWANGJU], width=100)
    assert code == EXIT_OK
    assert "\x1b[" not in text and "1,400" in text
    coloured, _ = run([GWANGJU], color=True, width=100)
    assert "\x1b[" in coloured


def test_invalid_blueprint_and_missing_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: aifab.dev/v1alpha1\nkind: Cluster\n")
    text, code = run([str(bad)])
    assert code == EXIT_FINDINGS and "AF202" in text
    data, code = run([str(bad)], fmt="json")
    assert code == EXIT_FINDINGS and json.loads(data)["findings"][0]["code"] == "AF202"
    text, code = run([str(tmp_path / "nowhere.yaml")])
    assert code == EXIT_USAGE and "AF001" in text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_silent_when_piped_or_in_ci():
    piped = io.StringIO()
    with progress("generating", total=3, stream=piped, environ={}) as bar:
        for _ in range(3):
            bar.advance()
    assert piped.getvalue() == ""
    tty = _Tty()
    with progress("generating", total=3, stream=tty, environ={"CI": "true"}) as bar:
        bar.advance()
    assert tty.getvalue() == ""
    assert not shown(tty, {"CI": "1"}) and shown(tty, {}) and not shown(piped, {})


def test_progress_draws_on_a_terminal():
    tty = _Tty()
    with progress("generating", total=2, stream=tty, environ={}) as bar:
        bar.total(3)
        bar.advance(2)
    assert "\x1b[" in tty.getvalue()  # drawn (and erased again: transient)
