"""Power: all pools fit the site's power budget, and every rack fits the rack power limit.

Catalog maxima per node or per NVL72 rack (DGX B200 14.3 kW, D1; DGX B300 ~14 kW, D7; GB200
NVL72 up to 132 kW, S/D6; GB300 NVL72 up to 142 kW, D4; facts rule 10). Values the catalog
marks unverified are called estimates in the messages.
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.catalog import System
from aifab.diagnostics import Finding, finding
from aifab.model import Cluster, NodePool

CODES = {
    "AF325": "site power budget exceeded",
    "AF326": "rack power limit exceeded",
}


def _kw(value: float) -> str:
    return f"{value:,.1f}".removesuffix(".0") + " kW"


def _per_rack(system: System) -> bool:
    """Whether the catalog powers the system by the rack (as System.power_kw does)."""
    return system.power_kw_per_rack is not None and bool(system.nodes_per_rack)


def _estimate(system: System) -> str:
    fact = system.facts["powerKWPerRack" if _per_rack(system) else "powerKWPerNode"]
    return "" if fact.verified else ", an estimate"


def _share(pool: NodePool) -> str:
    system = pool.system
    if _per_rack(system):
        basis = f"{pool.rack_count} racks x {_kw(system.power_kw_per_rack)}"
    else:
        basis = f"{pool.node_count} nodes x {_kw(system.power_kw_per_node)}"
    return f"{pool.name} {_kw(pool.power_kw)} ({basis}{_estimate(system)})"


def _rack_draw(pool: NodePool) -> tuple[float, str]:
    """The most one rack of the pool draws, and what that is: an NVL72 rack or servers.

    Servers fill racks of the catalog's nodesPerRack; where the catalog does not know it, only
    a single server is sure to share a rack with nothing else of the pool.
    """
    system = pool.system
    if _per_rack(system):
        return system.power_kw_per_rack, f"one {system.id} rack draws"
    nodes = min(pool.node_count, system.nodes_per_rack or 1)
    if nodes == 1:
        return system.power_kw_per_node, f"one {system.id} node draws"
    return nodes * system.power_kw_per_node, f"{nodes} {system.id} nodes in one rack draw"


def check(cluster: Cluster) -> Iterator[Finding]:
    site = cluster.site
    total = cluster.power_kw
    if total > site.power_budget_kw:
        shares = ", ".join(_share(pool) for pool in cluster.node_pools)
        yield finding(
            "AF325",
            f"the node pools draw up to {_kw(total)}; the site budget is "
            f"{_kw(site.power_budget_kw)}. By pool: {shares}",
            ("spec", "site", "powerBudgetKW"),
            hint=f"shrink the pools by {_kw(total - site.power_budget_kw)}, or raise "
                 "powerBudgetKW if the hall can supply it",
        )
    limit = site.rack_power_limit_kw
    if limit is None:
        return
    for pool in cluster.node_pools:
        if pool.node_count == 0:
            continue
        draw, what = _rack_draw(pool)
        if draw <= limit:
            continue
        hint = "raise rackPowerLimitKW if the racks can be fed more"
        per_node = pool.system.power_kw_per_node
        if per_node and per_node <= limit:
            hint += f", or plan racks of at most {int(limit // per_node)} nodes"
        yield finding(
            "AF326",
            f"pool '{pool.name}': {what} up to {_kw(draw)}{_estimate(pool.system)}; the site "
            f"allows {_kw(limit)} per rack (rackPowerLimitKW)",
            pool.path + ("system",),
            hint=hint,
        )
