"""The resolved fleet: its sites, allocations and member clusters (each a resolved Cluster)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aifab.diagnostics import Path
from aifab.model import Cluster


@dataclass(frozen=True, slots=True)
class FleetSite:
    path: Path
    name: str
    power_budget_kw: float
    operator: str


@dataclass(frozen=True, slots=True)
class Allocation:
    path: Path
    tenant: str
    gpus: int
    description: str


@dataclass(frozen=True, slots=True)
class FleetMember:
    path: Path  # spec.clusters[i] in the fleet file
    cluster: Cluster


@dataclass(frozen=True, slots=True)
class Fleet:
    name: str
    description: str
    sites: tuple[FleetSite, ...]
    allocations: tuple[Allocation, ...]
    members: tuple[FleetMember, ...]

    @property
    def gpus(self) -> int:
        return sum(m.cluster.gpus for m in self.members)

    @property
    def power_kw(self) -> float:
        return sum(m.cluster.power_kw for m in self.members)


def resolve_fleet(data: Mapping[str, Any], clusters: Sequence[tuple[int, Cluster]]) -> Fleet:
    spec = data["spec"]
    return Fleet(
        name=data["metadata"]["name"],
        description=data["metadata"].get("description", ""),
        sites=tuple(
            FleetSite(("spec", "sites", i), s["name"], float(s["powerBudgetKW"]), s.get("operator", ""))
            for i, s in enumerate(spec.get("sites", []))
        ),
        allocations=tuple(
            Allocation(("spec", "allocations", i), a["tenant"], a["gpus"], a.get("description", ""))
            for i, a in enumerate(spec.get("allocations", []))
        ),
        members=tuple(FleetMember(("spec", "clusters", i), c) for i, c in clusters),
    )
