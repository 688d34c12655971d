"""Custom resources against their CRD's openAPIV3Schema, read the way the API server reads it.

The API server's structural schemas differ from plain JSON Schema in three ways handled here:
`nullable: true` admits null; `x-kubernetes-int-or-string` admits an integer or a string;
fields not in the schema are errors (strict field validation) unless the object says
`x-kubernetes-preserve-unknown-fields`. The CEL rules (`x-kubernetes-validations`) of an
object that passes are run by cel.py.
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

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError

from aifab.diagnostics import Finding, Severity, format_path
from aifab.verify.plain import Plain


def to_json_schema(node: Any) -> Any:
    """An openAPIV3Schema (structural) -> a strict JSON Schema with API-server semantics."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, Mapping):
        return node
    out = {k: to_json_schema(v) for k, v in node.items()  # no "$ref": nothing is fetched
           if not k.startswith(("x-kubernetes-", "$")) and k != "nullable"}
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


_ITEMS = Draft202012Validator.VALIDATORS["items"]


def _items(validator: Any, items: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    """jsonschema's `items`, with a fast path for long lists of scalars (a NodeFeatureRule names
    thousands of hostnames): when the item schema is only a `type` and every item has it, there
    is nothing to report; otherwise jsonschema's own keyword gives the errors and their paths."""
    if (isinstance(items, Mapping) and items.keys() == {"type"} and "prefixItems" not in schema
            and validator.is_type(instance, "array")):
        if items["type"] == "string":  # jsonschema's own test for "string"
            if all(isinstance(item, str) for item in instance):
                return
        else:
            types = items["type"] if isinstance(items["type"], list) else [items["type"]]
            if all(any(validator.is_type(item, t) for t in types) for item in instance):
                return
    yield from _ITEMS(validator, items, instance, schema)


CRDValidator = validators.extend(Draft202012Validator, {"items": _items})


@dataclass(frozen=True)
class Definition:
    """One CRD as verification needs it: where it came from, and its versions' schemas."""

    origin: str  # "gpu-operator v26.7.0" (shipped data) or the file it was read from
    group: str
    kind: str
    versions: tuple[Mapping[str, Any], ...]  # {"name", "served", "schema"}


class CRDs:
    """Validators by (apiVersion, kind), for every served version of every CRD given."""

    def __init__(self, definitions: Iterable[Definition], searched: str,
                 problems: Iterable[Finding] = ()) -> None:
        self.problems = tuple(problems)  # files of --crds that cannot be used
        self._validators: dict[tuple[str, str], Any] = {}
        self._plain: dict[tuple[str, str], Plain] = {}
        self._schemas: dict[tuple[str, str], Mapping[str, Any]] = {}  # with the CEL rules
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
                self._schemas[(api, crd.kind)] = version.get("schema") or {}
                self._served.setdefault(crd.kind, []).append(api)

    def check(self, data: Mapping[str, Any], file: str) -> Iterator[Finding]:
        api, kind = str(data.get("apiVersion")), str(data.get("kind"))
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        validator = self._validator(api, kind)
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
        errors = [] if self._plain[(api, kind)].valid(data) else sorted(  # fast when valid
            validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
        for error in errors:
            path = tuple(error.absolute_path)
            yield Finding(file, 1, 1, "AF402", Severity.ERROR,
                          f"{kind} {name}: {error.message} at {format_path(path)} "
                          f"(CRD of {self._origin[kind]})", path,
                          "the generated object does not match the CRD of this operator version")
        if not errors:  # CEL rules assume the types the schema promises
            yield from self._rules(self._schemas[(api, kind)], data, file, kind, name)

    def _validator(self, api: str, kind: str) -> Any:
        """Compiled on first use, with its Plain verdict: a cluster uses a few of the CRDs
        its charts bring."""
        if (api, kind) not in self._validators and (api, kind) in self._schemas:
            validator = CRDValidator(to_json_schema(self._schemas[(api, kind)]))
            self._validators[(api, kind)] = validator
            # `items` is _items, jsonschema's own with a fast path: the same meaning
            self._plain[(api, kind)] = Plain(validator, same=frozenset({"items"}))
        return self._validators.get((api, kind))

    def _rules(self, schema: Mapping[str, Any], data: Mapping[str, Any], file: str, kind: str,
               name: Any) -> Iterator[Finding]:
        from aifab.verify import cel

        for path, evaluated, message in cel.violations(schema, cel.with_defaults(schema, data)):
            where = f"{kind} {name} at {format_path(path)} (CRD of {self._origin[kind]})"
            if evaluated:
                yield Finding(file, 1, 1, "AF410", Severity.ERROR, f"{where}: {message}", path,
                              "the API server would refuse this object: the CRD's "
                              "x-kubernetes-validations rule fails")
            else:
                yield Finding(file, 1, 1, "AF411", Severity.WARNING,
                              f"{where}: a CEL rule was not evaluated: {message}", path,
                              "check this rule by hand (or with a dry run against the cluster)")


def shipped(releases: Iterable[tuple[str, str]], companions: bool = True) -> list[Definition]:
    """The CRDs of exactly these (chart, version) releases, then (with `companions`) of the
    CRD-only companions (JobSet, ServiceMonitor, Flux), from the data aifab ships."""
    from aifab.verify import chart_data

    found = [*filter(None, (chart_data.find(chart, version) for chart, version in releases))]
    if companions:
        found += chart_data.companions()
    return [Definition(data.label, crd["group"], crd["kind"], tuple(crd["versions"]))
            for data in found for crd in data.crds]


@cache
def from_folder(folder: FsPath) -> tuple[tuple[Definition, ...], tuple[Finding, ...]]:
    """Every CustomResourceDefinition in the YAML files under `folder`, and a finding for each
    file or CRD that cannot be used (files.py reads them as untrusted input)."""
    from aifab.verify import files

    found: list[Definition] = []
    paths, problems = files.yaml_files(folder)
    for path in paths:
        try:
            for line, doc in files.documents(path, folder):
                if isinstance(doc, Mapping) and doc.get("kind") == "CustomResourceDefinition":
                    found.append(_definition(doc, str(path), line))
        except files.Refused as refused:
            problems.append(refused.finding)
    return tuple(found), tuple(problems)


def _definition(doc: Mapping[str, Any], file: str, line: int) -> Definition:
    """One CRD of a --crds file, its shape checked: a broken one is refused (AF409)."""
    from aifab.verify.files import Refused

    def refuse(what: str) -> Refused:
        return Refused(Finding(file, line, 1, "AF409", Severity.ERROR,
                               f"a CustomResourceDefinition aifab cannot use: {what}", (),
                               "use the CRD file as the chart ships it"))

    spec = doc.get("spec")
    names = spec.get("names") if isinstance(spec, Mapping) else None
    if not isinstance(spec, Mapping) or not isinstance(names, Mapping):
        raise refuse("spec.names is missing")
    group, kind, versions = spec.get("group"), names.get("kind"), spec.get("versions")
    if not isinstance(group, str) or not isinstance(kind, str) or not isinstance(versions, list):
        raise refuse("spec.group, spec.names.kind or spec.versions is missing")
    found = []
    for version in versions:
        schema = version.get("schema") if isinstance(version, Mapping) else None
        schema = schema.get("openAPIV3Schema") if isinstance(schema, Mapping) else None
        if not isinstance(version, Mapping) or not isinstance(version.get("name"), str) \
                or not isinstance(schema, Mapping):
            raise refuse(f"a version of {kind} has no name or no openAPIV3Schema")
        try:
            Draft202012Validator.check_schema(to_json_schema(schema))
        except SchemaError as exc:
            raise refuse(f"the schema of {kind} {version['name']} is not valid: "
                         f"{exc.message}") from None
        found.append({"name": version["name"], "served": version.get("served", True) is True,
                      "schema": schema})
    return Definition(file, group, kind, tuple(found))


@cache
def load(releases: tuple[tuple[str, str], ...], folder: FsPath | None) -> CRDs:
    """The CRDs that verify a cluster: those of the exact chart versions it installs, and for
    kinds these do not define, those of `folder` (--crds)."""
    searched = "the chart data aifab ships for " + (
        ", ".join(f"{c} {v}" for c, v in releases) or "no chart")
    if folder is not None:
        searched += f" or in {folder}"
    given, problems = from_folder(folder) if folder else ((), ())
    return CRDs([*shipped(releases), *given], searched, problems)
