"""The node pools' NodeFeatureRules: node names, labels and taints as the API server (and
nfd-master, which copies them onto the Nodes) would accept them. Their CRD checks the types;
it says nothing about label syntax or node names."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from aifab.diagnostics import Finding, Severity
from aifab.naming import DNS_SUBDOMAIN, hostname_problem

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_EFFECTS = {"NoSchedule", "PreferNoSchedule", "NoExecute"}


@lru_cache(maxsize=4096)  # a pool's rules repeat the same few keys thousands of times
def label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_NAME.match(name)) and (
        not prefix or (len(prefix) <= 253 and bool(_LABEL_PREFIX.match(prefix))))


def check(data: Mapping[str, Any], file: str) -> Iterator[Finding]:
    """Labels, taints and node names of every rule (the CRD has checked their types)."""
    for r, rule in enumerate(data.get("spec", {}).get("rules", [])):
        at = ("spec", "rules", r)
        yield from _labels(rule.get("labels", {}), at + ("labels",), file)
        for i, taint in enumerate(rule.get("taints", [])):
            if taint.get("effect") not in _EFFECTS or not label_key_ok(str(taint.get("key"))):
                yield _finding(file, at + ("taints", i),
                               f"taint {taint.get('key')} has effect {taint.get('effect')}")
        for t, term in enumerate(rule.get("matchFeatures", [])):
            for attribute, expression in term.get("matchExpressions", {}).items():
                path = at + ("matchFeatures", t, "matchExpressions", attribute, "value")
                yield from _names(expression.get("value", []), path, file)


def _names(names: list[str], path: tuple[str | int, ...], file: str) -> Iterator[Finding]:
    valid = DNS_SUBDOMAIN.match  # the fast path, for pools of 5,000 names
    for n, name in enumerate(names):
        if not valid(name) and (problem := hostname_problem(name)):
            yield _finding(file, path + (n,), problem)


def _labels(labels: Mapping[str, str], path: tuple[str | int, ...], file: str) -> Iterator[Finding]:
    for key, value in labels.items():
        if not label_key_ok(key):
            yield _finding(file, path + (key,), f"label key '{key}' is not valid")
        elif not _LABEL_VALUE.match(value):
            yield _finding(file, path + (key,), f"label value '{value}' of {key} is not valid")


def _finding(file: str, path: tuple[str | int, ...], problem: str) -> Finding:
    return Finding(file, 1, 1, "AF406", Severity.ERROR, problem, path,
                   "node names, labels and taints follow Kubernetes syntax")
