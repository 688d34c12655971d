"""site.svg: racks per node pool, drawn to the catalog's rack sizes, and the tenants' GPU
shares, built as elements (expand/svg.py) and serialised once, one element per line.

A pool of more than AGGREGATE_ABOVE racks is drawn as blocks, one per scalable unit (as the
node labels number them) or, where the system has none, per row of ROW_RACKS racks; past
MAX_BLOCKS, a block holds several units. So a 500-rack hall stays a page of a bounded number
of elements. The legend has a swatch for exactly what is drawn, in colours all different."""

from __future__ import annotations

import functools
import textwrap
from dataclasses import dataclass
from typing import Any

from aifab.expand.summary.facts import (
    generated_comment,
    kw,
    percent,
    plain,
    power_fact_estimated,
    size_text,
    tenant_gpus,
)
from aifab.expand.summary.palette import UNALLOCATED, pool_and_tenant_colours
from aifab.expand.svg import Element, attributes, escape_attribute, serialise
from aifab.model import Cluster, NodePool

ASSUMED_NODES_PER_RACK = 4  # servers per drawn rack when the catalog does not know it
SVG_NS = "http://www.w3.org/2000/svg"
WIDTH, MARGIN = 960, 24
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
INK, MUTED, OVER = "#1a1a1a", "#555555", "#b00020"
AGGREGATE_ABOVE = 128  # drawn racks in one pool; past it, blocks of racks
ROW_RACKS = 8  # racks per block where the system has no scalable unit
MAX_BLOCKS = 96  # blocks per pool; past it, a block holds several units


@dataclass(frozen=True, slots=True)
class DrawnRack:
    label: str
    nodes: int
    slots: int
    power_kw: float


def drawn_racks(pool: NodePool) -> tuple[list[DrawnRack], bool]:
    """The racks to draw for a pool and whether their size is assumed (catalog unknown)."""
    system = pool.system
    per_rack = system.nodes_per_rack or ASSUMED_NODES_PER_RACK
    count = -(-pool.node_count // per_rack)
    racks = []
    for index in range(count):
        nodes = min(per_rack, pool.node_count - index * per_rack)
        label = "R" + str(index + 1).zfill(max(2, len(str(count))))  # as node labels pad
        racks.append(DrawnRack(label, nodes, per_rack, system.power_kw(nodes)))
    return racks, system.nodes_per_rack is None


@dataclass(frozen=True, slots=True)
class RackBlock:
    """Consecutive racks drawn as one: a scalable unit, a row, or several of them."""

    label: str  # SU01 (as the nodes' scalable-unit label), SU01-02, or R001-008
    span: str  # R001-008
    racks: int
    nodes: int
    power_kw: float


def rack_blocks(pool: NodePool, racks: list[DrawnRack]) -> tuple[list[RackBlock], str]:
    """The racks of a large pool in blocks, and what one block is (for the legend)."""
    system = pool.system
    per_rack = racks[0].slots
    if system.su_racks:
        unit, what = [i // system.su_racks for i in range(len(racks))], \
            f"scalable unit of {system.su_racks} racks"
    elif system.su_nodes:  # a rack belongs to the SU of its first node, as its nodes' labels say
        unit, what = [i * per_rack // system.su_nodes for i in range(len(racks))], \
            f"scalable unit of {system.su_nodes} nodes"
    else:
        unit, what = [i // ROW_RACKS for i in range(len(racks))], f"row of {ROW_RACKS} racks"
    per_block = -(-(unit[-1] + 1) // MAX_BLOCKS)
    if per_block > 1:
        what = f"{per_block} {what.replace('unit', 'units').replace('row', 'rows')}"
    grouped: dict[int, list[int]] = {}
    for index in range(len(racks)):
        grouped.setdefault(unit[index] // per_block, []).append(index)
    digits = max(2, len(str(unit[-1] + 1)))
    blocks = []
    for indexes in grouped.values():
        members = [racks[i] for i in indexes]
        span = _span("R", members[0].label[1:], members[-1].label[1:])
        label = span if not (system.su_racks or system.su_nodes) else _span(
            "SU", str(unit[indexes[0]] + 1).zfill(digits),
            str(unit[indexes[-1]] + 1).zfill(digits))
        blocks.append(RackBlock(label, span, len(members), sum(r.nodes for r in members),
                                sum(r.power_kw for r in members)))
    return blocks, what


def _span(prefix: str, first: str, last: str) -> str:
    return f"{prefix}{first}" if first == last else f"{prefix}{first}-{last}"


@functools.lru_cache(maxsize=4096)  # racks repeat the same widths, offsets and font sizes
def num(value: float) -> str:
    """An SVG number: at most 2 decimals, no trailing zeros, never '-0'."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text_width(text: str, size: float) -> float:
    return len(text) * size * 0.6  # DejaVu Sans averages a little under 0.6 em per character


@functools.cache
def _attribute(keyword: str) -> str:
    """The SVG attribute a keyword argument stands for: class_ -> class, font_size -> font-size."""
    return keyword.rstrip("_").replace("_", "-")


class _Svg:
    """A tiny builder: elements with attributes in the order given, numbers formatted once."""

    def __init__(self) -> None:
        self.root = Element("svg", attributes({"xmlns": SVG_NS}))
        self.y = float(MARGIN)

    def add(self, tag: str, parent: Element | None = None, text: str | None = None,
            **attrs: Any) -> Element:
        return (self.root if parent is None else parent).add(tag, "".join(
            f' {_attribute(key)}="{num(v)}"' if isinstance(v, (int, float))  # nothing to escape
            else f' {_attribute(key)}="{escape_attribute(str(v))}"' for key, v in attrs.items()
        ), None if text is None else plain(text))

    def text(self, x: float, y: float, content: str, size: float = 12, *, weight: str = "normal",
             fill: str = INK, anchor: str = "start", parent: Element | None = None) -> None:
        attrs: dict[str, Any] = {"x": x, "y": y, "font_size": size, "fill": fill}
        if weight != "normal":
            attrs["font_weight"] = weight
        if anchor != "start":
            attrs["text_anchor"] = anchor
        self.add("text", parent, content, **attrs)


def site_svg(cluster: Cluster) -> str:
    svg = _Svg()
    svg.add("title", text=f"{cluster.name}: racks per node pool and the tenants' GPU shares")
    _svg_heading(svg, cluster)
    pool_colours, tenant_colours = pool_and_tenant_colours(len(cluster.node_pools),
                                                           len(tenant_gpus(cluster)))
    for pool, colour in zip(cluster.node_pools, pool_colours, strict=True):
        _svg_pool(svg, pool, colour)
    _svg_legend(svg, cluster, pool_colours)
    _svg_tenants(svg, cluster, tenant_colours)
    height = svg.y + MARGIN
    svg.root.attributes += attributes({"width": num(WIDTH), "height": num(height),
                                       "viewBox": f"0 0 {num(WIDTH)} {num(height)}",
                                       "font-family": FONT})
    body = serialise(svg.root)  # one element per line: reviewable diffs
    return generated_comment(cluster, "site picture") + "\n" + body + "\n"


def _svg_heading(svg: _Svg, cluster: Cluster) -> None:
    svg.add("rect", x=0, y=0, width=WIDTH, height="100%", fill="#ffffff")
    site = cluster.site
    svg.text(MARGIN, svg.y + 20, _clip(f"{cluster.name}: site {site.name} ({site.country})",
                                       WIDTH - 2 * MARGIN, 22), 20, weight="bold")
    svg.y += 30
    if cluster.description:
        svg.text(MARGIN, svg.y + 14, _clip(cluster.description, WIDTH - 2 * MARGIN, 13), 13,
                 fill=MUTED)
        svg.y += 20
    budget = site.power_budget_kw
    over = cluster.power_kw > budget
    svg.text(MARGIN, svg.y + 14,
             f"{cluster.gpus:,} GPUs  ·  {kw(cluster.power_kw)} kW of {kw(budget)} kW budget "
             f"({percent(cluster.power_kw, budget)}{', OVER BUDGET' if over else ''})  ·  "
             f"{site.cooling} cooling", 13, weight="bold" if over else "normal",
             fill=OVER if over else INK)
    svg.y += 32


def _clip(text: str, width: float, size: float) -> str:
    room = int(width / (size * 0.6))
    return text if len(text) <= room else text[: room - 1].rstrip() + "…"


def _wrap(text: str, width: float, size: float) -> list[str]:
    return textwrap.wrap(text, int(width / (size * 0.6)), break_on_hyphens=False) or [""]


@dataclass(frozen=True, slots=True)
class RackLayout:
    """How big racks are drawn. Large pools use compact racks (no tray strips, power inside)
    so a national-scale pool stays a page, not a scroll, and the file stays small."""

    width: float
    height: float
    gap: float
    row_gap: float
    compact: bool


FULL = RackLayout(52, 96, 12, 34, compact=False)
COMPACT = RackLayout(46, 50, 6, 8, compact=True)
BLOCK = RackLayout(106, 50, 8, 8, compact=True)
COMPACT_ABOVE = 48  # drawn racks in one pool


def _svg_pool(svg: _Svg, pool: NodePool, colour: str) -> None:
    racks, assumed = drawn_racks(pool)
    heading = (f"{pool.name}: {pool.system.name}, {size_text(pool)}, {pool.gpus:,} GPUs, "
               f"{kw(pool.power_kw)} kW")
    blocks = tuple(rack_blocks(pool, racks)[0]) if len(racks) > AGGREGATE_ABOVE else ()
    group, svg.y = _pool_picture(pool.name, heading, tuple(racks), blocks, assumed, colour,
                                 svg.y)
    svg.root.children.append(group)


@functools.lru_cache(maxsize=16)
def _pool_picture(name: str, heading: str, racks: tuple[DrawnRack, ...],
                  blocks: tuple[RackBlock, ...], assumed: bool, colour: str,
                  top: float) -> tuple[Element, float]:
    """A pool's group of elements drawn from `top` down (its `blocks` in place of its racks
    when it has any), and where it ends; elements are never changed once drawn, so a group is
    reused. A pool is most of a cluster's picture, and seldom what changed when
    `generate --watch` redraws it."""
    svg = _Svg()
    svg.y = top
    group = svg.add("g", id=f"pool-{name}")
    svg.add("rect", group, x=MARGIN, y=svg.y + 3, width=12, height=12, fill=colour)
    svg.text(MARGIN + 18, svg.y + 14, _clip(heading, WIDTH - 2 * MARGIN - 18, 15.5), 14,
             weight="bold", parent=group)
    svg.y += 26
    if not racks:
        svg.text(MARGIN, svg.y + 12, "no nodes", 12, fill=MUTED, parent=group)
        return group.keep(), svg.y + 28
    cells: tuple[DrawnRack, ...] | tuple[RackBlock, ...] = blocks or racks
    layout = BLOCK if blocks else COMPACT if len(racks) > COMPACT_ABOVE else FULL
    most = int((WIDTH - 2 * MARGIN + layout.gap) // (layout.width + layout.gap))
    rows = -(-len(cells) // most)
    per_row = -(-len(cells) // rows)  # balanced rows: 16 racks are two rows of 8
    for index, cell in enumerate(cells):
        row, col = divmod(index, per_row)
        x = MARGIN + col * (layout.width + layout.gap)
        y = svg.y + row * (layout.height + layout.row_gap)
        if isinstance(cell, RackBlock):
            _svg_block(svg, group, cell, x, y, colour, assumed, layout)
        else:
            _svg_rack(svg, group, cell, x, y, colour, assumed, layout)
    svg.y += rows * (layout.height + layout.row_gap) + (16 if layout.compact else 8)
    return group.keep(), svg.y


def _svg_rack(svg: _Svg, group: Element, rack: DrawnRack, x: float, y: float, colour: str,
              assumed: bool, layout: RackLayout) -> None:
    w, h = layout.width, layout.height
    attrs: dict[str, Any] = {"class_": "rack", "x": x, "y": y, "width": w, "height": h, "rx": 3,
                             "fill": colour}
    if assumed:  # dashed outline: this grouping into racks is aifab's assumption
        attrs.update(stroke=INK, stroke_width=1.5, stroke_dasharray="4 3")
    shape = svg.add("rect", group, **attrs)
    power = f"{kw(rack.power_kw)} kW"
    svg.add("title", shape, text=f"{rack.label}: {rack.nodes} of {rack.slots} "
                                 f"{'trays' if rack.slots > 8 else 'nodes'}, {power}")
    svg.text(x + w / 2, y + 15, rack.label, 11, weight="bold", fill="#ffffff", anchor="middle",
             parent=group)
    if layout.compact:  # power on the rack
        svg.text(x + w / 2, y + h - 10, power, 9, fill="#ffffff", anchor="middle", parent=group)
        return
    top, bottom = y + 22, y + h - 5
    pitch = (bottom - top) / rack.slots
    for slot in range(rack.slots):
        svg.add("rect", group, class_="slot", x=x + 6, y=top + slot * pitch, width=w - 12,
                height=max(pitch - 1.5, 1), fill="#ffffff",
                fill_opacity=0.55 if slot < rack.nodes else 0.12)
    svg.text(x + w / 2, y + h + 15, power, 11, anchor="middle", parent=group)


def _svg_block(svg: _Svg, group: Element, block: RackBlock, x: float, y: float, colour: str,
               assumed: bool, layout: RackLayout) -> None:
    w, h = layout.width, layout.height
    attrs: dict[str, Any] = {"class_": "block", "x": x, "y": y, "width": w, "height": h,
                             "rx": 3, "fill": colour}
    if assumed:
        attrs.update(stroke=INK, stroke_width=1.5, stroke_dasharray="4 3")
    shape = svg.add("rect", group, **attrs)
    racks = f"{block.racks} rack{'s' * (block.racks != 1)}"
    power = f"{kw(block.power_kw)} kW"
    where = block.label if block.label == block.span else f"{block.label} ({block.span})"
    svg.add("title", shape, text=f"{where}: {racks}, {block.nodes:,} "
                                 f"{'node' if block.nodes == 1 else 'nodes'}, {power}")
    svg.text(x + w / 2, y + 15, block.label, 11, weight="bold", fill="#ffffff",
             anchor="middle", parent=group)
    svg.text(x + w / 2, y + h - 10, f"{racks}, {power}", 9, fill="#ffffff", anchor="middle",
             parent=group)


def _svg_legend(svg: _Svg, cluster: Cluster, colours: list[str]) -> None:
    svg.text(MARGIN, svg.y + 14, "Legend", 14, weight="bold")
    svg.y += 24
    lines = []
    for pool, colour in zip(cluster.node_pools, colours, strict=True):
        system = pool.system
        estimate = " (catalog estimate)" if power_fact_estimated(system) else ""
        racks, _ = drawn_racks(pool)
        if len(racks) > AGGREGATE_ABOVE:
            block = rack_blocks(pool, racks)[1]
            dashed = (f", dashed: {ASSUMED_NODES_PER_RACK} nodes per rack assumed"
                      if system.nodes_per_rack is None else "")
            what = (f"one block per {block} of {system.name} ({len(racks)} racks{dashed}), "
                    f"kW on a block: the catalog's maximum power of what it holds{estimate}")
        elif system.is_nvl_rack:
            what = (f"one rectangle per {system.name} rack of {system.nodes_per_rack} compute "
                    f"trays, {kw(system.power_kw_per_rack or 0)} kW per rack{estimate}")
        elif system.nodes_per_rack:
            what = (f"{system.name} in racks of {system.nodes_per_rack} nodes (catalog), "
                    f"{kw(system.power_kw_per_node or 0)} kW per node{estimate}")
        else:
            what = (f"{system.name} drawn in racks of {ASSUMED_NODES_PER_RACK} nodes (dashed: "
                    f"the catalog has no nodes per rack, {ASSUMED_NODES_PER_RACK} assumed), "
                    f"{kw(system.power_kw_per_node or 0)} kW per node{estimate}")
        lines.append((colour if racks else None, f"{pool.name}: {what}"))
    for swatch, line in lines:
        if swatch:  # a pool without nodes draws nothing, so has no swatch
            svg.add("rect", class_="legend", x=MARGIN, y=svg.y + 2, width=12, height=12,
                    fill=swatch)
        for part in _wrap(line, WIDTH - 2 * MARGIN - 18, 12):
            svg.text(MARGIN + 18, svg.y + 12, part, 12)
            svg.y += 16
        svg.y += 2
    note = (f"Bars inside a rack: its trays or nodes (faint: an empty slot; not drawn in pools "
            f"of more than {COMPACT_ABOVE} racks). kW on or under a rack: the catalog's maximum "
            "power of what it holds.")
    for part in _wrap(note, WIDTH - 2 * MARGIN, 12):
        svg.text(MARGIN, svg.y + 12, part, 12, fill=MUTED)
        svg.y += 16
    svg.y += 18


def _svg_tenants(svg: _Svg, cluster: Cluster, colours: list[str]) -> None:
    shares = tenant_gpus(cluster)
    allocated = sum(n for _, n in shares)
    free = max(cluster.gpus - allocated, 0)
    whole = max(cluster.gpus, allocated)
    svg.text(MARGIN, svg.y + 14, f"GPUs by tenant (nominal quota) of {cluster.gpus:,} GPUs", 14,
             weight="bold")
    svg.y += 24
    width = WIDTH - 2 * MARGIN
    segments = [(name, gpus, colour, "#ffffff")
                for (name, gpus), colour in zip(shares, colours, strict=True)]
    segments.append(("unallocated", free, UNALLOCATED, INK))
    bar = svg.add("g", id="tenants")
    x = float(MARGIN)
    for name, gpus, fill, ink in segments:
        if not gpus or not whole:
            continue
        w = width * gpus / whole
        shape = svg.add("rect", bar, class_="tenant", x=x, y=svg.y, width=w, height=28, fill=fill)
        svg.add("title", shape, text=f"{name}: {gpus:,} GPUs ({percent(gpus, whole)})")
        label = f"{name} {gpus:,}"
        if _text_width(label, 12) + 8 <= w:
            svg.text(x + w / 2, svg.y + 18, label, 12, fill=ink, anchor="middle", parent=bar)
        x += w
    svg.add("rect", bar, x=MARGIN, y=svg.y, width=width, height=28, fill="none", stroke=INK,
            stroke_width=1)
    svg.y += 40
    for name, gpus, fill, _ in segments:
        if gpus and whole:  # drawn in the bar, so it has a swatch
            svg.add("rect", class_="legend", x=MARGIN, y=svg.y + 2, width=12, height=12,
                    fill=fill)
        svg.text(MARGIN + 18, svg.y + 12, f"{name}: {gpus:,} GPUs ({percent(gpus, cluster.gpus)} "
                                          "of the cluster)", 12)
        svg.y += 18
