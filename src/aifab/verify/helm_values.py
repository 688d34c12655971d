"""Helm values against the chart's default values: a key the chart does not know is an error.

Helm ignores unknown keys silently, so a misspelt key is a setting that never takes effect.
Where the default is an empty map or not a map at all (nodeSelector: {}, env: []), anything
below it is the user's to fill and is not checked. A subchart's values sit under its name: the
catalog names the subchart versions of each release (charts.<chart>.subcharts), and their default
values, when given, are merged under the parent's section for that subchart, as Helm does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path as FsPath
from typing import Any

import yaml

from aifab.catalog import version_tuple
from aifab.diagnostics import Finding, Severity, did_you_mean, format_path

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NAME = re.compile(r"^(?P<chart>.+)-(?P<version>v?\d+\.\d+\.\d+)\.values\.ya?ml$")


class Defaults:
    """Chart default values files named `<chart>-<version>.values.yaml` in a folder."""

    def __init__(self, folder: FsPath) -> None:
        self._files: dict[str, dict[tuple[int, ...], FsPath]] = {}
        for path in sorted(folder.glob("*.values.y*ml")):
            if m := _NAME.match(path.name):
                self._files.setdefault(m["chart"], {})[version_tuple(m["version"])] = path

    def check(self, release: Mapping[str, Any], file: str, notes: list[str]) -> Iterator[Finding]:
        chart, version = str(release["chart"]), str(release["version"])
        versions = self._files.get(chart)
        if not versions:
            notes.append(f"{file}: no default values of chart {chart} given; keys not checked")
            return
        want = version_tuple(version)
        chosen = want if want in versions else min(versions, key=lambda v: _distance(v, want))
        if chosen != want:
            notes.append(f"{file}: values keys of {chart} {version} checked against "
                         f"{versions[chosen].name} (the nearest version given)")
        defaults = dict(_read(versions[chosen]))
        for subchart, sub_version in _subcharts(chart, version).items():
            path = self._files.get(subchart, {}).get(version_tuple(sub_version))
            if path is None:
                notes.append(f"{file}: no default values of subchart {subchart} {sub_version} "
                             "given; its keys are checked against the parent chart's only")
                continue
            defaults[subchart] = _merged(_read(path), defaults.get(subchart) or {})
        yield from _unknown(release.get("values", {}), defaults, ("values",), file, chart)


def _subcharts(chart: str, version: str) -> Mapping[str, str]:
    from aifab.catalog import load_catalog

    return load_catalog().charts.get(chart, {}).get("subcharts", {}).get(version, {})


def _merged(base: Any, over: Any) -> Any:
    """`over` deep-merged onto `base` (maps only; anything else in `over` wins)."""
    if not isinstance(base, Mapping) or not isinstance(over, Mapping):
        return over
    return {**base, **{key: _merged(base.get(key), value) for key, value in over.items()}}


def _distance(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(abs(x - y) for x, y in zip(a, b, strict=False))


@cache
def _read(path: FsPath) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}


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
