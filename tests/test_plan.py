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
    assert (b200.scalable_units, b200.leaf_per_su, b200.spine_per_su) == (1, 8, 4)
    assert (b200.leaf_switches, b200.spine_switches) == (8, 4)
    totals = plan.totals
    assert totals["gpus"] == 1400 and totals["nodes"] == 319 and totals["racks"] == 16
    assert totals["powerKW"] == 2555.3 and totals["powerBudgetKW"] == 3000
    assert totals["switchCountsComplete"] is False


def test_json_shape():
    text, code = run([GWANGJU], fmt="json")
    assert code == EXIT_OK
    data = json.loads(text)
    assert set(data) == {"clusters", "total", "findings"} and data["findings"] == []
    (cluster,) = data["clusters"]
    assert set(cluster) == {"name", "file", "site", "pools", "totals"}
    assert cluster["site"] == {"name": "gwangju-1", "cooling": "liquid", "powerBudgetKW": 3000}
    gb200 = cluster["pools"][0]
    assert gb200["name"] == "gb200" and gb200["gpus"] == 1152 and gb200["racks"] == 16
    assert gb200["scalableUnits"] == 2 and gb200["suSize"] == "8 racks"
    assert gb200["nicGbps"] == 400 and gb200["powerKW"] == 2112
    assert cluster["pools"][1]["leafSwitches"] == 8
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
    assert ["gb200-nvl72", "576", "144", "8", "1056"] in rows
    assert rows[-1] == ["total", "824", "175", "8", "1499.3"]


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
    assert (total["clusters"], total["sites"], total["gpus"]) == (8, 6, 260480)
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
    assert "gwangju-gb200" in out and "1400" in out and "2555.3" in out
    assert "2 x 8 racks" in out and "1 x 31 nodes" in out and "8 x 400" in out
    assert "8/4 + ?" in out  # GB200 switch counts are unknown, so the total is partial
    assert "note: gb200: the catalog has no switch counts per SU" in out


def test_text_without_colour_has_no_escape_codes():
    text, code = run([GWANGJU], width=100)
    assert code == EXIT_OK
    assert "\x1b[" not in text and "1400" in text
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
