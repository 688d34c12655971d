"""Helm values against the chart's default values: a key the chart does not know is an error.

Helm ignores unknown keys silently, so a misspelt key is a setting that never takes effect.
Where the default is an empty map or not a map at all (nodeSelector: {}, env: []), anything
below it is the user's to fill and is not checked. The shipped data of a chart version
(data/charts, tools/chart_data.py) has its subcharts' values merged under their names, as Helm
does, so `node-feature-discovery.image` is a key of the GPU Operator's values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path as FsPath
from typing import Any

from aifab.catalog import version_tuple
from aifab.diagnostics import Finding, Severity, did_you_mean, format_path
from aifab.expand.flux import ChartRelease

VALUES = ("spec", "values")  # where a Flux HelmRelease holds its values
_NAME = re.compile(r"^(?P<chart>.+)-(?P<version>v?\d+\.\d+\.\d+)\.values\.ya?ml$")


class Defaults:
    """Default values of the exact chart version of a release: the data aifab ships, else a file
    `<chart>-<version>.values.yaml` of the --chart-values folder. No nearer version stands in:
    its keys are not this version's (v26.7.0 has keys v26.3.0 lacks)."""

    def __init__(self, folder: FsPath | None = None) -> None:
        self._folder = folder
        self._files: dict[str, dict[tuple[int, ...], FsPath]] = {}
        for path in sorted(folder.glob("*.values.y*ml")) if folder else ():
            if m := _NAME.match(path.name):
                self._files.setdefault(m["chart"], {})[version_tuple(m["version"])] = path

    def check(self, release: ChartRelease, file: str, notes: list[str]) -> Iterator[Finding]:
        """Findings about the spec.values of a HelmRelease (read with its source)."""
        from aifab.verify import chart_data

        chart, version = release.chart, release.version
        shipped = chart_data.find(chart, version)
        if shipped is not None and shipped.values is not None:
            defaults = shipped.values
        elif (path := self._files.get(chart, {}).get(_version_or_none(version))) is not None:
            defaults, problem = read(path, self._folder)
            if problem is not None:
                yield problem
                return
            if unchecked := sorted(chart_data.subchart_names(chart) & set(defaults or {})):
                # a chart's own values.yaml lacks its subcharts' keys: below them, nothing is
                # checked (an empty default is the user's to fill, see _unknown)
                defaults = {**defaults, **{name: {} for name in unchecked}}
                notes.append(f"{file}: values below {', '.join(unchecked)} (subcharts of "
                             f"{chart} {version}) not checked: {path.name} holds the parent's "
                             "keys only")
        else:
            given = f" nor in {self._folder}" if self._folder else ""
            yield Finding(file, 1, 1, "AF408", Severity.WARNING,
                          f"Helm values of chart {chart} {version} are not verified: aifab "
                          f"ships no data for this version{given}", ("spec",),
                          f"pass --chart-values DIR holding {chart}-{version}.values.yaml (the "
                          "chart's values.yaml) to check its keys")
            return
        yield from _unknown(release.values, defaults, VALUES, file, chart)


def _version_or_none(version: str) -> tuple[int, ...] | None:
    try:
        return version_tuple(version)
    except ValueError:
        return None


@cache
def read(path: FsPath, folder: FsPath | None) -> tuple[Any, Finding | None]:
    """A default values file as untrusted input (files.py): its data, or a finding."""
    from aifab.verify import files

    try:
        docs = files.documents(path, folder)
    except files.Refused as refused:
        return None, refused.finding
    data = docs[0][1] if docs else None
    if len(docs) > 1 or not isinstance(data, (Mapping, type(None))):
        return None, Finding(str(path), docs[1][0] if len(docs) > 1 else 1, 1, "AF409",
                             Severity.ERROR, "a chart values file aifab cannot use: it is not "
                             "one YAML mapping", (), "use the chart's values.yaml as it ships")
    return data or {}, None


def _unknown(values: Any, defaults: Any, path: tuple[str, ...], file: str,
             chart: str) -> Iterator[Finding]:
    if not isinstance(values, Mapping) or not isinstance(defaults, Mapping) or not defaults:
        return
    for key in sorted(values):
        if key not in defaults:
            yield Finding(file, 1, 1, "AF404", Severity.ERROR,
                          f"chart {chart} has no values key {format_path(path + (key,))}",
                          path + (key,), did_you_mean(key, defaults) or
                          "Helm would ignore it silently; check the chart's values.yaml")
        else:
            yield from _unknown(values[key], defaults[key], path + (key,), file, chart)
