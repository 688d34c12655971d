"""Fleet rules: what no single cluster can check. Each module: `CODES` and `check(fleet)`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from functools import cache
from types import ModuleType

from aifab.diagnostics import Finding
from aifab.fleet.model import Fleet


@cache
def rules() -> tuple[ModuleType, ...]:
    names = sorted(i.name for i in pkgutil.iter_modules(__path__))
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in names)


def check_fleet(fleet: Fleet) -> Iterator[Finding]:
    for rule in rules():
        yield from rule.check(fleet)
