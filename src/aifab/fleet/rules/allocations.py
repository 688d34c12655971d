"""National allocations: each tenant's grant is backed by quotas the clusters really give it.

An allocation is a promise to a programme; the clusters' tenant quotas are what Kueue will
admit. A grant larger than the quotas behind it cannot be used, and grants larger than the
fleet's GPUs cannot all be honoured.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from aifab.diagnostics import Finding, did_you_mean, finding
from aifab.fleet.model import Fleet

CODES = {
    "AF611": "allocation for a tenant no cluster has",
    "AF612": "allocation larger than the tenant's quotas",
    "AF613": "allocations larger than the fleet",
    "AF614": "tenant allocated twice",
}


def check(fleet: Fleet) -> Iterator[Finding]:
    quotas: dict[str, dict[str, int]] = defaultdict(dict)  # tenant -> cluster -> GPUs
    for member in fleet.members:
        for tenant in member.cluster.tenants:
            quotas[tenant.name][member.cluster.name] = sum(tenant.quota.values())
    seen: set[str] = set()
    for allocation in fleet.allocations:
        name = allocation.tenant
        if name in seen:
            yield finding("AF614", f"tenant '{name}' has more than one allocation",
                          allocation.path + ("tenant",), hint="merge them into one entry")
            continue
        seen.add(name)
        if name not in quotas:
            yield finding("AF611", f"no cluster of the fleet has a tenant '{name}'",
                          allocation.path + ("tenant",),
                          hint=did_you_mean(name, quotas) or "add the tenant to the clusters "
                          "that serve it, with quotas")
            continue
        given = sum(quotas[name].values())
        if allocation.gpus > given:
            parts = ", ".join(f"{c} {n:,}" for c, n in sorted(quotas[name].items()))
            yield finding("AF612", f"tenant '{name}' is allocated {allocation.gpus:,} GPUs but "
                          f"the clusters give it {given:,} ({parts})", allocation.path + ("gpus",),
                          hint="raise its quotas in the clusters, or lower the allocation")
    total = sum(a.gpus for a in fleet.allocations)
    if fleet.allocations and total > fleet.gpus:
        yield finding("AF613", f"allocations add up to {total:,} GPUs; the fleet has "
                      f"{fleet.gpus:,}", ("spec", "allocations"),
                      hint="allocations cannot exceed the GPUs the clusters provide")
