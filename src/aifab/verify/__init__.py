"""Verify: every generated file is checked before anything is written.

- core Kubernetes objects against the strict schemas of the blueprint's Kubernetes version
  (kubernetes_schemas.py),
- custom resources against the openAPIV3Schema of their CRD (crds.py),
- Helm values against the chart's default values: an unknown key is an error (helm_values.py),
- aifab NodePool files: node names, label keys and values, taints (nodes.py).
Findings name the generated file and the JSON path inside the object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath

from aifab.diagnostics import Finding
from aifab.expand.common import Output

CODES = {
    "AF401": "object not valid for the Kubernetes schema",
    "AF402": "custom resource not valid for its CRD",
    "AF403": "no CRD serves this custom resource",
    "AF404": "Helm values key unknown to the chart",
    "AF405": "no schema for this kind",
    "AF406": "node label or taint not valid",
    "AF407": "custom resources not verified (no CRD given)",
}


@dataclass(frozen=True)
class Sources:
    """Where CRDs and chart default values come from (None: that check is skipped)."""

    crds: FsPath | None = None
    chart_values: FsPath | None = None
    notes: list[str] = field(default_factory=list)


def verify(outputs: Iterable[Output], kubernetes_version: str, sources: Sources,
           folder: str) -> Iterator[Finding]:
    from aifab.verify import crds, helm_values, kubernetes_schemas, nodes

    core = kubernetes_schemas.Validators(kubernetes_version)
    custom = crds.load(sources.crds) if sources.crds else None
    values = helm_values.Defaults(sources.chart_values) if sources.chart_values else None
    for out in outputs:
        file = f"{folder}/{out.path}"
        if out.kind == "release":
            if values is not None:
                yield from values.check(out.data, file, sources.notes)
        elif out.kind == "nodes":
            yield from nodes.check(out.data, file)
        elif out.kind == "document":
            continue
        elif core.knows(out.data):
            yield from core.check(out.data, file)
        elif custom is not None:
            yield from custom.check(out.data, file)
