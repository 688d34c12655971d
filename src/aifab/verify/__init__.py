"""Verify: every generated file is checked before anything is written.

- core Kubernetes objects against the strict schemas of the blueprint's Kubernetes version
  (kubernetes_schemas.py),
- custom resources against the openAPIV3Schema of their CRD (crds.py) and its CEL rules (cel.py),
- Flux HelmReleases against their CRD, and their spec.values against the chart's default values:
  an unknown key is an error (helm_values.py),
both from the data aifab ships for the exact chart versions a cluster installs (chart_data.py);
--crds and --chart-values add what that data lacks, and what neither has is a warning,
- the node pools' NodeFeatureRules: against their CRD like every custom resource, and their
  node names, label keys and values, taints (nodes.py).
Findings name the generated file and the JSON path inside the object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import TYPE_CHECKING

from aifab.diagnostics import Finding
from aifab.expand.common import Output
from aifab.expand.flux import ChartRelease, releases_by_path

if TYPE_CHECKING:
    from aifab.memo import Memo
    from aifab.verify.crds import CRDs
    from aifab.verify.helm_values import Defaults
    from aifab.verify.kubernetes_schemas import Validators

CODES = {
    "AF401": "object not valid for the Kubernetes schema",
    "AF402": "custom resource not valid for its CRD",
    "AF403": "no CRD serves this custom resource",
    "AF404": "Helm values key unknown to the chart",
    "AF406": "node label or taint not valid",
    "AF407": "custom resources not verified (no CRD shipped or given)",
    "AF408": "Helm values not verified (no data for this chart version)",
    "AF409": "a file of --crds or --chart-values cannot be used",
    "AF410": "custom resource breaks a CEL rule of its CRD",
    "AF411": "a CEL rule of a CRD was not evaluated",
}


@dataclass(frozen=True)
class Sources:
    """Folders of CRDs and chart default values for versions aifab ships no data for."""

    crds: FsPath | None = None
    chart_values: FsPath | None = None


def verify(outputs: Iterable[Output], kubernetes_version: str, sources: Sources, folder: str,
           rendered: Mapping[str, bytes] | None = None,
           memo: Memo | None = None) -> tuple[list[Finding], list[str]]:
    """Findings about the outputs of one cluster, and notes on what could not be checked.

    With a `memo` (aifab.memo) and the `rendered` files, an output whose file is byte for
    byte one verified in the previous run of this process is not verified again."""
    from aifab.verify import crds, helm_values, kubernetes_schemas

    outputs = list(outputs)
    charts = releases_by_path(outputs)
    releases = tuple(sorted({(r.chart, r.version) for r in charts.values()}))
    checks = _Checks(kubernetes_schemas.Validators(kubernetes_version),
                     crds.load(releases, sources.crds),
                     helm_values.Defaults(sources.chart_values), charts)
    findings: list[Finding] = list(checks.custom.problems)
    notes: list[str] = []
    unverified: set[str] = set()  # AF407 is said once per kind and cluster
    for out in outputs:
        file = f"{folder}/{out.path}"
        if memo is None or rendered is None:
            found, said = checks.one(out, file)
        else:
            key = ("verified", kubernetes_version, sources, releases, file, rendered[out.path])
            found, said = memo.get(key, lambda out=out, file=file: checks.one(out, file))
        notes += said
        for f in found:
            if f.code == "AF407":
                if f.message in unverified:
                    continue
                unverified.add(f.message)
            findings.append(f)
    return findings, notes


@dataclass(frozen=True)
class _Checks:
    """What verifies one cluster's outputs, each kind of output by its own check."""

    core: Validators
    custom: CRDs
    values: Defaults
    charts: Mapping[str, ChartRelease]  # release outputs by path, read with their sources

    def one(self, out: Output, file: str) -> tuple[list[Finding], list[str]]:
        """The findings about one output, and notes on what could not be checked."""
        from aifab.verify import nodes

        notes: list[str] = []
        if out.kind == "release":  # a Flux HelmRelease: its CRD, then its values
            found = list(self.custom.check(out.data, file))
            found += self.values.check(self.charts[out.path], file, notes)
        elif out.kind == "nodes":  # node syntax assumes the types the CRD promises
            found = list(self.custom.check(out.data, file))
            if not any(f.is_error for f in found):
                found += nodes.check(out.data, file)
        elif out.kind == "document":
            found = []
        elif self.core.knows(out.data):
            found = list(self.core.check(out.data, file))
        else:
            found = list(self.custom.check(out.data, file))
        return found, notes
