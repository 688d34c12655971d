"""Cluster names are unique across a fleet: each names a folder generated/<name>/ and a stack."""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding, format_path
from aifab.fleet.model import Fleet

CODES = {"AF610": "cluster name used twice in the fleet"}


def check(fleet: Fleet) -> Iterator[Finding]:
    seen: dict[str, str] = {}
    for member in fleet.members:
        name = member.cluster.name
        if name in seen:
            yield finding("AF610", f"cluster name '{name}' is already used by {seen[name]}",
                          member.path, hint="each cluster needs its own metadata.name")
        seen.setdefault(name, format_path(member.path))
