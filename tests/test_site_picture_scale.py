"""site.svg at hall scale: 500 racks stay a bounded page, the legend matches the drawing,
and no two pools or tenants share a colour."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from aifab.expand.summary import site_svg
from aifab.expand.summary.palette import UNALLOCATED, colours, pool_and_tenant_colours
from aifab.model import Cluster
from aifab.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


def _cluster(tmp_path: Path, valid: bool = True, **edits: str) -> Cluster:
    text = (ROOT / "blueprints" / "gwangju-gb200.yaml").read_text()
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "hall.yaml"
    path.write_text(text)
    result = run(path)
    assert result.cluster is not None and (result.ok or not valid), result.findings
    return result.cluster


@pytest.fixture
def hall(tmp_path: Path) -> Cluster:
    """16 GB200 NVL72 racks and 2,000 DGX B200 (500 racks of 4): 516 racks."""
    return _cluster(tmp_path, **{"powerBudgetKW: 3000": "powerBudgetKW: 40000",
                                 "nodes: 31": "nodes: 2000"})


def _root(text: str) -> ET.Element:
    return ET.fromstring(text.split("\n", 1)[1])


def _fills(root: ET.Element, *classes: str) -> list[str]:
    return [e.get("fill", "") for e in root.iter(f"{SVG}rect") if e.get("class") in classes]


def test_500_racks_stay_a_bounded_page(hall):
    assert sum(p.rack_count or -(-p.node_count // 4) for p in hall.node_pools) == 516
    text = site_svg(hall)
    root = _root(text)
    elements = sum(1 for _ in root.iter())
    assert elements < 800 and len(text) < 80_000, (elements, len(text))
    height = float(root.get("height", "0"))
    assert height < 1400
    b200 = next(g for g in root.iter(f"{SVG}g") if g.get("id") == "pool-b200-infer")
    blocks = [r for r in b200.iter(f"{SVG}rect") if r.get("class") == "block"]
    # DGX B200: a scalable unit is 32 nodes, 8 racks of 4: 62.5 SU, drawn as 63 blocks
    assert len(blocks) == 63
    titles = [r.find(f"{SVG}title").text for r in blocks]
    assert titles[0] == "SU01 (R001-008): 8 racks, 32 nodes, 457.6 kW"
    assert titles[-1] == "SU63 (R497-500): 4 racks, 16 nodes, 228.8 kW"
    racks = sum(int(re.search(r": (\d+) racks?,", t).group(1)) for t in titles)
    assert racks == 500  # every rack is in a block
    gb200 = next(g for g in root.iter(f"{SVG}g") if g.get("id") == "pool-gb200")
    assert len([r for r in gb200.iter(f"{SVG}rect") if r.get("class") == "rack"]) == 16
    words = " ".join(root.itertext())
    assert "one block per scalable unit of 32 nodes of NVIDIA DGX B200 (500 racks" in words


def test_blocks_hold_several_units_past_the_block_limit(tmp_path):
    from aifab.expand.summary import picture

    cluster = _cluster(tmp_path, valid=False, **{"powerBudgetKW: 3000": "powerBudgetKW: 90000",
                                    "nodes: 31": "nodes: 4600"})
    pool = cluster.node_pools[1]
    racks, _ = picture.drawn_racks(pool)
    blocks, what = picture.rack_blocks(pool, racks)
    assert len(racks) == 1150 and len(blocks) <= picture.MAX_BLOCKS
    assert what == "2 scalable units of 32 nodes" and blocks[0].label == "SU001-002"
    assert sum(b.racks for b in blocks) == 1150


def test_the_legend_has_a_swatch_for_exactly_what_is_drawn(hall):
    for cluster in (hall, run(ROOT / "blueprints" / "seoul-rtxpro.yaml").cluster):
        root = _root(site_svg(cluster))
        drawn = set(_fills(root, "rack", "block", "tenant"))
        legend = _fills(root, "legend")
        assert set(legend) == drawn and len(legend) == len(drawn)


def test_a_tenant_without_gpus_has_no_swatch():
    cluster = run(ROOT / "blueprints" / "gwangju-gb200.yaml").cluster
    assert cluster is not None
    root = _root(site_svg(cluster))  # no GPU is unallocated on the reference
    assert not [r for r in root.iter(f"{SVG}rect") if r.get("fill") == UNALLOCATED]
    assert "unallocated: 0 GPUs" in " ".join(root.itertext())


def test_pool_and_tenant_colours_are_all_different():
    cluster = run(ROOT / "blueprints" / "gwangju-gb200.yaml").cluster
    assert cluster is not None
    base = cluster.node_pools[0]
    pools = tuple(dataclasses.replace(base, name=f"p{i}") for i in range(12))
    tenants = tuple(dataclasses.replace(cluster.tenants[0], name=f"t{i}",
                                        quota={f"p{i}": 72}) for i in range(12))
    root = _root(site_svg(dataclasses.replace(cluster, node_pools=pools, tenants=tenants)))
    pool_fills = [{r.get("fill") for r in g.iter(f"{SVG}rect") if r.get("class") == "rack"}
                  for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("pool-")]
    assert all(len(f) == 1 for f in pool_fills) and len(pool_fills) == 12
    tenant_fills = _fills(root, "tenant")
    everything = [f.pop() for f in pool_fills] + tenant_fills
    assert len(everything) == 12 + 13 and len(set(everything)) == len(everything)
    many_pools, many_tenants = pool_and_tenant_colours(100, 200)
    assert len({*many_pools, *many_tenants, UNALLOCATED}) == 301
    assert colours(3, ("#000000", "#111111"), {"#000000"})[0] == "#111111"
