"""Policies: security guarantees every generated cluster keeps, checked on every generate.

The schemas say an object is well formed; these say it is safe to apply to a shared, sovereign
GPU cluster. A policy module defines `CODES` ({code: title}), `check(ctx) -> Iterator[Finding]`
over all outputs of one cluster (a `_context.Context`), and a docstring whose first line says
what it guarantees, followed by its reason ("Why:") and its fix ("Fix:"). Adding a policy is
adding a module here; `policies()` finds it (modules whose name starts with `_` are shared
code), a meta-test insists on fixtures (tests/fixtures/policies/) and on its section in
docs/policies.md.

Pod specs are found wherever they sit (any mapping with a `containers` list), so a Deployment,
a CronJob's job template or a custom resource embedding a pod template are all covered. Helm
release values are not pods (the chart renders them), so the pod, namespace and network
policies skip releases; the image, mirror, pin and secret policies read them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

from aifab.diagnostics import Finding
from aifab.expand.common import Output
from aifab.model import Cluster
from aifab.verify.policies._context import Context

if TYPE_CHECKING:
    from aifab.memo import Memo


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    summary: str
    doc: str
    codes: dict[str, str]
    check: Callable[[Context], Iterator[Finding]]


@cache
def modules() -> tuple[ModuleType, ...]:
    """Every policy module of this package, ordered by their lowest code (the order findings
    come in never depends on I/O or on module names)."""
    found = [importlib.import_module(f"{__name__}.{info.name}")
             for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")]
    return tuple(sorted(found, key=lambda module: min(module.CODES)))


@cache
def policies() -> tuple[Policy, ...]:
    found = []
    for module in modules():
        doc = inspect.cleandoc(module.__doc__ or "")
        found.append(Policy(module.__name__.rpartition(".")[2], doc.splitlines()[0], doc,
                            dict(module.CODES), module.check))
    return tuple(found)


CODES = {code: title for policy in policies() for code, title in policy.codes.items()}


def check(outputs: Sequence[Output], cluster: Cluster, folder: str,
          rendered: Mapping[str, bytes] | None = None,
          memo: Memo | None = None) -> Iterator[Finding]:
    """Every policy over all outputs of one cluster; findings name `folder/<output path>`.
    With a `memo` (aifab.memo) and the `rendered` files, a file seen byte for byte in the
    previous run is not scanned for credentials again."""
    ctx = Context(tuple(outputs), cluster, folder, rendered, memo)
    for policy in policies():
        yield from policy.check(ctx)
