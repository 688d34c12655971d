"""Plan: the capacity and bill of materials of blueprints, and what an air-gapped site mirrors.

Planners and reviewers want the numbers (GPUs, racks, NICs and rails, NVLink domains, scalable
units, fabric switches, power) and an air-gapped site needs the exact upstream images and charts
before its first install (aifab.mirror). Both come from the resolved model and the expanded
outputs that `generate` uses, so they cannot disagree with what is deployed. Switch counts are
the rows of the DGX SuperPOD RAs' tables (catalog `fabricDesigns`), never "per SU x SUs" across
tiers, since a core tier changes the spine count (DGX B200: 8 SU have 32 spines, 16 SU 128 and
64 core switches): a row of the table, between two rows of one shape their per-SU counts
scaled, else the next larger row. Where the catalog has none, the plan says so instead of
guessing.

`run()` returns (text, exit code): 0 planned, 1 a blueprint has errors, 2 a path is missing.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path as FsPath
from typing import Any

from aifab.catalog import FabricDesign, System
from aifab.model import Cluster, NodePool

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

# -- capacity and bill of materials -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """One node pool's hardware: counts derived from the blueprint and the catalog."""

    name: str
    system: str
    gpus: int
    nodes: int
    racks: int | None  # None: the catalog has no rack size for the system
    rails: int  # compute NICs per node: one rail each
    compute_nics: int
    nic_gbps: int | None
    nic_model: str | None
    nvlink_domains: int
    scalable_units: int | None  # None: no DGX SuperPOD SU for the system
    su_size: str | None  # "32 nodes", "8 racks"
    fabric_design: str | None  # the RA table's row(s) the switch counts come from: "4 SU"
    leaf_switches: int | None
    spine_switches: int | None
    core_switches: int | None
    power_kw: float
    cooling: str
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    name: str
    file: str
    site: str
    cooling: str
    power_budget_kw: float
    pools: tuple[PoolPlan, ...]

    @property
    def totals(self) -> dict[str, Any]:
        def total(key: str) -> int | None:
            values = [getattr(p, key) for p in self.pools if getattr(p, key) is not None]
            return sum(values) if values else None

        power = sum(p.power_kw for p in self.pools)
        return {
            "gpus": sum(p.gpus for p in self.pools),
            "nodes": sum(p.nodes for p in self.pools),
            "racks": total("racks"),
            "computeNics": sum(p.compute_nics for p in self.pools),
            "nvlinkDomains": sum(p.nvlink_domains for p in self.pools),
            "scalableUnits": total("scalable_units"),
            "leafSwitches": total("leaf_switches"),
            "spineSwitches": total("spine_switches"),
            "coreSwitches": total("core_switches"),
            # False when a pool has scalable units but the catalog has no switch counts for it
            "switchCountsComplete": all(p.leaf_switches is not None for p in self.pools
                                        if p.scalable_units is not None),
            "powerKW": _round(power),
            "powerBudgetKW": _round(self.power_budget_kw),
            "powerShare": round(power / self.power_budget_kw, 4) if self.power_budget_kw else None,
        }


def _round(value: float) -> float | int:
    """kW without float noise (31 x 14.3 is 443.3, not 443.30000000000007)."""
    value = round(value, 3)
    return int(value) if value == int(value) else value


def _fact(pool: NodePool, key: str) -> Any:
    fact = pool.system.facts.get(key)
    return None if fact is None else fact.value


def _scaled(low: FabricDesign, high: FabricDesign, units: int) -> FabricDesign | None:
    """`units` SUs between two rows with the same switches per SU (the same tiers): those per-SU
    counts times `units`; None where the rows differ in shape or the counts are not whole."""
    per_su = [(low.leaf, high.leaf), (low.spine, high.spine), (low.core, high.core)]
    if any(a * high.sus != b * low.sus or (b * units) % high.sus for a, b in per_su):
        return None
    leaf, spine, core = ((b * units) // high.sus for _, b in per_su)
    return FabricDesign(units, leaf, spine, core)


def _design(system: System, units: int,
            xdr: bool) -> tuple[FabricDesign | None, str | None, str | None]:
    """The switches for `units` SUs from the RA's table, what they come from, and a note where
    they are not a row of it: between two rows of one shape, scaled per SU; otherwise the
    smallest larger row (below the table's first row, too: aifab never extrapolates)."""
    designs = system.fabric_designs_xdr if xdr else system.fabric_designs
    if not designs:
        return None, None, f"the catalog has no switch counts for {system.id}"
    high = next((d for d in designs if d.sus >= units), None)
    if high is None:
        return None, None, (f"{units} SU is beyond the reference architecture's largest design "
                            f"({designs[-1].sus} SU); no switch counts")
    if high.sus == units:
        return high, f"{units} SU", None
    low = next((d for d in reversed(designs) if d.sus < units), None)
    scaled = _scaled(low, high, units) if low else None
    if scaled:
        return scaled, f"{low.sus}-{high.sus} SU, scaled", (
            f"the reference architecture has no {units} SU design; its {low.sus} and "
            f"{high.sus} SU designs have the same switches per SU, scaled to {units} SU")
    return high, f"{high.sus} SU", (f"the reference architecture has no {units} SU design; "
                                    f"switch counts are those of its {high.sus} SU design")


def pool_plan(cluster: Cluster, pool: NodePool) -> PoolPlan:
    system = pool.system
    nodes = pool.node_count
    notes: list[str] = []
    # DGX B300: suNodes is the Spectrum-X SU; InfiniBand uses the XDR SU (as check/fabric does).
    xdr = cluster.fabric is not None and cluster.fabric.technology == "infiniband" and \
        _fact(pool, "suNodesXdr") is not None
    units: int | None = None
    su_size = None
    if system.su_racks and pool.rack_count is not None:
        units, su_size = math.ceil(pool.rack_count / system.su_racks), f"{system.su_racks} racks"
    elif system.su_nodes:
        per_su = int(_fact(pool, "suNodesXdr")) if xdr else system.su_nodes
        units, su_size = math.ceil(nodes / per_su), f"{per_su} nodes"
    design = source = None
    if units:
        design, source, note = _design(system, units, xdr)
        if note:
            notes.append(note)
    domains = math.ceil(nodes / system.nodes_per_nvlink_domain)
    return PoolPlan(
        name=pool.name,
        system=system.id,
        gpus=pool.gpus,
        nodes=nodes,
        racks=pool.rack_count,
        rails=system.compute_nics,
        compute_nics=nodes * system.compute_nics,
        nic_gbps=system.compute_nic_gbps,
        nic_model=system.compute_nic_model,
        nvlink_domains=domains,
        scalable_units=units,
        su_size=su_size,
        fabric_design=source,
        leaf_switches=design.leaf if design else None,
        spine_switches=design.spine if design else None,
        core_switches=design.core if design else None,
        power_kw=_round(pool.power_kw),
        cooling=system.cooling,
        notes=tuple(notes),
    )


def cluster_plan(cluster: Cluster) -> ClusterPlan:
    return ClusterPlan(
        name=cluster.name,
        file=cluster.source,
        site=cluster.site.name,
        cooling=cluster.site.cooling,
        power_budget_kw=cluster.site.power_budget_kw,
        pools=tuple(pool_plan(cluster, pool) for pool in cluster.node_pools),
    )


def plan_json(plan: ClusterPlan) -> dict[str, Any]:
    def pool(p: PoolPlan) -> dict[str, Any]:
        raw = asdict(p)
        return {_camel(k): (list(v) if isinstance(v, tuple) else v) for k, v in raw.items()}

    return {
        "name": plan.name,
        "file": plan.file,
        "site": {"name": plan.site, "cooling": plan.cooling,
                 "powerBudgetKW": _round(plan.power_budget_kw)},
        "pools": [pool(p) for p in plan.pools],
        "totals": plan.totals,
    }


def grand_total(plans: Sequence[ClusterPlan]) -> dict[str, Any]:
    """The sum over all clusters (a fleet, or several blueprints), and per system.

    Sites are counted by name (clusters of one campus share it); racks and kW add up what the
    clusters' own totals show (racks only where the catalog knows the system's rack size)."""
    systems: dict[str, dict[str, Any]] = {}
    for p in (pool for plan in plans for pool in plan.pools):
        entry = systems.setdefault(p.system, {"gpus": 0, "nodes": 0, "racks": None, "powerKW": 0})
        entry["gpus"] += p.gpus
        entry["nodes"] += p.nodes
        if p.racks is not None:
            entry["racks"] = (entry["racks"] or 0) + p.racks
        entry["powerKW"] = _round(entry["powerKW"] + p.power_kw)
    racks = [s["racks"] for s in systems.values() if s["racks"] is not None]
    return {
        "clusters": len(plans),
        "sites": len({plan.site for plan in plans}),
        "gpus": sum(s["gpus"] for s in systems.values()),
        "nodes": sum(s["nodes"] for s in systems.values()),
        "racks": sum(racks) if racks else None,
        "powerKW": _round(sum(p.power_kw for plan in plans for p in plan.pools)),
        "systems": dict(sorted(systems.items())),
    }


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    special = {"kw": "KW", "gbps": "Gbps"}
    return head + "".join(special.get(word, word.capitalize()) for word in rest)


# -- rich tables --------------------------------------------------------------------------------


def _n(value: Any) -> str:
    return "-" if value is None else str(value)


def _switches(leaf: int | None, spine: int | None, core: int | None,
              complete: bool = True) -> str:
    if leaf is None:
        return "-"
    return f"{leaf}/{spine}/{core or 0}" + ("" if complete else " + ?")


def tables(plan: ClusterPlan) -> tuple[Any, Any]:
    """Two rich Tables of one cluster, each narrow enough for a terminal: capacity and power,
    then the compute fabric; a row per pool and a totals row."""
    from rich import box
    from rich.table import Table

    totals = plan.totals
    share = f" ({totals['powerShare']:.0%})" if totals["powerShare"] is not None else ""
    capacity = Table(title=f"{plan.name} ({plan.file}): capacity", title_justify="left",
                     box=box.SIMPLE_HEAD, caption_justify="left",
                     caption=f"power {totals['powerKW']} kW of {totals['powerBudgetKW']} kW "
                             f"budget{share}; site {plan.site}, cooling {plan.cooling}")
    for header, justify in (("pool", "left"), ("system", "left"), ("GPUs", "right"),
                            ("nodes", "right"), ("racks", "right"),
                            ("NVLink domains", "right"), ("kW", "right"), ("cooling", "left")):
        capacity.add_column(header, justify=justify)  # type: ignore[arg-type]
    for p in plan.pools:
        capacity.add_row(p.name, p.system, str(p.gpus), str(p.nodes), _n(p.racks),
                         f"{p.nvlink_domains} x {p.gpus // p.nvlink_domains} GPUs"
                         if p.nvlink_domains else "0", str(p.power_kw), p.cooling)
    capacity.add_section()
    capacity.add_row("total", "", str(totals["gpus"]), str(totals["nodes"]), _n(totals["racks"]),
                     str(totals["nvlinkDomains"]), str(totals["powerKW"]), "", style="bold")

    fabric = Table(title=f"{plan.name}: compute fabric", title_justify="left", box=box.SIMPLE_HEAD)
    for header, justify in (("pool", "left"), ("NIC", "left"), ("rails x Gb/s", "right"),
                            ("NICs", "right"), ("scalable units", "right"),
                            ("RA design", "right"), ("leaf/spine/core", "right")):
        fabric.add_column(header, justify=justify)  # type: ignore[arg-type]
    for p in plan.pools:
        fabric.add_row(p.name, _n(p.nic_model), f"{p.rails} x {_n(p.nic_gbps)}" if p.rails else "-",
                       str(p.compute_nics),
                       f"{p.scalable_units} x {p.su_size}" if p.scalable_units is not None else "-",
                       _n(p.fabric_design),
                       _switches(p.leaf_switches, p.spine_switches, p.core_switches))
    fabric.add_section()
    fabric.add_row("total", "", "", str(totals["computeNics"]), _n(totals["scalableUnits"]), "",
                   _switches(totals["leafSwitches"], totals["spineSwitches"],
                             totals["coreSwitches"], totals["switchCountsComplete"]),
                   style="bold")
    return capacity, fabric


def total_table(total: Mapping[str, Any]) -> Any:
    """The grand total as a rich Table: a row per system, then the sum."""
    from rich import box
    from rich.table import Table

    clusters, sites = total["clusters"], total["sites"]
    grid = Table(title=f"total: {clusters} cluster{'s' * (clusters != 1)} on {sites} "
                       f"site{'s' * (sites != 1)}", title_justify="left", box=box.SIMPLE_HEAD)
    for header, justify in (("system", "left"), ("GPUs", "right"), ("nodes", "right"),
                            ("racks", "right"), ("kW", "right")):
        grid.add_column(header, justify=justify)  # type: ignore[arg-type]
    for system, n in total["systems"].items():
        grid.add_row(system, str(n["gpus"]), str(n["nodes"]), _n(n["racks"]), str(n["powerKW"]))
    grid.add_section()
    grid.add_row("total", str(total["gpus"]), str(total["nodes"]), _n(total["racks"]),
                 str(total["powerKW"]), style="bold")
    return grid


def render(plans: Sequence[ClusterPlan], console: Any) -> None:
    """Print every cluster's table and its notes to a rich Console, then the grand total when
    there is more than one cluster."""
    for plan in plans:
        for grid in tables(plan):
            console.print(grid)
            console.print()
        for p in plan.pools:
            for note in p.notes:
                console.print(f"  note: {p.name}: {note}", highlight=False)
    if len(plans) > 1:
        if any(p.notes for p in plans[-1].pools):
            console.print()
        console.print(total_table(grand_total(plans)))


# -- the command --------------------------------------------------------------------------------


def run(paths: Sequence[str] = (), *, fmt: str = "text", mirror_list: bool = False,
        chart_values: FsPath | None = None, color: bool = False,
        width: int | None = None, node_os: Sequence[str] = ()) -> tuple[str, int]:
    """`aifab plan`: text (rich tables; ANSI colours only with `color`), json, or the mirror list
    (aifab.mirror; as text, json or skopeo YAML; `chart_values` serves chart versions aifab
    ships no data for, `node_os` the OS of the nodes for OS-specific driver tags)."""
    from aifab.diagnostics import sorted_unique
    from aifab.mirror import (
        DEFAULT_NODE_OS,
        architectures,
        mirror_artifacts,
        mirror_lines,
        skopeo_yaml,
    )
    from aifab.pipeline import blueprint_files, run_all
    from aifab.reporters import FORMATS

    if fmt == "skopeo" and not mirror_list:
        return "aifab plan: --format skopeo is a form of the mirror list: add --mirror-list", \
            EXIT_USAGE

    files, usage = blueprint_files(list(paths) or ["blueprints"])
    if usage:
        return FORMATS["json" if fmt == "json" else "text"](usage, {}, 0), EXIT_USAGE
    clusters: list[Cluster] = []
    errors = []
    sources: dict[str, list[str]] = {}
    for result in run_all(files):  # a fleet's clusters come after the fleet's own result
        if result.ok and result.cluster is not None:
            clusters.append(result.cluster)
        elif not result.ok:
            errors.extend(f for f in result.findings if f.is_error)
            sources[result.document.file] = result.document.text.splitlines()
    errors = sorted_unique(errors)
    code = EXIT_FINDINGS if errors else EXIT_OK
    if mirror_list:
        artifacts = set()
        for cluster in clusters:
            artifacts |= mirror_artifacts(cluster, chart_values, node_os or DEFAULT_NODE_OS)
        if fmt == "skopeo":
            archs = sorted({a for cluster in clusters for a in architectures(cluster)})
            text = skopeo_yaml(artifacts, archs)
            if errors:
                report = FORMATS["text"](errors, sources, len(files))
                text += "".join(f"# {line}\n" for line in report.splitlines())
            return text.rstrip("\n"), code
        if fmt == "json":
            items = [a.as_json() for a in sorted(artifacts)]
            return json.dumps({"artifacts": items, "findings": _findings_json(errors)},
                              indent=2), code
        lines = mirror_lines(artifacts)
        if errors:
            report = FORMATS["text"](errors, sources, len(files))
            lines += ["# " + line for line in report.splitlines()]
        return "\n".join(lines), code
    plans = [cluster_plan(cluster) for cluster in clusters]
    if fmt == "json":
        return json.dumps({"clusters": [plan_json(p) for p in plans],
                           "total": grand_total(plans),
                           "findings": _findings_json(errors)}, indent=2), code
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color,
                      width=width or 120, highlight=False)
    render(plans, console)
    text = buffer.getvalue().rstrip("\n")
    if errors:
        text += ("\n" if text else "") + FORMATS["text"](errors, sources, len(files))
    return text, code


def _findings_json(findings: Sequence[Any]) -> list[dict[str, Any]]:
    from aifab.reporters import as_json

    return json.loads(as_json(findings, {}, 0))["findings"]
