"""Node names: one naming scheme per pool, known placeholders, unique and valid node names.

Hostname templates expand per node (aifab.naming); placeholders exist per system (catalog
`placeholders`: {rack}/{tray} only where the catalog knows racks and trays, D3/D4/D7). Node
names must be unique, valid Kubernetes node names (DNS-1123 subdomains).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from aifab.diagnostics import Finding, finding, warning
from aifab.model import Cluster, NodePool
from aifab.naming import DNS_SUBDOMAIN, hostname_problem, hostnames, largest_slot, placeholders

CODES = {
    "AF315": "no hostnames or nodeSelector",
    "AF316": "both hostnames and nodeSelector",
    "AF317": "unknown hostname placeholder",
    "AF318": "hostnames repeat within a pool",
    "AF319": "invalid node name",
    "AF320": "zero padding too narrow",
    "AF321": "hostnames shared by two pools",
}

VALID_NAME = ("node names are DNS-1123 subdomains: parts of at most 63 lower-case letters, "
              "digits and '-', each starting and ending with a letter or digit, joined by '.'")


def _fields(names: Iterable[str]) -> str:
    return ", ".join(f"{{{name}}}" for name in sorted(names))


def _unique_hint(pool: NodePool) -> str:
    hint = "include {node}"
    if {"rack", "tray"} <= pool.system.placeholders:
        hint += " or both {rack} and {tray}"
    return hint + " so that every node gets its own name"


def _names(pool: NodePool, names: list[str]) -> Iterator[Finding]:
    """Duplicates, invalid names and narrow padding within one pool."""
    at = pool.path + ("hostnames",)
    counts = Counter(names) if len(set(names)) < len(names) else None
    if counts is not None:
        duplicate = next(name for name in names if counts[name] > 1)
        yield finding("AF318", f"hostnames '{pool.hostnames}' give {counts[duplicate]} nodes of "
                      f"pool '{pool.name}' the name '{duplicate}' ({len(counts)} distinct names "
                      f"for {len(names)} nodes)", at, hint=_unique_hint(pool))
    valid = DNS_SUBDOMAIN.match  # the fast path, for national pools of 20,000 names
    if problem := next((p for name in names if not valid(name) and (p := hostname_problem(name))),
                       ""):
        yield finding("AF319", f"pool '{pool.name}': {problem}", at, hint=VALID_NAME)
    for field in dict.fromkeys(p for p in placeholders(pool.hostnames) if p.width):
        largest = getattr(largest_slot(pool), field.name) or 0
        digits = len(str(largest))
        if digits > field.width:
            plural = "s" if field.width > 1 else ""
            yield warning("AF320", f"{{{field.name}:0{field.width}d}} pads to {field.width} "
                          f"digit{plural}, but pool '{pool.name}' numbers {field.name}s up to "
                          f"{largest}; names of uneven width sort out of order", at,
                          hint=f"use {{{field.name}:0{digits}d}}")


def check(cluster: Cluster) -> Iterator[Finding]:
    owners: dict[str, str] = {}  # node name -> the first pool that uses it
    for pool in cluster.node_pools:
        at = pool.path + ("hostnames",)
        if pool.hostnames is None:
            if not pool.node_selector:
                yield finding("AF315", f"pool '{pool.name}' has neither hostnames nor "
                              "nodeSelector", pool.path,
                              hint="name the nodes with hostnames (e.g. "
                                   f"\"{pool.name}-{{node:03d}}\") or select existing ones "
                                   "with nodeSelector")
            continue
        if pool.node_selector:
            yield finding("AF316", f"pool '{pool.name}' has both hostnames and nodeSelector", at,
                          hint="keep hostnames to have aifab name the nodes, or nodeSelector "
                               "to select nodes that already carry a label")
        allowed = pool.system.placeholders
        if unknown := {p.name for p in placeholders(pool.hostnames)} - allowed:
            yield finding("AF317", f"hostnames '{pool.hostnames}' use {_fields(unknown)}, which "
                          f"{pool.system.id} does not have", at,
                          hint=f"{pool.system.id} hostnames can use {_fields(allowed)}")
            continue
        names = hostnames(pool)
        yield from _names(pool, names)
        if shared := [name for name in dict.fromkeys(names) if name in owners]:
            yield finding("AF321", f"node name '{shared[0]}' of pool '{pool.name}' is also a "
                          f"name in pool '{owners[shared[0]]}' ({len(shared)} names in common)",
                          at, hint="give each pool's hostnames a distinct prefix")
        for name in names:  # the first pool keeps a name; linear in the cluster's nodes
            owners.setdefault(name, pool.name)
