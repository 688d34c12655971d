"""The CEL rules of a CRD (`x-kubernetes-validations`), run as the API server runs them on create.

Each rule is evaluated at its schema node with `self` bound to the value there, after the
schema's defaults are applied (the API server defaults before it validates), for values that
are present only. Transition rules (those naming `oldSelf`) do not apply on create and are
skipped, except with `optionalOldSelf: true`, where the API server runs them with `oldSelf` an
empty optional: so does this engine (`hasValue()` false, `orValue(x)` x). A failed
rule gives its `messageExpression` (evaluated), else its `message`. The engine is cel-python
(`celpy`), which has CEL's standard functions and macros (has, size, all, exists, exists_one,
filter, map, matches, ...) but not the Kubernetes libraries (quantity, url, ip, cidr, sets,
lists, optionals): a rule it cannot compile or evaluate is reported (AF411), never passed.
Programs are compiled once per rule text, and outcomes kept by rule and value (_evaluate).
See https://kubernetes.io/docs/reference/using-api/cel/ and the CRD docs ("Validation rules").
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

_OLD_SELF = re.compile(r"\boldSelf\b")
MAX_EXPRESSION = 10_000  # characters; a --crds file is untrusted (the API server bounds cost)


def with_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """`value` with the schema's `default`s filled in where a property is absent (a subtree
    whose schema has no default anywhere is returned as it is: a NodeFeatureRule's thousands
    of hostnames are not copied)."""
    if not _below(schema, _DEFAULTED):
        return value
    if isinstance(value, Mapping):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = dict(value)
        for key, sub in properties.items():
            if key not in out and isinstance(sub, Mapping) and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        for key, item in out.items():
            sub = properties.get(key) if properties else extra
            if isinstance(sub, Mapping):
                out[key] = with_defaults(sub, item)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [with_defaults(schema["items"], item) for item in value]
    return value


def violations(schema: Mapping[str, Any], value: Any, path: tuple[Any, ...] = ()
               ) -> Iterator[tuple[tuple[Any, ...], bool, str]]:
    """(path, evaluated, message) of each rule that fails (evaluated) or that the engine could
    not evaluate (not evaluated), walking `value` along `schema`."""
    if value is None or not _has_rules(schema):
        return
    for rule in schema.get("x-kubernetes-validations") or ():
        yield from _rule(rule, value, path)
    if isinstance(value, Mapping):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key in sorted(value, key=str):
            sub = properties.get(key) if properties else extra
            if isinstance(sub, Mapping):
                yield from violations(sub, value[key], path + (key,))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            yield from violations(schema["items"], item, path + (index,))


class _Found(dict[int, tuple[Mapping[str, Any], bool]]):
    """id(schema) -> (schema, whether it or a schema below it holds what `here` looks for)."""

    def __init__(self, here: Callable[[Mapping[str, Any]], bool]) -> None:
        super().__init__()
        self.here = here


_RULED = _Found(lambda schema: bool(schema.get("x-kubernetes-validations")))
_DEFAULTED = _Found(lambda schema: "default" in schema)


def _has_rules(schema: Mapping[str, Any]) -> bool:
    return _below(schema, _RULED)


def _below(schema: Mapping[str, Any], known: _Found) -> bool:
    """Whether the schema or a schema below it has what `known` looks for (so a walk can skip
    the rest); kept per schema object, with the object, so an id is never reused while its
    entry lives."""
    entry = known.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    below = [*(schema.get("properties") or {}).values(), schema.get("items"),
             schema.get("additionalProperties")]
    found = known.here(schema) or any(
        _below(sub, known) for sub in below if isinstance(sub, Mapping))
    known[id(schema)] = (schema, found)
    return found


def _rule(rule: Mapping[str, Any], value: Any, path: tuple[Any, ...]
          ) -> Iterator[tuple[tuple[Any, ...], bool, str]]:
    text = str(rule.get("rule", ""))
    old_self = bool(_OLD_SELF.search(text))
    if old_self and rule.get("optionalOldSelf") is not True:
        return  # a transition rule: it applies to updates only
    shown = repr(text if len(text) <= 200 else text[:200] + "...")
    try:
        result = _evaluate(text, value, old_self)
    except NotEvaluated as exc:
        yield path, False, f"rule {shown} {exc}"
        return
    if result is True:
        return
    if result is not False:
        yield path, False, f"rule {shown} gave {str(result)[:100]!r}, not a boolean"
        return
    message = rule.get("message") or f"failed rule: {shown}"
    if rule.get("messageExpression"):
        try:
            computed = _evaluate(str(rule["messageExpression"]), value, old_self)
        except NotEvaluated:
            computed = None
        if isinstance(computed, str) and computed.strip():
            message = computed
    yield path, True, str(message)


class NotEvaluated(Exception):
    """The engine could not compile or evaluate an expression; the message says why."""


class _NoValue:
    """`oldSelf` on create under optionalOldSelf: an optional without a value."""


def _has_value(optional: Any) -> Any:
    import celpy

    return celpy.celtypes.BoolType(not isinstance(optional, _NoValue))


def _or_value(optional: Any, default: Any) -> Any:
    return default if isinstance(optional, _NoValue) else optional


_RESULTS: dict[bytes, tuple[bool, Any]] = {}  # digest of (expression, old_self, value) -> outcome
MAX_RESULTS = 4096  # kept outcomes; the oldest goes first (a watching process runs for days)


def _evaluate(expression: str, value: Any, old_self: bool = False) -> Any:
    """The rule's result for `self` = value; raises NotEvaluated. A rule's outcome depends on
    its text and `self` only, so it is kept by both: the clusters of a fleet repeat the same
    values (charts, policies), and the engine takes milliseconds per rule. Kept by a digest, so
    a large or hostile value (`aifab admit`) costs 32 bytes, not a copy."""
    try:
        key = hashlib.sha256(repr((expression, old_self, _frozen(value))).encode()).digest()
    except TypeError:  # a value that is not plain data: evaluated, not kept
        return _run(expression, value, old_self)
    if key in _RESULTS:
        done, outcome = _RESULTS[key]
        if not done:
            raise NotEvaluated(outcome)
        return outcome
    try:
        outcome = _run(expression, value, old_self)
    except NotEvaluated as exc:
        _keep(key, (False, str(exc)))
        raise
    if isinstance(outcome, bool) or (isinstance(outcome, str) and len(outcome) <= 1000):
        _keep(key, (True, outcome))  # not other results: they may be as large as the value
    return outcome


def _keep(key: bytes, outcome: tuple[bool, Any]) -> None:
    _RESULTS[key] = outcome
    if len(_RESULTS) > MAX_RESULTS:
        del _RESULTS[next(iter(_RESULTS))]


def _frozen(value: Any) -> Any:
    """A hashable copy of plain data that tells apart what CEL tells apart: the type of every
    scalar (1, 1.0 and true are different values), lists from maps, the order of keys. Other
    types (which celpy.json_to_cel converts differently or refuses) raise TypeError."""
    if isinstance(value, dict):
        return ("map", tuple((_frozen(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_frozen(item) for item in value))
    if value is None or isinstance(value, (str, int, float)):
        return (type(value), value)
    raise TypeError(type(value).__name__)


def _run(expression: str, value: Any, old_self: bool) -> Any:
    import celpy

    program = compiled(expression, OPTIONAL_OLD_SELF if old_self else CRD)
    if isinstance(program, str):
        raise NotEvaluated(program)
    activation = {"self": celpy.json_to_cel(value)}
    if old_self:
        activation["oldSelf"] = _NoValue()
    return evaluated(program, activation)


def evaluated(program: Any, activation: Mapping[str, Any], raw: bool = False) -> Any:
    """The value of a compiled program: a Python bool or str, else (or when `raw`) the CEL
    value; NotEvaluated when the engine fails, whatever the failure."""
    import celpy

    try:
        result = program.evaluate(activation)
    except Exception as exc:  # noqa: BLE001 - any failure of the engine is reported as such
        raise NotEvaluated(f"cannot be evaluated ({_short(exc)})") from None
    if isinstance(result, celpy.CELEvalError):
        raise NotEvaluated(f"cannot be evaluated ({_short(result)})")
    if raw:
        return result
    if isinstance(result, celpy.celtypes.BoolType):
        return bool(result)
    if isinstance(result, celpy.celtypes.StringType):
        return str(result)
    return result


def _short(error: Any) -> str:
    """The gist of an engine error (celpy's repr holds the whole activation)."""
    args = getattr(error, "args", ())
    text = (str(args[0]) if args else str(error)).split(" (in activation")[0]
    return f"{type(error).__name__}: {text.splitlines()[0][:200] if text else ''}"


@cache
def environment() -> Any:
    """One CEL environment, with its parser from the shipped tables where they fit (_parser)."""
    import celpy
    from celpy.celparser import CELParser

    if CELParser.CEL_PARSER is None:
        CELParser.CEL_PARSER = _parser()  # None: celpy builds its own, as it always did
    return celpy.Environment()


def _parser() -> Any:
    """celpy's Lark parser loaded from the tables tools/cel_parser.py derived from celpy's
    grammar (10 ms; celpy builds it in 0.15-0.25 s, in every process), or None when they were
    not made from the installed celpy's grammar and parser code by the installed Lark. Loaded
    the way Lark's standalone parsers load theirs (`Lark._load_from_dict`)."""
    import celpy
    import lark
    from celpy.celparser import CELParser

    shipped = json.loads((resources.files("aifab") / "data" / "cel-parser.json").read_bytes())
    tree = celpy.InterpretedRunner.tree_node_class
    installed = {name: hashlib.sha256((resources.files("celpy") / name).read_bytes()).hexdigest()
                 for name in shipped["source"]["sha256"]}
    if (shipped["lark"], shipped["source"]["sha256"], shipped["treeClass"]) != (
            lark.__version__, installed, f"{tree.__module__}.{tree.__qualname__}"):
        return None
    return lark.Lark._load_from_dict(decoded(shipped["data"]), decoded(shipped["memo"]),
                                     lexer_callbacks={"IDENT": CELParser.ambiguous_literals},
                                     tree_class=tree)


def decoded(value: Any) -> Any:
    """Lark's serialisation from its JSON form (tools/cel_parser.py `encoded`)."""
    if isinstance(value, dict):
        if value.keys() == {"pairs"}:
            return {decoded(key): decoded(item) for key, item in value["pairs"]}
        if value.keys() == {"tuple"}:
            return tuple(decoded(item) for item in value["tuple"])
        return {key: decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decoded(item) for item in value]
    return value


def _join(items: Any, separator: Any = "") -> Any:
    """The Kubernetes list library's `join` (k8s.io/apiserver pkg/cel/library, ext strings)."""
    import celpy

    return celpy.celtypes.StringType(str(separator).join(str(item) for item in items))


# The functions each kind of expression may call beyond celpy's own: CRD rules, CRD rules
# under optionalOldSelf (optionals), and admission policies (lists' join).
CRD, OPTIONAL_OLD_SELF, ADMISSION = "crd", "optional-old-self", "admission"
LIBRARIES: dict[str, dict[str, Callable[..., Any]]] = {
    CRD: {}, OPTIONAL_OLD_SELF: {"hasValue": _has_value, "orValue": _or_value},
    ADMISSION: {"join": _join}}


@cache
def compiled(expression: str, library: str = CRD) -> Any:
    """A compiled program, or why there is none (a string)."""
    if len(expression) > MAX_EXPRESSION:
        return f"is longer than {MAX_EXPRESSION} characters"
    env = environment()
    try:
        return env.program(env.compile(expression), functions=LIBRARIES[library] or None)
    except Exception as exc:  # noqa: BLE001 - a parse error, an unknown function
        return f"cannot be compiled ({_short(exc)})"
