"""Derive the CEL parser's tables (src/aifab/data/cel-parser.json) from cel-python's grammar.

cel-python (`celpy`) builds its Lark LALR parser from its grammar file `celpy/cel.lark` in every
process that compiles a CEL expression: 0.15-0.25 s, paid by every process that verifies a
custom resource or an admission policy, each build worker included. This script builds that
parser once, with the options celpy itself gives Lark (read from the parser celpy builds; only
`debug` is off, which keeps the tables serialisable and changes no parse), and writes Lark's own
serialisation of it (`Lark.memo_serialize`, what `python -m lark.tools.serialize` writes) as
JSON, with the versions and the grammar's digest it was made from. aifab.verify.cel loads the
tables (about 10 ms) only when the installed cel-python, Lark and grammar are those; otherwise
celpy builds its parser as before. tests/test_cel_parser.py proves both parse every CEL
expression aifab meets to the same trees and fail on broken ones with the same messages.

Lark numbers the parser's states in set order, which follows Python's string hashing: the
script runs itself with PYTHONHASHSEED=0, so running it again gives the same bytes.

    python tools/cel_parser.py [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from collections import deque
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "aifab" / "data" / "cel-parser.json"
SOURCES = ("cel.lark", "celparser.py")  # files of the celpy package the tables depend on


def tables() -> dict[str, Any]:
    """The parser celpy builds, serialised, with what it was made from."""
    import celpy
    import lark
    from celpy.celparser import CELParser
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    CELParser.CEL_PARSER = None
    celpy.Environment()  # builds celpy's parser with celpy's options
    built = CELParser.CEL_PARSER
    assert built is not None
    options = dict(built.options.options)
    folder = Path(celpy.celparser.__file__).parent
    grammar = (folder / "cel.lark").read_bytes()
    parser = lark.Lark(grammar.decode(), **{**options, "debug": False})
    data, memo = parser.memo_serialize([TerminalDef, Rule])
    # Not data: given again when the tables are loaded (aifab.verify.cel).
    for name in ("lexer_callbacks", "tree_class", "_plugins"):
        data["options"].pop(name)
    data["options"]["g_regex_flags"] = int(data["options"]["g_regex_flags"])
    data["parser"]["lexer_conf"]["g_regex_flags"] = int(
        data["parser"]["lexer_conf"]["g_regex_flags"])
    data["parser"]["parser"] = numbered(data["parser"]["parser"])
    return {
        # The grammar, and the code that gives Lark celpy's options (a new celpy may change
        # either): the tables are used only with exactly these files.
        "source": {"package": "cel-python", "version": metadata.version("cel-python"),
                   "sha256": {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                              for name in SOURCES}},
        "lark": lark.__version__,
        "treeClass": f"{options['tree_class'].__module__}.{options['tree_class'].__qualname__}",
        "lexerCallbacks": sorted(options["lexer_callbacks"]),
        "data": encoded(data),
        "memo": encoded(memo),
    }


def numbered(table: dict[str, Any]) -> dict[str, Any]:
    """Lark's parse table with its states numbered in the order a breadth-first walk from the
    start state meets them, shifts in token-name order, and its tokens numbered by name: Lark
    numbers both in the order of sets of its own objects, which differs from run to run."""
    names: dict[int, str] = table["tokens"]
    states: dict[int, dict[int, tuple[int, Any]]] = table["states"]

    def by_name(actions: dict[int, tuple[int, Any]]) -> list[tuple[int, tuple[int, Any]]]:
        return sorted(actions.items(), key=lambda action: names[action[0]])

    number: dict[int, int] = {}
    queue = deque(state for _, state in sorted(table["start_states"].items()))
    while queue:
        state = queue.popleft()
        if state not in number:
            number[state] = len(number)
            queue.extend(arg for _, (shift, arg) in by_name(states[state]) if shift == 0)
    assert len(number) == len(states), "a state no walk from the start reaches"
    token = {name: index for index, name in enumerate(sorted(names.values()))}
    return {
        "tokens": {index: name for name, index in token.items()},
        "states": {number[state]: {token[names[t]]: (shift, number[arg] if shift == 0 else arg)
                                   for t, (shift, arg) in by_name(states[state])}
                   for state in sorted(number, key=number.__getitem__)},
        "start_states": {start: number[state] for start, state in table["start_states"].items()},
        "end_states": {start: number[state] for start, state in table["end_states"].items()},
    }


def encoded(value: Any) -> Any:
    """Lark's serialisation as JSON: its tuples and its maps with integer keys (states, memo
    ids) would not survive JSON, so they are written as {"tuple": [...]}, {"pairs": [...]}
    (aifab.verify.cel.decoded reverses this)."""
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {key: encoded(item) for key, item in value.items()}
        return {"pairs": [[encoded(key), encoded(item)] for key, item in value.items()]}
    if isinstance(value, tuple):
        return {"tuple": [encoded(item) for item in value]}
    if isinstance(value, list):
        return [encoded(item) for item in value]
    assert value is None or isinstance(value, (str, int, float, bool)), type(value)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="fail if the shipped file differs from what this would write")
    args = parser.parse_args()
    if os.environ.get("PYTHONHASHSEED") != "0":
        return subprocess.run([sys.executable, *sys.argv],
                              env={**os.environ, "PYTHONHASHSEED": "0"}, check=False).returncode
    text = json.dumps(tables(), indent=None, separators=(",", ":"), sort_keys=True) + "\n"
    if args.check:
        same = OUT.is_file() and OUT.read_text(encoding="utf-8") == text
        print(f"{OUT.relative_to(ROOT)}: {'current' if same else 'differs'}")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
