"""The chart data aifab ships: CRD schemas, default values and image inventories of the exact
chart versions the catalog accepts (src/aifab/data/charts/<chart>/<version>.json, derived from
the upstream tags by tools/chart_data.py, each file naming its repository, tag and commit)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from aifab.catalog import version_tuple

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")  # no separators, no leading dot


@dataclass(frozen=True)
class ChartData:
    chart: str
    version: str
    app_version: str | None
    values: Any  # default values, subcharts merged under their names (None: CRDs only)
    images: tuple[Mapping[str, Any], ...]
    crds: tuple[Mapping[str, Any], ...]
    subcharts: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.chart} {self.version}"


def _root() -> Any:
    return resources.files("aifab") / "data" / "charts"


@cache
def find(chart: str, version: str) -> ChartData | None:
    """The data of exactly this chart version (a leading "v" aside), None when not shipped."""
    if not _NAME.match(chart) or not _NAME.match(version):
        return None
    bare = version.removeprefix("v")
    for name in dict.fromkeys((version, bare, "v" + bare)):
        entry = _root() / chart / f"{name}.json"
        if entry.is_file():
            return _read(entry)
    return None


@cache
def subchart_names(chart: str) -> frozenset[str]:
    """The subcharts of any shipped version of `chart`: where a values file of another version
    has them, their keys cannot be checked from the parent's file alone."""
    folder = _root() / chart
    if not _NAME.match(chart) or not folder.is_dir():
        return frozenset()
    return frozenset(name for entry in folder.iterdir() if entry.name.endswith(".json")
                     for name in _read(entry).subcharts)


@cache
def companions() -> tuple[ChartData, ...]:
    """CRD-only data (JobSet, ServiceMonitor, Flux): kinds aifab's users and tools create whose
    controllers no chart aifab installs brings; the newest shipped version of each."""
    found = []
    for folder in sorted(_root().iterdir(), key=lambda e: e.name):
        versions = [e.name[:-5] for e in folder.iterdir() if e.name.endswith(".json")]
        if not versions:
            continue
        newest = find(folder.name, max(versions, key=version_tuple))
        if newest is not None and newest.values is None:
            found.append(newest)
    return tuple(found)


def _read(entry: Any) -> ChartData:
    data = json.loads(entry.read_text(encoding="utf-8"))
    return ChartData(data["chart"], data["version"], data.get("appVersion"), data.get("values"),
                     tuple(data.get("images", ())), tuple(data.get("crds", ())),
                     data.get("subcharts") or {})
