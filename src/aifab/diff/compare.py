"""Comparing two sides of a cluster: the numbers (GPUs, racks, nodes, power against the
budget), the tenants' quotas, the software versions and the generated objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aifab.diff.fields import FieldChange, object_changes
from aifab.diff.sides import Side, rendered
from aifab.model import Cluster
from aifab.terminal import number, percent

DETAILED = 100  # changed objects per kind whose fields are compared (as many as are listed)


@dataclass(frozen=True, slots=True)
class Row:
    """One number of the table: `scope` is a pool name or "total"."""

    scope: str
    metric: str
    before: float | None
    after: float | None

    @property
    def delta(self) -> float | None:
        if self.before is None and self.after is None:
            return None
        return _clean((self.after or 0) - (self.before or 0))

    @property
    def label(self) -> str:
        return self.metric if self.scope == "total" else f"{self.scope}: {self.metric}"


@dataclass
class ClusterDiff:
    name: str
    status: str  # added | removed | changed | unchanged | invalid
    before: Side | None
    after: Side | None
    rows: list[Row] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    versions: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    objects: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # a changed object's path -> its field changes (at most fields.MAX_FIELDS) and their count
    fields: dict[str, tuple[list[FieldChange], int]] = field(default_factory=dict)

    @property
    def file(self) -> str:
        files = [s.file for s in (self.before, self.after) if s is not None]
        return " -> ".join(dict.fromkeys(files))

    @property
    def kind(self) -> str:
        side = self.after or self.before
        return side.kind if side is not None else "Cluster"


def _clean(value: float) -> float | int:
    value = round(value, 3)
    return int(value) if value == int(value) else value


def _numbers(cluster: Cluster | None) -> dict[tuple[str, str], float | None]:
    if cluster is None:
        return {}
    numbers: dict[tuple[str, str], float | None] = {}
    for pool in cluster.node_pools:
        numbers[(pool.name, "GPUs")] = pool.gpus
        numbers[(pool.name, "racks")] = pool.rack_count
        numbers[(pool.name, "nodes")] = pool.node_count
    racks = [p.rack_count for p in cluster.node_pools if p.rack_count is not None]
    numbers[("total", "GPUs")] = cluster.gpus
    numbers[("total", "racks")] = sum(racks) if racks else None
    numbers[("total", "nodes")] = sum(p.node_count for p in cluster.node_pools)
    numbers[("total", "power kW")] = _clean(cluster.power_kw)
    numbers[("total", "power budget kW")] = _clean(cluster.site.power_budget_kw)
    budget = cluster.site.power_budget_kw
    # one decimal, never rounded onto 100% or 0% it is not (99.96% of the budget is 99.9)
    share = float(percent(cluster.power_kw, budget, 1).rstrip("%")) if budget else None
    numbers[("total", "budget used %")] = share
    return numbers


ALWAYS = {("total", m) for m in ("GPUs", "racks", "nodes", "power kW", "power budget kW",
                                 "budget used %")}


def _rows(before: Cluster | None, after: Cluster | None) -> list[Row]:
    old, new = _numbers(before), _numbers(after)
    keys = list(dict.fromkeys([*new, *old]))
    pools = [k for k in keys if k[0] != "total"]
    totals = [k for k in keys if k[0] == "total"]
    rows = []
    for key in pools + totals:
        row = Row(key[0], key[1], old.get(key), new.get(key))
        if row.before is None and row.after is None:
            continue
        if row.before != row.after or key in ALWAYS:
            rows.append(row)
    return rows


def _tenants(before: Cluster | None, after: Cluster | None) -> list[str]:
    old = {t.name: t for t in before.tenants} if before else {}
    new = {t.name: t for t in after.tenants} if after else {}
    lines = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            lines.append(f"added tenant {name} ({_quota(new[name].quota)})")
        elif name not in new:
            lines.append(f"removed tenant {name} ({_quota(old[name].quota)})")
        else:
            for what, a, b in (("quota", old[name].quota, new[name].quota),
                               ("borrowing limit", old[name].borrowing_limit,
                                new[name].borrowing_limit)):
                for pool in sorted(set(a) | set(b)):
                    if a.get(pool) != b.get(pool):
                        delta = signed((b.get(pool) or 0) - (a.get(pool) or 0))
                        lines.append(f"{name}: {what} {pool} {cell(a.get(pool))} -> "
                                     f"{cell(b.get(pool))} ({delta})")
    return lines


def _quota(quota: Mapping[str, int]) -> str:
    return ", ".join(f"{pool} {number(n)}" for pool, n in sorted(quota.items())) or "no quota"


def _versions(cluster: Cluster | None) -> dict[str, str | None]:
    if cluster is None:
        return {}
    found: dict[str, str | None] = {
        "Kubernetes": cluster.kubernetes.version,
        "GPU Operator": cluster.gpu_operator.version,
        "driver": cluster.gpu_operator.driver_version,
        "Network Operator": cluster.network_operator.version if cluster.network_operator else None,
        "Kueue": cluster.kueue.version if cluster.kueue else None,
    }
    for pool in cluster.node_pools:
        if pool.driver_overridden:
            found[f"driver of pool {pool.name}"] = pool.driver_version
    return found


def _objects(before: Mapping[str, tuple[str, bytes]],
             after: Mapping[str, tuple[str, bytes]]) -> dict[str, dict[str, list[str]]]:
    kinds: dict[str, dict[str, list[str]]] = {}

    def add(kind: str, change: str, path: str) -> None:
        kinds.setdefault(kind, {"added": [], "removed": [], "changed": []})[change].append(path)

    for path in sorted(set(before) | set(after)):
        if path not in before:
            add(after[path][0], "added", path)
        elif path not in after:
            add(before[path][0], "removed", path)
        elif before[path] != after[path]:
            add(after[path][0], "changed", path)
    return dict(sorted(kinds.items()))


def _fields(objects: Mapping[str, Mapping[str, list[str]]],
            before: Mapping[str, tuple[str, bytes]],
            after: Mapping[str, tuple[str, bytes]]) -> dict[str, tuple[list[FieldChange], int]]:
    """The field changes of the changed objects (documents such as SUMMARY.md have none)."""
    found = {}
    for kind, changes in objects.items():
        if kind == "document":
            continue
        for path in changes["changed"][:DETAILED]:
            if (fields := object_changes(before[path][1], after[path][1])) is not None:
                found[path] = fields
    return found


def compare(name: str, before: Side | None, after: Side | None) -> ClusterDiff:
    if any(s is not None and s.kind == "Fleet" for s in (before, after)):
        # a fleet's clusters are compared on their own; the fleet only reports its findings
        invalid = any(s is not None and not s.valid for s in (before, after))
        return ClusterDiff(name, "invalid" if invalid else "unchanged", before, after)
    if before is not None and after is not None and before.valid and after.valid and \
            before.document.data == after.document.data:
        return ClusterDiff(name, "unchanged", before, after)
    invalid = any(s is not None and not s.valid for s in (before, after))
    status = ("invalid" if invalid else "added" if before is None
              else "removed" if after is None else "changed")
    diff = ClusterDiff(name, status, before, after)
    old = before.cluster if before is not None and before.valid else None
    new = after.cluster if after is not None and after.valid else None
    if invalid and before is not None and after is not None:
        return diff  # numbers against an invalid side would mislead
    diff.rows = _rows(old, new)
    diff.tenants = _tenants(old, new)
    a, b = _versions(old), _versions(new)
    diff.versions = [(k, a.get(k), b.get(k)) for k in dict.fromkeys([*b, *a])
                     if a.get(k) != b.get(k) and old is not None and new is not None]
    old_files = rendered(before) if old and before is not None else {}
    new_files = rendered(after) if new and after is not None else {}
    diff.objects = _objects(old_files, new_files)
    diff.fields = _fields(diff.objects, old_files, new_files)
    if status == "changed" and not (diff.objects or diff.tenants or diff.versions or
                                    any(r.before != r.after for r in diff.rows)):
        diff.status = "unchanged"  # e.g. a description or a comment only
    return diff


def cell(value: Any) -> str:
    """A number as a table shows it: '-' where a side has none."""
    if value is None:
        return "-"
    return number(value) if isinstance(value, int | float) else str(value)


def signed(value: float | None) -> str:
    """A change with its sign: +2, -1, 0, +1,152."""
    if value is None:
        return ""
    return f"+{number(value)}" if value > 0 else number(value)
