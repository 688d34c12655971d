"""A fast "no errors" verdict for an object against the plain parts of its JSON Schema.

jsonschema builds a validator object for every schema node it descends into. Most of what
aifab verifies is plain: `type`, `properties`, `additionalProperties`, `items`, `required`, an
`enum` of strings, `$ref`, `pattern`, lengths, sizes and bounds, `anyOf`, `oneOf`, `allOf`,
`not`. Walking the data along such a schema decides it several times faster. A node with any
other keyword that jsonschema checks (`patternProperties`, `uniqueItems`, `if`, ...) is judged
by jsonschema itself, that node alone, resolving references from where the node sits (as
jsonschema's own descent does). Keywords jsonschema does not check are ignored as it
ignores them: annotations (`description`, `default`, `x-kubernetes-*`), and `format` without a
format checker. Anything else in doubt (a nested `$id`, a reference that cannot be resolved) is
left to jsonschema too.

`Plain.valid()` is True only when jsonschema would find no error; False sends the object to
jsonschema for its errors and their paths (crds.py, kubernetes_schemas.py).
tests/test_plain_verdict.py proves the verdict is jsonschema's on every object aifab generates,
on thousands of broken copies of them, and on each keyword.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.exceptions import Unresolvable

# The keywords judged here (their meaning in jsonschema/_keywords.py); a node with any other
# keyword jsonschema checks is judged by jsonschema.
_COMBINED = {"anyOf", "oneOf", "allOf", "not"}
_LIMITS = {"pattern", "minLength", "maxLength", "minItems", "maxItems", "minProperties",
           "maxProperties", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
_PLAIN = frozenset({"type", "properties", "additionalProperties", "items", "required", "enum",
                    "$ref", *_COMBINED, *_LIMITS})
_TYPES = {"string": str, "object": dict, "array": list}  # jsonschema's own tests for these
_STRING = {"type": "string"}


Check = Callable[[Any], bool]


def _always(_instance: Any) -> bool:
    return True


def _never(_instance: Any) -> bool:
    return False


def _is_string(instance: Any) -> bool:
    return isinstance(instance, str)


class Plain:
    """The verdict for one validator's schema (and the registry its references name). Each
    schema node becomes a check (a closure) the first time data reaches it, and is kept.

    A keyword is judged here only where the validator checks it with Draft 2020-12's own
    function, or with one the caller names as equivalent (`same`: crds.py's faster `items`)."""

    def __init__(self, validator: Any, registry: Registry | None = None,
                 same: frozenset[str] = frozenset()) -> None:
        self._validator = validator
        self._registry = registry if registry is not None else Registry()
        own = Draft202012Validator.VALIDATORS
        self._plain = frozenset(key for key in _PLAIN if key in same
                                or validator.VALIDATORS.get(key) is own.get(key))
        self._ignored = frozenset({"format"} if validator.format_checker is None else ())
        self._checks: dict[tuple[int, str], tuple[Any, Check]] = {}  # (id, base): (node, check)
        schema = validator.schema
        self._root = self._check(schema, schema.get("$id", "") if isinstance(schema, Mapping)
                                 else "")

    def valid(self, instance: Any) -> bool:
        return self._root(instance)

    def _check(self, schema: Any, base: str) -> Check:
        """The check of a schema node whose references resolve from `base`; built on first
        use (a node may reach itself through a reference: the check is looked up late)."""
        key = (id(schema), base)
        if key not in self._checks:
            built: list[Check] = []
            self._checks[key] = (schema, lambda instance: built[0](instance))
            built.append(self._compiled(schema, base))
            self._checks[key] = (schema, built[0])
        return self._checks[key][1]

    def _compiled(self, schema: Any, base: str) -> Check:
        if not isinstance(schema, Mapping):
            return _always if schema is True else _never
        if not schema.keys() <= self._plain:
            if "$id" in schema and schema is not self._validator.schema:
                return _never  # another base for what is below: jsonschema's to follow
            if self._judged_by_jsonschema(schema):
                return lambda instance: self._by_jsonschema(schema, instance, base)
        if schema == _STRING:
            return _is_string
        parts: list[Check] = []
        if "$ref" in schema:
            uri = urljoin(base, schema["$ref"])
            parts.append(self._late(self._target(uri), uri.partition("#")[0]))
        if "type" in schema:
            parts.append(self._type(schema["type"]))
        if "enum" in schema:
            names = frozenset(item for item in schema["enum"] if isinstance(item, str))
            parts.append(lambda instance: instance in names if isinstance(instance, str)
                         else self._by_jsonschema(schema, instance, base))
        if {"required", "properties", "additionalProperties"} & schema.keys():
            parts.append(self._mapping(schema, base))
        if "items" in schema:
            parts.append(self._sequence(schema["items"], base))
        if _LIMITS & schema.keys():
            try:
                parts += self._limits(schema)
            except re.error:  # jsonschema's to report, as it does
                return lambda instance: self._by_jsonschema(schema, instance, base)
        if _COMBINED & schema.keys():
            parts += self._combined(schema, base)
        if len(parts) == 1:
            return parts[0]
        return lambda instance: all(part(instance) for part in parts)

    def _limits(self, schema: Mapping[str, Any]) -> list[Check]:
        """The limits, each as jsonschema tests it (`not (x < minimum)` is not `x >= minimum`
        for a NaN)."""
        is_number = self._validator.is_type
        found: list[Check] = []
        if "pattern" in schema:
            pattern = re.compile(schema["pattern"])  # jsonschema: re.search(pattern, instance)
            found.append(lambda v: not isinstance(v, str) or pattern.search(v) is not None)
        for keyword, kind in (("minLength", str), ("minItems", list), ("minProperties", dict)):
            if keyword in schema:
                least = schema[keyword]
                found.append(lambda v, kind=kind, least=least: not isinstance(v, kind)
                             or not len(v) < least)
        for keyword, kind in (("maxLength", str), ("maxItems", list), ("maxProperties", dict)):
            if keyword in schema:
                most = schema[keyword]
                found.append(lambda v, kind=kind, most=most: not isinstance(v, kind)
                             or not len(v) > most)
        for keyword, refused in (("minimum", operator.lt), ("maximum", operator.gt),
                                 ("exclusiveMinimum", operator.le),
                                 ("exclusiveMaximum", operator.ge)):
            if keyword in schema:
                limit = schema[keyword]
                found.append(lambda v, refused=refused, limit=limit:
                             not is_number(v, "number") or not refused(v, limit))
        return found

    def _combined(self, schema: Mapping[str, Any], base: str) -> list[Check]:
        found: list[Check] = []
        if "allOf" in schema:
            each = [self._late(sub, base) for sub in schema["allOf"]]
            found.append(lambda v: all(check(v) for check in each))
        if "anyOf" in schema:
            some = [self._late(sub, base) for sub in schema["anyOf"]]
            found.append(lambda v: any(check(v) for check in some))
        if "oneOf" in schema:
            one = [self._late(sub, base) for sub in schema["oneOf"]]
            found.append(lambda v: sum(1 for check in one if check(v)) == 1)
        if "not" in schema:
            negated = self._late(schema["not"], base)
            found.append(lambda v: not negated(v))
        return found

    def _late(self, schema: Any, base: str) -> Check:
        """The check of another node, built when first needed (references form cycles)."""
        found: list[Check] = []

        def check(instance: Any) -> bool:
            if not found:
                found.append(self._check(schema, base))
            return found[0](instance)
        return check

    def _type(self, types: str | list[str]) -> Check:
        if isinstance(types, str):
            wanted = _TYPES.get(types)
            if wanted is not None:
                return lambda instance: isinstance(instance, wanted)
            is_type = self._validator.is_type
            return lambda instance: bool(is_type(instance, types))
        each = [self._type(one) for one in types]
        return lambda instance: any(check(instance) for check in each)

    def _mapping(self, schema: Mapping[str, Any], base: str) -> Check:
        required = tuple(schema.get("required") or ())
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties", True)
        checks: dict[str, Check] = {}  # by property name; extra_check for the others
        extra_check = self._late(extra, base)

        def check(instance: Any) -> bool:
            if not isinstance(instance, dict):
                return True  # these keywords apply to objects only
            if any(key not in instance for key in required):
                return False
            for key, value in instance.items():
                if key in properties:
                    if key not in checks:
                        checks[key] = self._check(properties[key], base)
                    if not checks[key](value):
                        return False
                elif extra is not True and not extra_check(value):
                    return False
            return True
        return check

    def _sequence(self, items: Any, base: str) -> Check:
        item_check = self._late(items, base)
        strings = items == _STRING  # a list of node names: no call per item

        def check(instance: Any) -> bool:
            if not isinstance(instance, list):
                return True  # `items` applies to arrays only
            if strings:
                return all(isinstance(item, str) for item in instance)
            return all(item_check(item) for item in instance)
        return check

    def _judged_by_jsonschema(self, schema: Mapping[str, Any]) -> bool:
        checked = self._validator.VALIDATORS
        return any(key in checked and key not in self._ignored
                   for key in schema.keys() - self._plain)

    def _by_jsonschema(self, schema: Mapping[str, Any], instance: Any, base: str) -> bool:
        """jsonschema's verdict on one node, its references resolved from `base` (as
        jsonschema's descent gives a node the resolver of the resource it sits in)."""
        resolver = self._registry.resolver(base_uri=base)
        try:
            return bool(self._validator.evolve(schema=schema, _resolver=resolver)
                        .is_valid(instance))
        except Unresolvable:
            return False

    def _target(self, uri: str) -> Any:
        """The schema an absolute reference names; False (so jsonschema is asked) when the
        registry does not hold it."""
        try:
            return self._registry.resolver().lookup(uri).contents
        except Unresolvable:
            return False
