"""verify/plain.py decides most objects valid without jsonschema; its verdict must be
jsonschema's, always: on every custom resource and core object aifab generates, on thousands of
broken copies of them, and on the schema keywords those do not reach."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from aifab.expand import expand
from aifab.expand.flux import releases_by_path
from aifab.verify import crds, kubernetes_schemas
from aifab.verify.plain import Plain
from bundled import CLUSTER_FILES, cluster_of


@cache
def _objects() -> tuple[tuple[Any, Plain, dict[str, Any]], ...]:
    """(validator, its Plain verdict, object) for one object of each API version and kind of
    the standalone clusters, custom resources and core objects; a NodeFeatureRule is cut to
    its first three rules."""
    found: dict[tuple[str, str], tuple[Any, Plain, dict[str, Any]]] = {}
    for path in CLUSTER_FILES:
        cluster = cluster_of(path)
        outputs = list(expand(cluster))
        releases = tuple(sorted({(r.chart, r.version)
                                 for r in releases_by_path(outputs).values()}))
        custom = crds.load(releases, None)
        core = kubernetes_schemas.Validators(cluster.kubernetes.version)
        for out in outputs:
            data = copy.deepcopy(out.data)
            if not isinstance(data, dict) or out.kind == "document":
                continue
            key = (str(data.get("apiVersion")), str(data.get("kind")))
            if key in found:
                continue
            if out.kind not in ("release", "nodes") and core.knows(data):
                name = kubernetes_schemas._file_name(data)
                found[key] = (kubernetes_schemas._validator(core.version, name),
                              kubernetes_schemas._plain(core.version, name), data)
            elif (validator := custom._validator(*key)) is not None:
                if data["kind"] == "NodeFeatureRule":
                    data["spec"]["rules"] = data["spec"]["rules"][:3]
                found[key] = (validator, custom._plain[key], data)
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


def test_every_generated_object_is_plainly_valid() -> None:
    """The fast verdict is the one that saves time: it must hold for what aifab generates."""
    objects = _objects()
    assert {data["kind"] for _, _, data in objects} >= {
        "NodeFeatureRule", "HelmRelease", "ClusterQueue", "JobSet", "NicClusterPolicy",
        "ValidatingAdmissionPolicy", "NetworkPolicy", "Namespace", "ResourceQuota", "Role"}
    for validator, plain, data in objects:
        assert validator.is_valid(data), data["kind"]
        assert plain.valid(data), data["kind"]


def test_the_verdict_is_jsonschemas_on_broken_copies() -> None:
    compared = refused = 0
    for validator, plain, data in _objects():
        for mutant in _mutants(data):
            expected = validator.is_valid(mutant)
            assert plain.valid(mutant) == expected, (data["kind"], mutant)
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
    ({"oneOf": [{"type": "string"}, {"maxLength": 3}]}, "ab"),
    ({"oneOf": [{"type": "string"}, {"maxLength": 3}]}, "abcd"),
    ({"oneOf": [{"type": "string"}, {"maxLength": 3}]}, 5),
    ({"anyOf": [{"type": "string", "pattern": "^a"}, {"type": "integer", "minimum": 3}]}, 2),
    ({"allOf": [{"minLength": 2}, {"maxLength": 3}]}, "abcd"),
    ({"not": {"type": "string"}}, "a"),
    ({"not": {"type": "string"}}, 1),
    ({"type": "array", "minItems": 2, "maxItems": 3}, [1]),
    ({"type": "array", "minItems": 2, "maxItems": 3}, [1, 2, 3, 4]),
    ({"type": "object", "minProperties": 1, "maxProperties": 1}, {}),
    ({"type": "object", "minProperties": 1, "maxProperties": 1}, {"a": 1, "b": 2}),
    ({"minimum": 1, "maximum": 2}, float("nan")),
    ({"exclusiveMinimum": 1}, 1),
    ({"exclusiveMaximum": 1}, 0.5),
    ({"minimum": 1}, True),
    ({"minimum": 1}, "0"),
    ({"minLength": 2, "pattern": "^a"}, 1),
    ({"maxLength": 1}, "\u00e9"),
    ({"type": "object", "uniqueItems": True, "properties": {"a": {"type": "string"}}}, {"a": 1}),
    (True, {"anything": 1}),
    (False, 1),
])
def test_the_verdict_is_jsonschemas_on_every_keyword(schema: Any, instance: Any) -> None:
    validator = crds.CRDValidator(schema)
    assert Plain(validator).valid(instance) == validator.is_valid(instance)
    assert Draft202012Validator(schema).is_valid(instance) == validator.is_valid(instance)


_DEFINITIONS = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "https://example.test/defs.json", "$defs": {
    "Name": {"type": "string", "pattern": "^[a-z]+$"},
    "Port": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
    "Pair": {"type": "object", "properties": {"name": {"$ref": "#/$defs/Name"},
                                              "port": {"$ref": "#/$defs/Port"}},
             "additionalProperties": False, "required": ["name"]},
    "Moved": {"$id": "https://example.test/other.json", "$ref": "#/$defs/Name"}}}
_ROOT = {"$id": "https://example.test/kind.json", "type": "object",
         "properties": {"pair": {"$ref": "/defs.json#/$defs/Pair"},
                        "moved": {"$ref": "/defs.json#/$defs/Moved"},
                        "missing": {"$ref": "/nowhere.json#/$defs/X"}}}


@pytest.mark.parametrize("instance", [
    {"pair": {"name": "a", "port": 80}}, {"pair": {"name": "a", "port": "http"}},
    {"pair": {"name": "A"}}, {"pair": {"port": 80}}, {"pair": {"name": "a", "port": 1.5}},
    {"pair": {"name": "a", "extra": 1}}, {"pair": []}, {"moved": "a"}, {"missing": 1}])
def test_references_are_followed_as_jsonschema_follows_them(instance: Any) -> None:
    """Relative references inside another resource, a nested $id, one that cannot be resolved
    (jsonschema raises: the verdict only says it cannot tell)."""
    registry = Resource.from_contents(_DEFINITIONS) @ Registry()
    validator = Draft202012Validator(_ROOT, registry=registry)
    try:
        expected: bool | None = validator.is_valid(instance)
    except Unresolvable:
        expected = None
    assert Plain(validator, registry).valid(instance) is bool(expected)


def test_a_keyword_the_validator_checks_its_own_way_is_left_to_it() -> None:
    """Plain judges a keyword only where the validator uses Draft 2020-12's own function for it
    (or one named equivalent: crds.py's `items`)."""
    from jsonschema import validators
    from jsonschema.exceptions import ValidationError

    def strict_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
        if isinstance(instance, str) and not instance.startswith("x"):
            yield ValidationError("not an x")

    custom = validators.extend(Draft202012Validator, {"pattern": strict_pattern})
    validator = custom({"type": "string", "pattern": ".*"})
    assert not validator.is_valid("abc")
    assert Plain(validator).valid("abc") is False
    assert Plain(validator).valid("xyz") is True
