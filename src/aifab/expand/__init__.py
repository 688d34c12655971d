"""Expand: the resolved cluster -> the files of generated/<cluster>/, built as plain data.

A component module defines `expand(cluster) -> Iterator[Output]`; `components()` finds every
module of this package but the helpers (`common`, `flux`, `svg`), so adding a component is adding a
file. Components never write files or YAML text: `aifab.render` serialises what they return,
once.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

from aifab.expand.common import Output
from aifab.model import Cluster

__all__ = ["Output", "components", "expand"]


HELPERS = {"common", "flux", "svg"}  # modules the components share, not components


@cache
def components() -> tuple[ModuleType, ...]:
    names = sorted(i.name for i in pkgutil.iter_modules(__path__) if i.name not in HELPERS)
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in names)


def expand(cluster: Cluster) -> list[Output]:
    """Every output of every component, sorted by path; two outputs with one path is a bug."""
    outputs: dict[str, Output] = {}
    for component in components():
        for output in component.expand(cluster):
            if output.path in outputs:
                raise ValueError(f"two outputs for {output.path}")  # a programming error
            outputs[output.path] = output
    return [outputs[path] for path in sorted(outputs)]
