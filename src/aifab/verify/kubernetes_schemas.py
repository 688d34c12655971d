"""Core objects against the strict Kubernetes JSON schemas shipped by `kubernetes-validate`.

Its `validate()` reads and compiles the schemas on every call; here the definitions are read
once per Kubernetes version and one validator is compiled per kind, which is what makes
verifying thousands of objects cheap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from aifab.diagnostics import Finding, Severity, format_path
from aifab.verify.plain import Plain

_VERSION_DIR = re.compile(r"^v(\d+)\.(\d+)\.\d+-local-strict$")


def _schemas_root() -> Any:
    return resources.files("kubernetes_validate") / "kubernetes-json-schema"


@cache
def _schema_dir(version: str) -> Any:
    """The newest strict schema folder not newer than `version` ("1.34")."""
    want = tuple(int(p) for p in version.split(".")[:2])
    found = sorted(
        (tuple(int(g) for g in m.groups()), entry)
        for entry in _schemas_root().iterdir()
        if (m := _VERSION_DIR.match(entry.name))
    )
    older = [entry for minor, entry in found if minor <= want]
    return (older or [found[0][1]])[-1]


@cache
def _registry(version: str) -> Registry:
    definitions = json.loads((_schema_dir(version) / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


def _file_name(data: Mapping[str, Any]) -> str:
    # rbac.authorization.k8s.io/v1 -> rbac-v1; v1 -> v1 (the package's naming)
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", str(data.get("apiVersion", "")))
    return f"{str(data.get('kind', '')).lower()}-{api}.json"


class Validators:
    """One compiled validator per kind, for one Kubernetes version."""

    def __init__(self, version: str) -> None:
        self.version = version
        self._dir = _schema_dir(version)

    def knows(self, data: Mapping[str, Any]) -> bool:
        return _has_schema(self.version, _file_name(data))

    def check(self, data: Mapping[str, Any], file: str) -> Iterator[Finding]:
        name = _file_name(data)
        if _plain(self.version, name).valid(data):  # plain.py: decided fast when valid
            return
        validator = _validator(self.version, name)
        for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
            path = tuple(error.absolute_path)
            yield Finding(file, 1, 1, "AF401", Severity.ERROR,
                          f"{data.get('kind')} {data.get('metadata', {}).get('name')}: "
                          f"{error.message} at {format_path(path)} (Kubernetes {self.version})",
                          path, "this is a bug in aifab's generator: please report it")


@cache
def _has_schema(version: str, name: str) -> bool:
    return (_schema_dir(version) / name).is_file()


@cache
def _validator(version: str, name: str) -> Draft202012Validator:
    schema = json.loads((_schema_dir(version) / name).read_text())
    return Draft202012Validator(schema, registry=_registry(version))


@cache
def _plain(version: str, name: str) -> Plain:
    return Plain(_validator(version, name), _registry(version))
