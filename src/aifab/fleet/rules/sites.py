"""Site power: the clusters standing on one site draw no more than the site's budget.

Each cluster's own powerBudgetKW is its hall's cap; `spec.sites[].powerBudgetKW` caps the
site (campus substation) that several halls share.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from aifab.diagnostics import Finding, did_you_mean, finding, warning
from aifab.fleet.model import Fleet, FleetMember

CODES = {
    "AF615": "site power budget exceeded",
    "AF616": "cluster on a site the fleet does not declare",
    "AF617": "site declared twice",
}


def check(fleet: Fleet) -> Iterator[Finding]:
    by_site: dict[str, list[FleetMember]] = defaultdict(list)
    for member in fleet.members:
        by_site[member.cluster.site.name].append(member)
    declared = {}
    for site in fleet.sites:
        if site.name in declared:
            yield finding("AF617", f"site '{site.name}' is declared twice", site.path + ("name",),
                          hint="keep one entry per site")
            continue
        declared[site.name] = site
        members = by_site.get(site.name, [])
        draw = sum(m.cluster.power_kw for m in members)
        if draw > site.power_budget_kw:
            parts = ", ".join(f"{m.cluster.name} {m.cluster.power_kw:,.1f} kW" for m in members)
            yield finding("AF615", f"clusters on site '{site.name}' draw {draw:,.1f} kW; the site "
                          f"budget is {site.power_budget_kw:,.1f} kW ({parts})",
                          site.path + ("powerBudgetKW",),
                          hint="move a cluster to another site, shrink pools, or raise the budget")
    if fleet.sites:
        for name, members in sorted(by_site.items()):
            if name not in declared:
                yield warning("AF616", f"cluster '{members[0].cluster.name}' stands on site "
                              f"'{name}', which spec.sites does not declare: its power is not "
                              "checked against a site budget", members[0].path,
                              hint=did_you_mean(name, declared) or f"declare site '{name}'")
