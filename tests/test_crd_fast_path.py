"""verify/crds.py decides most custom resources valid without jsonschema (`_clearly_valid`);
its verdict must be jsonschema's, always: on every custom resource aifab generates, on
thousands of broken copies of them, and on the schema keywords those do not reach."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from aifab.expand import expand
from aifab.expand.flux import releases_by_path
from aifab.verify import crds
from bundled import CLUSTER_FILES, cluster_of


@cache
def _custom_resources() -> tuple[tuple[Any, dict[str, Any]], ...]:
    """(validator, object) for every custom resource of the standalone clusters, one of each
    kind and API version per cluster; a NodeFeatureRule cut to its first three rules."""
    found: dict[tuple[str, str, str], tuple[Any, dict[str, Any]]] = {}
    for path in CLUSTER_FILES:
        outputs = list(expand(cluster_of(path)))
        releases = tuple(sorted({(r.chart, r.version)
                                 for r in releases_by_path(outputs).values()}))
        known = crds.load(releases, None)
        for out in outputs:
            data = copy.deepcopy(out.data)
            if not isinstance(data, dict) or out.kind == "document":
                continue
            validator = known._validator(str(data.get("apiVersion")), str(data.get("kind")))
            if validator is None:
                continue
            if data["kind"] == "NodeFeatureRule":
                data["spec"]["rules"] = data["spec"]["rules"][:3]
            found.setdefault((path.name, data["apiVersion"], data["kind"]), (validator, data))
    return tuple(found.values())


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path in the data, lists through their first two items."""
    yield path
    if isinstance(value, dict):
        for key in value:
            yield from _paths(value[key], (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            yield from _paths(item, (*path, index))


def _mutants(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Copies of `data` with one thing changed: a value of another type, a string outside
    any enum, a key removed or added, a list item added."""
    for path in _paths(data):
        if not path:
            continue
        for replacement in (7, 1.5, "not-a-value", True, None, [], {}, [1], {"k": 1}):
            yield _changed(data, path, lambda _old, new=replacement: new)
        yield _changed(data, path, None)
    for path in _paths(data):
        yield _changed(data, path, lambda old: {**old, "aifabUnknown": 1}
                       if isinstance(old, dict) else [*old, {}] if isinstance(old, list) else old)


def _changed(data: dict[str, Any], path: tuple[Any, ...], change: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    if not path:
        return change(out)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    if change is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = change(parent[path[-1]])
    return out


def test_every_generated_custom_resource_is_clearly_valid() -> None:
    """The fast verdict is the one that saves time: it must hold for what aifab generates."""
    resources = _custom_resources()
    assert {data["kind"] for _, data in resources} >= {
        "NodeFeatureRule", "HelmRelease", "ClusterQueue", "JobSet", "NicClusterPolicy"}
    for validator, data in resources:
        assert validator.is_valid(data), data["kind"]
        assert crds._clearly_valid(validator, validator.schema, data), data["kind"]


def test_the_verdict_is_jsonschemas_on_broken_copies() -> None:
    compared = refused = 0
    for validator, data in _custom_resources():
        for mutant in _mutants(data):
            expected = validator.is_valid(mutant)
            assert crds._clearly_valid(validator, validator.schema, mutant) == expected, (
                data["kind"], mutant)
            compared += 1
            refused += not expected
    assert compared > 5_000 and refused > 2_000  # the copies reach the schemas' keywords


@pytest.mark.parametrize(("schema", "instance"), [
    ({"type": "object", "patternProperties": {"^a": {"type": "string"}},
      "additionalProperties": False}, {"ab": "x"}),
    ({"type": "object", "patternProperties": {"^a": {"type": "string"}},
      "additionalProperties": False}, {"ab": 1}),
    ({"type": "object", "patternProperties": {"^a": {"type": "string"}},
      "additionalProperties": False}, {"b": "x"}),
    ({"type": "array", "items": False}, []),
    ({"type": "array", "items": False}, [1]),
    ({"type": "array", "prefixItems": [{"type": "integer"}], "items": False}, [1]),
    ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, "10%"),
    ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, 1.5),
    ({"type": ["string", "null"]}, None),
    ({"type": ["string", "null"]}, 1),
    ({"type": "integer"}, 1.0),
    ({"type": "integer"}, True),
    ({"type": "number"}, False),
    ({"enum": [1, 2]}, True),
    ({"enum": [1, 2]}, 1.0),
    ({"enum": ["a"]}, "b"),
    ({"type": "string", "pattern": "^a"}, "b"),
    ({"type": "string", "maxLength": 1, "enum": ["ab"]}, "ab"),
    ({"type": "string", "format": "date-time", "description": "a time"}, "yesterday"),
    ({"type": "object", "required": ["a"], "default": {"a": 1}}, {}),
    ({"type": "object", "properties": {"a": {"type": "integer", "minimum": 2}}}, {"a": 1}),
    ({"type": "object", "additionalProperties": {"type": "string"}}, {"a": "x", "b": 2}),
    ({"type": "object", "properties": {}, "additionalProperties": False}, {"a": 1}),
    (True, {"anything": 1}),
    (False, 1),
])
def test_the_verdict_is_jsonschemas_on_every_keyword(schema: Any, instance: Any) -> None:
    validator = crds.CRDValidator(schema)
    assert crds._clearly_valid(validator, schema, instance) == validator.is_valid(instance)
    assert Draft202012Validator(schema).is_valid(instance) == validator.is_valid(instance)
