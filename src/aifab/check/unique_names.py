"""Node pools, storage classes and tenants each need a name of their own.

Each name becomes one Kubernetes object (a node pool's labels and ResourceFlavor, a
StorageClass, a namespace); a second entry with the same name would silently replace the first.
Names of different kinds may be equal (a tenant may share a pool's name).
"""

from collections.abc import Iterator, Sequence

from aifab.diagnostics import Finding, finding, format_path
from aifab.model import Cluster, NodePool, StorageClass, Tenant

CODES = {
    "AF370": "node pool name used twice",
    "AF371": "storage class name used twice",
    "AF372": "tenant name used twice",
}


def check(cluster: Cluster) -> Iterator[Finding]:
    yield from _duplicates(cluster.node_pools, "AF370", "node pool",
                           "tenant quotas refer to pools by name, so each pool needs its own")
    yield from _duplicates(cluster.storage, "AF371", "storage class",
                           "each entry becomes one StorageClass; rename or merge the entries")
    yield from _duplicates(cluster.tenants, "AF372", "tenant",
                           "each tenant becomes one namespace; rename or merge the tenants")


def _duplicates(entries: Sequence[NodePool | StorageClass | Tenant], code: str, kind: str,
                hint: str) -> Iterator[Finding]:
    first: dict[str, NodePool | StorageClass | Tenant] = {}
    for entry in entries:
        if entry.name in first:
            yield finding(code, f"{kind} name '{entry.name}' is already used by "
                          f"{format_path(first[entry.name].path)}", entry.path + ("name",),
                          hint=hint)
        else:
            first[entry.name] = entry
