"""The CEL parser from the shipped tables (src/aifab/data/cel-parser.json, tools/cel_parser.py)
parses as celpy's own does: the same trees for every CEL expression aifab meets, the same
errors for broken ones; tables that do not fit the installed celpy and Lark are not used."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

import celpy
import lark
import pytest
import yaml
from celpy.celparser import CELParser

from aifab.verify import cel, vap
from bundled import ROOT

_spec = importlib.util.spec_from_file_location("cel_parser", ROOT / "tools" / "cel_parser.py")
assert _spec is not None and _spec.loader is not None
cel_parser = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cel_parser)


def _rules(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for rule in schema.get("x-kubernetes-validations") or ():
            yield from (rule[key] for key in ("rule", "messageExpression") if key in rule)
        for value in schema.values():
            yield from _rules(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _rules(value)


@cache
def _expressions() -> tuple[str, ...]:
    """Every CRD rule of the shipped chart data and every expression of the bundled clusters'
    admission policies."""
    found: set[str] = set()
    for path in (resources.files("aifab") / "data" / "charts").iterdir():
        for version in path.iterdir():
            found.update(_rules(json.loads(version.read_bytes())["crds"]))
    for path in (ROOT / "generated").glob("*/admission/validatingadmissionpolicy-*.yaml"):
        policy = yaml.safe_load(path.read_text(encoding="utf-8"))
        found.update(text for _, text in vap.expressions(policy))
    return tuple(sorted(found))


def _celpys_own() -> Any:
    """The parser celpy builds itself, from its grammar."""
    kept = CELParser.CEL_PARSER
    try:
        CELParser.CEL_PARSER = None
        CELParser(tree_class=celpy.InterpretedRunner.tree_node_class)
        return CELParser.CEL_PARSER
    finally:
        CELParser.CEL_PARSER = kept


def _outcome(parser: Any, text: str) -> Any:
    try:
        return parser.parse(text)
    except lark.exceptions.LarkError as error:  # the tokens it expected, in any order (a set)
        first, *rest = str(error).splitlines()
        return type(error).__name__, first, sorted(rest)


def test_the_tables_parse_every_expression_as_celpy_does() -> None:
    shipped, own = cel._parser(), _celpys_own()
    if shipped is None:
        pytest.fail("the shipped CEL parser tables do not fit the installed cel-python and Lark: "
                    "run `python tools/cel_parser.py` and commit src/aifab/data/cel-parser.json")
    expressions = _expressions()
    assert len(expressions) > 100
    broken = [text[:cut] for text in expressions for cut in (len(text) // 3, len(text) - 1)]
    broken += ["", "self.a &&", "1 +* 2", "'unterminated", "a.b(", "x ? y", "@", "[1, 2"]
    for text in [*expressions, *broken]:
        assert _outcome(shipped, text) == _outcome(own, text), text
    assert sum(isinstance(_outcome(own, text), tuple) for text in broken) > 100


def test_the_shipped_tables_are_what_the_tool_writes() -> None:
    """Running tools/cel_parser.py again gives the same bytes (it fixes Python's hash seed, and
    numbers Lark's states in an order of its own)."""
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "cel_parser.py"), "--check"],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_tables_that_do_not_fit_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another Lark, or another celpy grammar: celpy builds its own parser, as without them."""
    assert cel._parser() is not None
    monkeypatch.setattr(lark, "__version__", "0.0.1")
    assert cel._parser() is None
    monkeypatch.undo()
    real = json.loads

    def made_from_another_grammar(raw: bytes) -> Any:
        shipped = real(raw)
        shipped["source"]["sha256"]["cel.lark"] = "0" * 64
        return shipped

    monkeypatch.setattr(cel.json, "loads", made_from_another_grammar)
    assert cel._parser() is None


def test_the_tables_hold_data_only() -> None:
    """JSON of Lark's own serialisation: the loader runs nothing from the file."""
    data = json.loads((resources.files("aifab") / "data" / "cel-parser.json").read_bytes())
    assert set(data) == {"source", "lark", "treeClass", "lexerCallbacks", "data", "memo"}
    assert cel_parser.encoded(cel.decoded(data["data"])) == data["data"]
