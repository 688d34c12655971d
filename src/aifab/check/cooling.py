"""Cooling: liquid-cooled systems need a liquid-cooled hall.

GB200 and GB300 NVL72 racks are direct liquid cooled (catalog `cooling`, sources D6/D4; facts
rule 10). Air-cooled and OEM-choice systems may stand in a liquid hall (hybrid halls).
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding
from aifab.model import Cluster

CODES = {"AF323": "liquid-cooled system on an air-cooled site"}


def check(cluster: Cluster) -> Iterator[Finding]:
    if cluster.site.cooling != "air":
        return
    air_ok = ", ".join(s.id for s in cluster.catalog.systems.values() if s.cooling != "liquid")
    for pool in cluster.node_pools:
        if pool.system.cooling == "liquid":
            note = pool.system.facts["cooling"].note.rstrip(".")
            yield finding(
                "AF323",
                f"pool '{pool.name}': {pool.system.id} is liquid-cooled"
                f"{f' ({note})' if note else ''}, but site '{cluster.site.name}' has cooling: air",
                pool.path + ("system",),
                hint="set site cooling: liquid if the hall has liquid cooling; otherwise use an "
                     f"air- or OEM-cooled system ({air_ok})",
            )
