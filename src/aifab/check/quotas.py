"""Tenant GPU quotas name existing pools and fit inside them.

Quotas are Kueue nominal quotas in whole GPUs per node pool (docs/blueprint.md,
spec.tenants[].quota): the tenants' quotas on a pool may not add up to more GPUs than the
pool has, and a pool no tenant holds quota on cannot be reached through Kueue at all.
"""

from collections.abc import Iterator

from aifab.diagnostics import Finding, did_you_mean, finding, one_of, warning
from aifab.model import Cluster, NodePool

CODES = {
    "AF376": "quota for a pool that does not exist",
    "AF377": "quotas exceed the pool's GPUs",
    "AF378": "pool without quota",
    "AF379": "borrowing limit above the pool's GPUs",
}


def check(cluster: Cluster) -> Iterator[Finding]:
    names = [pool.name for pool in cluster.node_pools]
    for tenant in cluster.tenants:
        for field, limits in (("quota", tenant.quota), ("borrowingLimit", tenant.borrowing_limit)):
            for name, gpus in limits.items():
                pool = cluster.pool(name)
                path = tenant.path + (field, name)
                if pool is None:
                    yield finding("AF376", f"tenant '{tenant.name}' has a {field} on pool "
                                  f"'{name}', but there is no such pool", path,
                                  hint=did_you_mean(name, names) or f"pools: {one_of(names)}")
                elif field == "borrowingLimit" and gpus > pool.gpus:
                    yield warning("AF379", f"tenant '{tenant.name}' may borrow {gpus:,} GPUs on "
                                  f"pool '{name}', which has only {_capacity(pool)}", path,
                                  hint="a limit above the pool never binds; at most "
                                  f"{max(pool.gpus - tenant.quota.get(name, 0), 0):,} (the pool "
                                  "minus the tenant's quota) can ever be borrowed")
    if not cluster.tenants:
        return
    for pool in cluster.node_pools:
        shares = {t.name: t.quota[pool.name] for t in cluster.tenants if t.quota.get(pool.name)}
        total = sum(shares.values())
        if total > pool.gpus:
            each = ", ".join(f"{name} {gpus:,}" for name, gpus in shares.items())
            yield finding("AF377", f"tenant quotas on pool '{pool.name}' add up to {total:,} GPUs "
                          f"({each}); the pool has {_capacity(pool)}", pool.path,
                          hint=f"lower the quotas by {total - pool.gpus:,} GPUs or grow the pool; "
                          "borrowingLimit lets tenants use idle GPUs beyond their quota")
        elif total == 0:
            yield warning("AF378", f"no tenant has a quota on pool '{pool.name}': its "
                          f"{_capacity(pool)} are unreachable through Kueue", pool.path,
                          hint="give at least one tenant a quota on it (others can borrow it "
                          "through the cohort)")


def _capacity(pool: NodePool) -> str:
    if pool.racks is not None and pool.system.gpus_per_rack:
        return f"{pool.gpus:,} GPUs ({pool.rack_count} racks x {pool.system.gpus_per_rack})"
    return f"{pool.gpus:,} GPUs ({pool.node_count} nodes x {pool.system.gpus_per_node})"
