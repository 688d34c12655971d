"""Custom resources against their CRD's openAPIV3Schema, read the way the API server reads it.

The API server's structural schemas differ from plain JSON Schema in three ways handled here:
`nullable: true` admits null; `x-kubernetes-int-or-string` admits an integer or a string;
fields not in the schema are errors (strict field validation) unless the object says
`x-kubernetes-preserve-unknown-fields`. CEL rules (`x-kubernetes-validations`) are not run.
See https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


class CRDs:
    """Validators by (apiVersion, kind), for every served version of every CRD found."""

    def __init__(self, validators: Mapping[tuple[str, str], Draft202012Validator],
                 served: Mapping[str, list[str]]) -> None:
        self._validators = validators
        self._served = served  # kind -> the apiVersions its CRD serves

    def check(self, data: Mapping[str, Any], file: str) -> Iterator[Finding]:
        api, kind = str(data.get("apiVersion")), str(data.get("kind"))
        name = data.get("metadata", {}).get("name")
        validator = self._validators.get((api, kind))
        if validator is None and kind in self._served:
            yield Finding(file, 1, 1, "AF403", Severity.ERROR,
                          f"the CRD of {kind} does not serve {api} ({name})", (),
                          f"the CRD serves {', '.join(self._served[kind])}: the generator and "
                          "the operator version disagree")
            return
        if validator is None:  # the CRD folder lacks it
            yield Finding(file, 1, 1, "AF407", Severity.WARNING,
                          f"{kind} ({api}) objects are not verified: the --crds folder has "
                          "no CRD for them", (), "add the CRD (it ships in the operator "
                          "chart's crds/ folder) to verify them")
            return
        for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
            path = tuple(error.absolute_path)
            yield Finding(file, 1, 1, "AF402", Severity.ERROR,
                          f"{kind} {name}: {error.message} at {format_path(path)}", path,
                          "the generated object does not match the CRD of this operator version")


@cache
def load(folder: FsPath) -> CRDs:
    """Every CustomResourceDefinition in the YAML files under `folder`."""
    validators: dict[tuple[str, str], Draft202012Validator] = {}
    served: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.y*ml")):
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            kind = spec["names"]["kind"]
            for version in spec.get("versions", []):
                if not version.get("served", True):
                    continue
                api = f"{spec['group']}/{version['name']}"
                schema = to_json_schema(version.get("schema", {}).get("openAPIV3Schema", {}))
                validators[(api, kind)] = Draft202012Validator(schema)
                served.setdefault(kind, []).append(api)
    return CRDs(validators, served)
