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
from aifab.fleet.model import Fleet
from aifab.model import Cluster, NodePool
from aifab.terminal import count, number, percent, relative

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


# -- fleets: sites against their budgets, allocations against quotas ---------------------------


@dataclass(frozen=True, slots=True)
class SitePlan:
    name: str
    operator: str
    power_budget_kw: float | None  # None: a site the fleet does not declare (AF616)
    power_kw: float
    clusters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AllocationPlan:
    tenant: str
    gpus: int  # granted by the programme
    quota_gpus: int  # what the clusters' quotas give the tenant (Kueue admits no more)
    clusters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FleetPlan:
    name: str
    file: str
    gpus: int
    sites: tuple[SitePlan, ...]
    allocations: tuple[AllocationPlan, ...]


def fleet_plan(fleet: Fleet, file: str) -> FleetPlan:
    """What fleet rules AF612, AF613 and AF615 judge, as numbers: each site's draw beside its
    budget (sites in the fleet's order, undeclared ones after), each grant beside its quotas."""
    draws: dict[str, list[Cluster]] = {}
    for member in fleet.members:
        draws.setdefault(member.cluster.site.name, []).append(member.cluster)
    budgets = {}
    for site in fleet.sites:
        budgets.setdefault(site.name, site)
    sites = [SitePlan(name, budgets[name].operator if name in budgets else "",
                      budgets[name].power_budget_kw if name in budgets else None,
                      _round(sum(c.power_kw for c in draws.get(name, []))),
                      tuple(c.name for c in draws.get(name, [])))
             for name in [*budgets, *sorted(set(draws) - set(budgets))]]
    quotas: dict[str, dict[str, int]] = {}
    for member in fleet.members:
        for tenant in member.cluster.tenants:
            quotas.setdefault(tenant.name, {})[member.cluster.name] = sum(tenant.quota.values())
    allocations = [AllocationPlan(a.tenant, a.gpus, sum(quotas.get(a.tenant, {}).values()),
                                  tuple(quotas.get(a.tenant, {})))
                   for a in fleet.allocations]
    return FleetPlan(fleet.name, file, fleet.gpus, tuple(sites), tuple(allocations))


def fleet_json(plan: FleetPlan) -> dict[str, Any]:
    return {
        "name": plan.name,
        "file": plan.file,
        "gpus": plan.gpus,
        "sites": [{"name": s.name, "operator": s.operator,
                   "powerBudgetKW": None if s.power_budget_kw is None
                   else _round(s.power_budget_kw),
                   "powerKW": s.power_kw,
                   "powerShare": round(s.power_kw / s.power_budget_kw, 4)
                   if s.power_budget_kw else None,
                   "clusters": list(s.clusters)} for s in plan.sites],
        "allocations": [{"tenant": a.tenant, "gpus": a.gpus, "quotaGPUs": a.quota_gpus,
                         "clusters": list(a.clusters)} for a in plan.allocations],
        "allocatedGPUs": sum(a.gpus for a in plan.allocations),
    }


def fleet_tables(plan: FleetPlan) -> tuple[Any, Any]:
    """Two rich Tables of a fleet: power per site against its budget, and each tenant's
    allocation against the quotas the clusters give it (over the line in bold red)."""
    from rich import box
    from rich.table import Table

    sites = Table(title=f"{plan.name} ({relative(plan.file)}): power per site",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for header, justify in (("site", "left"), ("operator", "left"), ("clusters", "right"),
                            ("kW", "right"), ("budget kW", "right"), ("used", "right")):
        sites.add_column(header, justify=justify)  # type: ignore[arg-type]
    for s in plan.sites:
        budget = s.power_budget_kw
        over = budget is not None and s.power_kw > budget
        sites.add_row(s.name, s.operator or "-", number(len(s.clusters)), number(s.power_kw),
                      "undeclared" if budget is None else number(_round(budget)),
                      "-" if budget is None else percent(s.power_kw, budget, 1),
                      style="bold red" if over else None)
    grants = Table(title=f"{plan.name}: allocations against quotas", title_justify="left",
                   box=box.SIMPLE_HEAD)
    for header, justify in (("tenant", "left"), ("allocated GPUs", "right"),
                            ("quota GPUs", "right"), ("clusters", "right"),
                            ("allocated of quotas", "right")):
        grants.add_column(header, justify=justify)  # type: ignore[arg-type]
    for a in plan.allocations:
        grants.add_row(a.tenant, number(a.gpus), number(a.quota_gpus), number(len(a.clusters)),
                       percent(a.gpus, a.quota_gpus, 1),
                       style="bold red" if a.gpus > a.quota_gpus else None)
    allocated = sum(a.gpus for a in plan.allocations)
    grants.add_section()
    grants.add_row("total", number(allocated), "", "",
                   f"{percent(allocated, plan.gpus, 1)} of {count(plan.gpus, 'GPU')}",
                   style="bold red" if allocated > plan.gpus else "bold")
    return sites, grants


# -- rich tables --------------------------------------------------------------------------------


def _n(value: Any) -> str:
    if value is None:
        return "-"
    return number(value) if isinstance(value, int | float) else str(value)


def _switches(leaf: int | None, spine: int | None, core: int | None,
              complete: bool = True) -> str:
    if leaf is None:
        return "-"
    return f"{number(leaf)}/{number(spine or 0)}/{number(core or 0)}" + \
        ("" if complete else " + ?")


def tables(plan: ClusterPlan) -> tuple[Any, Any]:
    """Two rich Tables of one cluster, each narrow enough for a terminal: capacity and power,
    then the compute fabric; a row per pool and a totals row."""
    from rich import box
    from rich.table import Table

    totals = plan.totals
    share = f" ({percent(totals['powerKW'], totals['powerBudgetKW'])})" \
        if totals["powerShare"] is not None else ""
    capacity = Table(title=f"{plan.name} ({relative(plan.file)}): capacity",
                     title_justify="left", box=box.SIMPLE_HEAD, caption_justify="left",
                     caption=f"power {_n(totals['powerKW'])} kW of "
                             f"{_n(totals['powerBudgetKW'])} kW budget{share}; "
                             f"site {plan.site}, cooling {plan.cooling}")
    for header, justify in (("pool", "left"), ("system", "left"), ("GPUs", "right"),
                            ("nodes", "right"), ("racks", "right"),
                            ("NVLink domains", "right"), ("kW", "right"), ("cooling", "left")):
        capacity.add_column(header, justify=justify)  # type: ignore[arg-type]
    for p in plan.pools:
        capacity.add_row(p.name, p.system, _n(p.gpus), _n(p.nodes), _n(p.racks),
                         f"{_n(p.nvlink_domains)} x {count(p.gpus // p.nvlink_domains, 'GPU')}"
                         if p.nvlink_domains else "0", _n(p.power_kw), p.cooling)
    capacity.add_section()
    capacity.add_row("total", "", _n(totals["gpus"]), _n(totals["nodes"]), _n(totals["racks"]),
                     _n(totals["nvlinkDomains"]), _n(totals["powerKW"]), "", style="bold")

    fabric = Table(title=f"{plan.name}: compute fabric", title_justify="left", box=box.SIMPLE_HEAD)
    for header, justify in (("pool", "left"), ("NIC", "left"), ("rails x Gb/s", "right"),
                            ("NICs", "right"), ("scalable units", "right"),
                            ("RA design", "right"), ("leaf/spine/core", "right")):
        fabric.add_column(header, justify=justify)  # type: ignore[arg-type]
    for p in plan.pools:
        fabric.add_row(p.name, p.nic_model or "-",
                       f"{p.rails} x {_n(p.nic_gbps)}" if p.rails else "-", _n(p.compute_nics),
                       f"{p.scalable_units} x {p.su_size}" if p.scalable_units is not None else "-",
                       _n(p.fabric_design),
                       _switches(p.leaf_switches, p.spine_switches, p.core_switches))
    fabric.add_section()
    fabric.add_row("total", "", "", _n(totals["computeNics"]), _n(totals["scalableUnits"]), "",
                   _switches(totals["leafSwitches"], totals["spineSwitches"],
                             totals["coreSwitches"], totals["switchCountsComplete"]),
                   style="bold")
    return capacity, fabric


def total_table(total: Mapping[str, Any]) -> Any:
    """The grand total as a rich Table: a row per system, then the sum."""
    from rich import box
    from rich.table import Table

    clusters, sites = total["clusters"], total["sites"]
    grid = Table(title=f"total: {count(clusters, 'cluster')} on {count(sites, 'site')}",
                 title_justify="left", box=box.SIMPLE_HEAD)
    for header, justify in (("system", "left"), ("GPUs", "right"), ("nodes", "right"),
                            ("racks", "right"), ("kW", "right")):
        grid.add_column(header, justify=justify)  # type: ignore[arg-type]
    for system, n in total["systems"].items():
        grid.add_row(system, _n(n["gpus"]), _n(n["nodes"]), _n(n["racks"]), _n(n["powerKW"]))
    grid.add_section()
    grid.add_row("total", _n(total["gpus"]), _n(total["nodes"]), _n(total["racks"]),
                 _n(total["powerKW"]), style="bold")
    return grid


def render(plans: Sequence[ClusterPlan], console: Any,
           fleets: Sequence[FleetPlan] = ()) -> None:
    """Print every cluster's table and its notes to a rich Console, then each fleet's sites and
    allocations, then the grand total when there is more than one cluster."""
    for plan in plans:
        for grid in tables(plan):
            console.print(grid)
            console.print()
        for p in plan.pools:
            for note in p.notes:
                console.print(f"  note: {p.name}: {note}", highlight=False)
    if plans and any(p.notes for p in plans[-1].pools) and (fleets or len(plans) > 1):
        console.print()
    for fleet in fleets:
        for grid in fleet_tables(fleet):
            console.print(grid)
            console.print()
    if len(plans) > 1:
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
    fleets: list[FleetPlan] = []
    errors = []
    sources: dict[str, list[str]] = {}
    for result in run_all(files):  # a fleet's clusters come after the fleet's own result
        if result.fleet is not None:
            fleets.append(fleet_plan(result.fleet, result.document.file))
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
                           "fleets": [fleet_json(f) for f in fleets],
                           "total": grand_total(plans),
                           "findings": _findings_json(errors)}, indent=2), code
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color,
                      width=width or 120, highlight=False)
    render(plans, console, fleets)
    text = buffer.getvalue().rstrip("\n")
    if errors:
        text += ("\n" if text else "") + FORMATS["text"](errors, sources, len(files))
    return text, code


def _findings_json(findings: Sequence[Any]) -> list[dict[str, Any]]:
    from aifab.reporters import as_json

    return json.loads(as_json(findings, {}, 0))["findings"]
