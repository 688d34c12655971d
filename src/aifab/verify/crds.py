"""Custom resources against their CRD's openAPIV3Schema, read the way the API server reads it.

The API server's structural schemas differ from plain JSON Schema in three ways handled here:
`nullable: true` admits null; `x-kubernetes-int-or-string` admits an integer or a string;
fields not in the schema are errors (strict field validation) unless the object says
`x-kubernetes-preserve-unknown-fields`. CEL rules (`x-kubernetes-validations`) are not run.
The CRDs are those of the exact chart versions a cluster installs, from the data aifab ships
(chart_data.py); `--crds DIR` adds CRDs for kinds that data lacks.
See https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path as FsPath
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from aifab.diagnostics import Finding, Severity, format_path

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def to_json_schema(node: Any) -> Any:
    """An openAPIV3Schema (structural) -> a strict JSON Schema with API-server semantics."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, Mapping):
        return node
    out = {k: to_json_schema(v) for k, v in node.items()
           if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (node.get("type") == "object" and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    if node.get("x-kubernetes-embedded-resource") and "properties" in out:
        for key in ("apiVersion", "kind", "metadata"):
            out["properties"].setdefault(key, {})
    return out


@dataclass(frozen=True)
class Definition:
    """One CRD as verification needs it: where it came from, and its versions' schemas."""

    origin: str  # "gpu-operator v26.7.0" (shipped data) or the file it was read from
    group: str
    kind: str
    versions: tuple[Mapping[str, Any], ...]  # {"name", "served", "schema"}


class CRDs:
    """Validators by (apiVersion, kind), for every served version of every CRD given."""

    def __init__(self, definitions: Iterable[Definition], searched: str) -> None:
        self._validators: dict[tuple[str, str], Draft202012Validator] = {}
        self._served: dict[str, list[str]] = {}  # kind -> the apiVersions its CRD serves
        self._origin: dict[str, str] = {}
        self._searched = searched  # what was searched, for the message on a missing CRD
        for crd in definitions:
            if crd.kind in self._origin:  # the first one given wins (the exact versions first)
                continue
            self._origin[crd.kind] = crd.origin
            for version in crd.versions:
                if not version.get("served", True):
                    continue
                api = f"{crd.group}/{version['name']}"
                schema = to_json_schema(version.get("schema") or {})
                self._validators[(api, crd.kind)] = Draft202012Validator(schema)
                self._served.setdefault(crd.kind, []).append(api)

    def check(self, data: Mapping[str, Any], file: str) -> Iterator[Finding]:
        api, kind = str(data.get("apiVersion")), str(data.get("kind"))
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        validator = self._validators.get((api, kind))
        if validator is None and kind in self._served:
            yield Finding(file, 1, 1, "AF403", Severity.ERROR,
                          f"the CRD of {kind} ({self._origin[kind]}) does not serve {api} "
                          f"({name})", (),
                          f"the CRD serves {', '.join(self._served[kind])}: the generator and "
                          "the operator version disagree")
            return
        if validator is None:
            yield Finding(file, 1, 1, "AF407", Severity.WARNING,
                          f"{kind} ({api}) objects are not verified: no CRD for them in "
                          f"{self._searched}", (),
                          "pass --crds DIR with the CRD of the operator version that serves "
                          "them (it ships in the chart's crds/ folder)")
            return
        errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
        for error in errors:
            path = tuple(error.absolute_path)
            yield Finding(file, 1, 1, "AF402", Severity.ERROR,
                          f"{kind} {name}: {error.message} at {format_path(path)} "
                          f"(CRD of {self._origin[kind]})", path,
                          "the generated object does not match the CRD of this operator version")


def shipped(releases: Iterable[tuple[str, str]]) -> list[Definition]:
    """The CRDs of exactly these (chart, version) releases, then of the CRD-only companions
    (JobSet, ServiceMonitor, Flux), from the data aifab ships."""
    from aifab.verify import chart_data

    found = [chart_data.find(chart, version) for chart, version in releases]
    return [Definition(data.label, crd["group"], crd["kind"], tuple(crd["versions"]))
            for data in [*filter(None, found), *chart_data.companions()] for crd in data.crds]


@cache
def from_folder(folder: FsPath) -> tuple[Definition, ...]:
    """Every CustomResourceDefinition in the YAML files under `folder`."""
    found = []
    for path in sorted(folder.rglob("*.y*ml")):
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            versions = tuple({"name": v["name"], "served": v.get("served", True),
                              "schema": v.get("schema", {}).get("openAPIV3Schema", {})}
                             for v in spec.get("versions", []))
            found.append(Definition(str(path), spec["group"], spec["names"]["kind"], versions))
    return tuple(found)


@cache
def load(releases: tuple[tuple[str, str], ...], folder: FsPath | None) -> CRDs:
    """The CRDs that verify a cluster: those of the exact chart versions it installs, and for
    kinds these do not define, those of `folder` (--crds)."""
    searched = "the chart data aifab ships for " + (
        ", ".join(f"{c} {v}" for c, v in releases) or "no chart")
    if folder is not None:
        searched += f" or in {folder}"
    return CRDs([*shipped(releases), *(from_folder(folder) if folder else ())], searched)
