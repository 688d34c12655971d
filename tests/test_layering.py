"""The house: every import points down, and no import circle.

Each module of src/aifab belongs to one layer of LAYERS (bottom first); a module may import its
own layer and those below, never one above. Every import counts: at the top of a module, lazy
inside a function, and under TYPE_CHECKING (a type that climbs up is a dependency all the same).
docs/architecture.md shows the same table; a test keeps them equal.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# Bottom first. An entry names a module, or a package and everything in it; the longest entry
# that holds a module decides its layer ("aifab" alone is the package's own __init__).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("aifab", "aifab.diagnostics", "aifab.yamlscalars", "aifab.memo",
              "aifab.progress", "aifab.escape", "aifab.scan", "aifab.trusted",
              "aifab.outlock", "aifab.worker", "aifab.terminal")),
    ("catalog", ("aifab.catalog",)),
    ("model", ("aifab.model", "aifab.naming", "aifab.addressing")),
    ("load", ("aifab.load", "aifab.yamlerrors")),
    ("validate", ("aifab.validate", "aifab.schema", "aifab.mismatch")),
    ("compose", ("aifab.fleet.compose",)),
    ("resolve", ("aifab.resolve", "aifab.fleet.model")),
    ("check", ("aifab.check", "aifab.fleet.rules", "aifab.fleet")),
    ("expand", ("aifab.expand",)),
    ("verify", ("aifab.verify",)),
    ("render", ("aifab.render",)),
    ("pipeline", ("aifab.pipeline", "aifab.suppress")),
    ("report", ("aifab.reporters", "aifab.sarif")),
    ("deploy", ("aifab.deploy",)),
    ("commands", ("aifab.generate", "aifab.plan", "aifab.mirror", "aifab.diff", "aifab.live",
                  "aifab.rollout", "aifab.retire", "aifab.admit", "aifab.scaffold")),
    ("watch", ("aifab.watch",)),
    ("cli", ("aifab.cli", "aifab.__main__")),
)


def modules(source: Path = SOURCE) -> dict[str, Path]:
    """Every module under `source`: dotted name -> file (a package by its name)."""
    found = {}
    for path in sorted(source.rglob("*.py")):
        parts = path.relative_to(source).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The aifab modules `name` imports anywhere in its file: `from a import b` is a.b when
    that is a module, else a; relative imports are made absolute."""
    known = set(known)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                      for a in node.names}
    return {m for m in found if m == "aifab" or m.startswith("aifab.")}


def graph(source: Path = SOURCE) -> dict[str, set[str]]:
    found = modules(source)
    return {name: imports(name, path, found) - {name} for name, path in found.items()}


def layer_of(module: str, layers: Iterable[tuple[str, tuple[str, ...]]] = LAYERS) -> int | None:
    """The index of the layer `module` belongs to, None when no entry holds it."""
    best: tuple[int, int] | None = None  # (length of the entry, layer)
    for index, (_, entries) in enumerate(layers):
        for entry in entries:
            holds = module == entry or (entry != "aifab" and module.startswith(entry + "."))
            if holds and (best is None or len(entry) > best[0]):
                best = (len(entry), index)
    return None if best is None else best[1]


def upward(edges: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """Every (importer, imported) where the imported module is in a higher layer."""
    return [(importer, target) for importer, imported in sorted(edges.items())
            for target in sorted(imported)
            if (layer_of(target) or 0) > (layer_of(importer) or 0)]


def described(pairs: Iterable[tuple[str, str]]) -> str:
    names = [name for name, _ in LAYERS]
    return "\n".join(f"{a} ({names[layer_of(a) or 0]}) imports {b} ({names[layer_of(b) or 0]})"
                      for a, b in pairs)


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import circles: strongly connected sets of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            members = []
            while not members or members[-1] != node:
                members.append(stack.pop())
            if len(members) > 1:
                found.append(sorted(members))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def documented_layers(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """The layer table of docs/architecture.md, bottom first: rows `| n | layer | modules |`,
    each module named without `aifab.` (`__init__` is the package's own)."""
    rows = sorted(re.findall(r"^\| *(\d+) *\| *(\w+) *\| *(.+?) *\|$", text, re.MULTILINE),
                  key=lambda row: int(row[0]))
    return [(layer, tuple("aifab" if m == "__init__" else f"aifab.{m}"
                          for m in re.findall(r"`([\w.]+)`", cells)))
            for _, layer, cells in rows]


# -- the house ----------------------------------------------------------------------------------


def test_every_module_has_a_layer():
    assert [m for m in modules() if layer_of(m) is None] == []


def test_no_import_points_up():
    found = upward(graph())
    assert found == [], "an import points up:\n" + described(found)


def test_no_import_circle():
    assert cycles(graph()) == []


def test_the_docs_show_the_same_layers():
    assert documented_layers(ARCHITECTURE.read_text()) == [
        (name, tuple(entries)) for name, entries in LAYERS]


# -- the test can fail ---------------------------------------------------------------------------


def test_lazy_and_type_checking_imports_are_seen():
    edges = graph()
    assert "aifab.check" in edges["aifab.pipeline"]  # inside a function
    assert "aifab.memo" in edges["aifab.load"]  # under TYPE_CHECKING
    assert "aifab.fleet.compose" in edges["aifab.fleet"]  # from a package's __init__


def test_an_import_up_or_in_a_circle_is_caught(tmp_path):
    """The memo as it was (in watch.py, imported by load.py): one import up, one circle."""
    package = tmp_path / "aifab"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "load.py").write_text("def load(memo):\n    from aifab.watch import Memo\n")
    (package / "watch.py").write_text("from . import load\nfrom aifab.pipeline import run\n")
    (package / "pipeline.py").write_text("import aifab.load\n")
    edges = graph(tmp_path)
    assert upward(edges) == [("aifab.load", "aifab.watch")]
    assert described(upward(edges)) == "aifab.load (load) imports aifab.watch (watch)"
    assert cycles(edges) == [["aifab.load", "aifab.pipeline", "aifab.watch"]]
