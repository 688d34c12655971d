"""Fleets: shared defaults, national allocations and site budgets over several clusters.

compose.py merges each cluster over the fleet's defaults (with provenance), model.py holds the
resolved fleet, rules/ checks what no single cluster can: names, allocations, site power.
"""

from aifab.fleet.compose import members
from aifab.fleet.model import resolve_fleet
from aifab.fleet.rules import check_fleet

__all__ = ["check_fleet", "members", "resolve_fleet"]
