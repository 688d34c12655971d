"""Generate: validated blueprints -> verified, rendered cluster folders, written or checked.

Everything is built in memory first; files are written only when every blueprint validated
and every generated object verified, so a run with any error writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath

from aifab.diagnostics import Finding, Severity, sorted_unique
from aifab.pipeline import Result, flatten, run
from aifab.render import Drift, drift, render, write_cluster
from aifab.verify import Sources, verify

CODES = {
    "AF420": "two blueprints generate the same cluster folder",
}


@dataclass
class Plan:
    """What a generate run would write: cluster name -> files, with all findings and notes."""

    out: FsPath
    results: list[Result] = field(default_factory=list)
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.is_error for f in self.findings)


def plan(blueprints: Sequence[FsPath], out: FsPath, sources: Sources) -> Plan:
    from aifab.expand import expand

    result = Plan(out)
    owners: dict[str, str] = {}
    for outcome in flatten(run(path) for path in blueprints):
        result.results.append(outcome)
        result.findings.extend(outcome.findings)
        cluster = outcome.cluster
        if cluster is None or not outcome.ok:
            continue
        if cluster.name in owners:
            result.findings.append(outcome.document.place(Finding(
                "", 0, 0, "AF420", Severity.ERROR,
                f"cluster {cluster.name} is also defined in {owners[cluster.name]}; both would "
                f"generate {out / cluster.name}", ("metadata", "name"),
                "give each blueprint its own metadata.name")))
            continue
        owners[cluster.name] = outcome.document.file
        outputs = expand(cluster)
        folder = str(out / cluster.name)
        result.findings.extend(verify(outputs, cluster.kubernetes.version, sources, folder))
        result.files[cluster.name] = render(
            outputs,
            blueprint=_relative(FsPath(outcome.document.file), out),
            blueprint_data=outcome.document.data,
            catalog_version=cluster.catalog.version,
        )
    result.findings = sorted_unique(result.findings)
    if sources.crds is None:
        result.notes.append("custom resources were not verified: pass --crds DIR (README, "
                            "'Verification')")
    if sources.chart_values is None:
        result.notes.append("Helm values keys were not checked: pass --chart-values DIR")
    result.notes.extend(sources.notes)
    return result


def _relative(blueprint: FsPath, out: FsPath) -> str:
    """The blueprint as seen from the repository root (out's parent): stable across cwd."""
    return FsPath(os.path.relpath(blueprint.resolve(), out.resolve().parent)).as_posix()


def write(result: Plan) -> dict[str, bool]:
    """Write every cluster folder; name -> whether it changed."""
    return {name: write_cluster(result.out, name, files) for name, files in sorted(result.files.items())}


def check(result: Plan, *, all_clusters: bool) -> list[Drift]:
    """Drift of every planned cluster folder; with `all_clusters`, folders no blueprint makes too."""
    drifts = [drift(result.out / name, files) for name, files in sorted(result.files.items())]
    if all_clusters and result.out.is_dir():
        known = set(result.files)
        for folder in sorted(p for p in result.out.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if folder.name not in known:
                orphan = Drift(folder)
                orphan.extra.append("(the whole folder: no blueprint generates it)")
                drifts.append(orphan)
    return drifts
