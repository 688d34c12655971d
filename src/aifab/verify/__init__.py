"""Verify: every generated file is checked before anything is written.

- core Kubernetes objects against the strict schemas of the blueprint's Kubernetes version
  (kubernetes_schemas.py),
- custom resources against the openAPIV3Schema of their CRD (crds.py),
- Helm values against the chart's default values: an unknown key is an error (helm_values.py),
- aifab NodePool files: node names, label keys and values, taints (nodes.py).
Findings name the generated file and the JSON path inside the object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path as FsPath

from aifab.diagnostics import Finding
from aifab.expand.common import Output

CODES = {
    "AF401": "object not valid for the Kubernetes schema",
    "AF402": "custom resource not valid for its CRD",
    "AF403": "no CRD serves this custom resource",
    "AF404": "Helm values key unknown to the chart",
    "AF406": "node label or taint not valid",
    "AF407": "custom resources not verified (no CRD given)",
}


@dataclass(frozen=True)
class Sources:
    """Where CRDs and chart default values come from (None: that check is skipped)."""

    crds: FsPath | None = None
    chart_values: FsPath | None = None


def verify(outputs: Iterable[Output], kubernetes_version: str, sources: Sources,
           folder: str) -> tuple[list[Finding], list[str]]:
    """Findings about the outputs of one cluster, and notes on what could not be checked."""
    from aifab.verify import crds, helm_values, kubernetes_schemas, nodes

    core = kubernetes_schemas.Validators(kubernetes_version)
    custom = crds.load(sources.crds) if sources.crds else None
    values = helm_values.Defaults(sources.chart_values) if sources.chart_values else None
    findings: list[Finding] = []
    notes: list[str] = []
    unverified: set[str] = set()  # AF407 is said once per kind and cluster
    for out in outputs:
        file = f"{folder}/{out.path}"
        if out.kind == "release":
            if values is not None:
                findings += values.check(out.data, file, notes)
        elif out.kind == "nodes":
            findings += nodes.check(out.data, file)
        elif out.kind == "document":
            continue
        elif core.knows(out.data):
            findings += core.check(out.data, file)
        elif custom is not None:
            for f in custom.check(out.data, file):
                if f.code != "AF407" or f.message not in unverified:
                    unverified.add(f.message)
                    findings.append(f)
    return findings, notes
