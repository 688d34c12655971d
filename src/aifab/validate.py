"""Validate: the blueprint against the published JSON Schema, every error a finding with a hint.

The schema (schemas/blueprint.schema.json) is the contract editors and check-jsonschema use too;
this module only turns jsonschema's errors into findings a tired operator can act on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from aifab.diagnostics import Finding, did_you_mean, finding, format_path, one_of
from aifab.load import Document
from aifab.mismatch import explain
from aifab.schema import document as schema_of

CODES = {
    "AF201": "unknown key",
    "AF202": "required key missing",
    "AF203": "value not one of the allowed values",
    "AF204": "value of the wrong type",
    "AF205": "value does not have the expected form",
    "AF206": "value out of range",
    "AF207": "value not valid",
    "AF208": "too many schema problems",
}

MAX_FINDINGS = 100  # per document: past that, one more finding says the rest was not listed


_TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """`pattern` as JSON Schema defines it (ECMA-262): `$` is the very end of the string.

    Python's `$` also matches before a final newline, which would let "gpu\n" pass `^[a-z]+$`.
    """
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern)


def _whole_number(checker: Any, instance: Any) -> bool:
    """`integer` without JSON Schema's "a number with a zero fractional part" (2020-12, 6.1.1):
    `nodes: 12.0` is a float to every YAML reader and would reach generated files as `12.0`,
    so it is refused where the schema wants an integer, like any other value of the wrong type
    (one rule, every integer field; the hint says to write `12`)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = validators.extend(
    Draft202012Validator, {"pattern": _ecma_pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _whole_number))


@cache
def validator(kind: str = "Cluster") -> Draft202012Validator:
    """Compiled once per process and kind, with its local references written out."""
    schema = schema_of(kind)
    return _Validator(_inlined(schema, schema.get("$defs", {})))


def _inlined(node: Any, defs: dict[str, Any]) -> Any:
    """`{"$ref": "#/$defs/x", ...}` as `{..., "allOf": [x]}`: the same errors (each raised in
    `x` itself), without a reference lookup for every label of every pool, which made a
    blueprint of 100 pools of 32 labels take seconds. The published schemas are not recursive."""
    if isinstance(node, list):
        return [_inlined(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _inlined(value, defs) for key, value in node.items() if key != "$ref"}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        out["allOf"] = [*out.get("allOf", []), _inlined(defs[ref.removeprefix("#/$defs/")], defs)]
    elif ref is not None:
        out["$ref"] = ref
    return out


def validate(doc: Document, kind: str = "Cluster") -> list[Finding]:
    """All schema findings of a loaded document, placed at their key or value. A list or
    mapping larger than the schema allows is reported alone, before what it holds is validated:
    the work of validating grows with it (5,000 pools in a 1 MB file would take seconds)."""
    if too_long := [doc.place(f) for f in _overlong(validator(kind).schema, doc.data, ())]:
        return too_long
    found: list[Finding] = []
    for error in validator(kind).iter_errors(doc.data):
        for f, at_key in _findings(error, doc):
            if len(found) == MAX_FINDINGS:
                found.append(doc.place(finding(
                    "AF208", f"more than {MAX_FINDINGS} schema problems; the rest are not listed",
                    f.path, hint="fix the problems above, then validate again")))
                return _without_typo_echoes(found)
            found.append(doc.place(f, at_key=at_key))
    return _without_typo_echoes(found)


def _overlong(schema: dict[str, Any], data: Any, path: tuple[Any, ...]) -> Iterator[Finding]:
    """Lists over their `maxItems` and mappings over their `maxProperties`, found through
    `properties` and `items` (a container is measured, never scanned key by key, so the walk
    costs no more than the document's outline)."""
    schema = _effective(schema)
    limit = schema.get("maxItems" if isinstance(data, list) else "maxProperties")
    if isinstance(data, (list, dict)) and limit is not None and len(data) > limit:
        what = "items" if isinstance(data, list) else "keys"
        yield finding("AF206", f"{format_path(path)} has {len(data):,} {what}; at most {limit} "
                      "are allowed (what it holds was not validated)", path,
                      hint=schema.get("description", ""))
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(data):
            yield from _overlong(schema["items"], item, path + (index,))
    elif isinstance(data, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in data:
                yield from _overlong(sub, data[key], path + (key,))


def _effective(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its `allOf` (references, as `validator` writes them out) merged in."""
    merged: dict[str, Any] = {}
    for inlined in schema.get("allOf", ()):
        merged.update(_effective(inlined))
    merged.update((key, value) for key, value in schema.items() if key != "allOf")
    return merged


def _without_typo_echoes(found: list[Finding]) -> list[Finding]:
    """A misspelt required key is one mistake: keep 'unknown key (did you mean X?)', drop
    'missing required key X' at the same place."""
    suggested = {
        (f.path[:-1], f.hint.split("'")[1])
        for f in found
        if f.code == "AF201" and f.hint.startswith("did you mean")
    }
    return [
        f for f in found
        if not (f.code == "AF202" and (f.path, f.message.split("'")[1]) in suggested)
    ]


def _findings(error: ValidationError, doc: Document) -> Iterator[tuple[Finding, bool]]:
    path = tuple(error.absolute_path)
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    keyword = error.validator
    value = error.instance
    where = _where(path)

    if "propertyNames" in error.schema_path:  # jsonschema reports a bad key on its mapping
        yield finding("AF205", f"the key '{value}'{where} is not a valid name: "
                      f"{_reason(error)}", path + (value,),
                      hint="label keys are [prefix/]name, names up to 63 characters of "
                      "letters, digits, '-', '_' and '.'"), True
    elif keyword == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        for key in sorted(set(value) - set(allowed)):
            hint = did_you_mean(key, allowed) or f"allowed keys here: {', '.join(allowed)}"
            yield finding("AF201", f"unknown key '{key}'{where}", path + (key,), hint=hint), True
    elif keyword == "required":
        for key in error.validator_value:
            if key not in value:
                about = schema.get("properties", {}).get(key, {}).get("description", "")
                yield finding("AF202", f"missing required key '{key}'{where}", path,
                              hint=about), True
    elif keyword in ("enum", "const"):
        allowed = error.validator_value if keyword == "enum" else [error.validator_value]
        close = _suggestion(value, [str(a) for a in allowed])
        yield finding("AF203", f"{_show(value)} is not allowed{where}; expected "
                      f"{one_of(str(a) for a in allowed)}", path, hint=close), False
    elif keyword == "type":
        expected = error.validator_value
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in ([expected] if isinstance(expected, str) else expected))
        yield finding("AF204", f"expected {words}{where}, found {_describe(value)}", path,
                      hint=_type_hint(expected, value, doc, path)), False
    elif keyword == "pattern":
        examples = schema.get("examples") or []
        hint = f"for example: {one_of(str(e) for e in examples)}" if examples else (
            f"the value must match {error.validator_value}")
        reason, fix = explain(value, error.validator_value)
        yield finding("AF205", f"{_show(value)} does not have the expected form{where}"
                      + (f": {reason}" if reason else ""), path,
                      hint=f"{fix}; {hint}" if fix else hint), False
    elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        yield finding("AF206", f"{_show(value)}{where} {_bound(keyword, error.validator_value)}",
                      path), False
    elif keyword in ("minLength", "maxLength", "minItems", "maxItems", "minProperties",
                     "maxProperties"):
        yield finding("AF206", f"{format_path(path)} {_size(keyword, error.validator_value)}",
                      path, hint=schema.get("description", "")), False
    else:
        yield finding("AF207", f"{error.message}{where}", path), False


def _suggestion(value: Any, allowed: list[str]) -> str:
    """'did you mean ...?' for a value not allowed: the allowed values it names a part of (a
    product name such as `gb300` for the system `gb300-nvl72`), else the closest spelling;
    nothing when the value is allowed but of the wrong type (`"400"`: AF204 says so)."""
    text = str(value)
    if text in allowed:
        return ""
    named = [a for a in allowed if text.lower() in a.split("-")]
    if named:
        return f"did you mean {' or '.join(repr(a) for a in named)}?"
    return did_you_mean(text, allowed)


def _where(path: tuple[Any, ...]) -> str:
    return f" at {format_path(path)}" if path else ""


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string '{value}'"
    return "a list" if isinstance(value, list) else "a mapping"


def _type_hint(expected: Any, value: Any, doc: Document, path: tuple[Any, ...]) -> str:
    if expected == "string" and isinstance(value, (int, float, bool)):
        raw = doc.source_text(path).split(" #")[0].strip() or str(value)
        return f'quote it: "{raw}" (an unquoted {raw} is read as {_describe(value)})'
    if expected in ("integer", "number") and isinstance(value, str):
        if doc.source_text(path)[:1] in ("'", '"'):
            return "remove the quotes around the number"
        return f"'{value}' is text: write {'a whole number' if expected == 'integer' else 'a number'}"
    if expected == "integer" and isinstance(value, float):
        if value.is_integer() and abs(value) <= 2**53:
            return f"write {int(value)}: a whole number is written without a decimal point"
        return "use a whole number"
    if value is None:
        return "the key is there but has no value; give it one or remove the key"
    return ""


def _reason(child: ValidationError) -> str:
    if child.validator == "maxLength":
        return f"longer than {child.validator_value} characters"
    if child.validator == "pattern":
        return "it has characters or a form not allowed"
    return child.message


def _bound(keyword: str, limit: Any) -> str:
    return {
        "minimum": f"is below the minimum of {limit}",
        "maximum": f"is above the maximum of {limit}",
        "exclusiveMinimum": f"must be greater than {limit}",
        "exclusiveMaximum": f"must be less than {limit}",
    }[keyword]


def _size(keyword: str, limit: Any) -> str:
    return {
        "minLength": f"must have at least {limit} character(s)",
        "maxLength": f"must have at most {limit} characters",
        "minItems": f"must have at least {limit} item(s)",
        "maxItems": f"must have at most {limit} items",
        "minProperties": f"must have at least {limit} key(s)",
        "maxProperties": f"must have at most {limit} key(s)",
    }[keyword]
