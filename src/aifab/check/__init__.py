"""Check: semantic rules over the resolved model and the catalog, one module per concern.

A rule module defines `CODES` ({code: title}) and `check(cluster) -> Iterator[Finding]`.
Adding a rule is adding a module here; `rules()` finds it, and a meta-test insists on fixtures.
A module with `PRECONDITION = True` runs first, and when it reports an error the other rules
do not run (cluster_size: rules that work per node must not start on 10^8 nodes).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from aifab.diagnostics import Finding
from aifab.model import Cluster


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    summary: str
    codes: dict[str, str]
    check: Callable[[Cluster], Iterator[Finding]]
    precondition: bool = False


@cache
def rules() -> tuple[Rule, ...]:
    """Every rule module of this package, in name order (so output order never depends on I/O)."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module: ModuleType = importlib.import_module(f"{__name__}.{info.name}")
        summary = (module.__doc__ or "").strip().splitlines()[0]
        found.append(Rule(info.name, summary, dict(module.CODES), module.check,
                          getattr(module, "PRECONDITION", False)))
    return tuple(found)


def check(cluster: Cluster) -> Iterator[Finding]:
    first = [f for rule in rules() if rule.precondition for f in rule.check(cluster)]
    yield from first
    if any(f.is_error for f in first):
        return
    for rule in rules():
        if not rule.precondition:
            yield from rule.check(cluster)
