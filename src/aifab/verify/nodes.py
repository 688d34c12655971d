"""aifab NodePool files: every node name, label and taint as the API server would accept it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from aifab.diagnostics import Finding, Severity
from aifab.naming import hostname_problem

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_EFFECTS = {"NoSchedule", "PreferNoSchedule", "NoExecute"}


def label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_NAME.match(name)) and (
        not prefix or (len(prefix) <= 253 and bool(_LABEL_PREFIX.match(prefix))))


def check(data: Mapping[str, Any], file: str) -> Iterator[Finding]:
    for i, node in enumerate(data["spec"].get("nodes", [])):
        path: tuple[str | int, ...] = ("spec", "nodes", i)
        problems = [hostname_problem(node["name"])]
        problems += [f"label key '{k}' is not valid" for k in node.get("labels", {})
                     if not label_key_ok(k)]
        problems += [f"label value '{v}' of {k} is not valid"
                     for k, v in node.get("labels", {}).items() if not _LABEL_VALUE.match(v)]
        problems += [f"taint {t.get('key')} has effect {t.get('effect')}"
                     for t in node.get("taints", [])
                     if t.get("effect") not in _EFFECTS or not label_key_ok(str(t.get("key")))]
        for problem in filter(None, problems):
            yield Finding(file, 1, 1, "AF406", Severity.ERROR,
                          f"node {node['name']}: {problem}", path,
                          "labels and taints follow Kubernetes label syntax")
