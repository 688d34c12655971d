"""Load: bytes -> plain data plus the source position of every node, refusing hostile input.

Blueprints come from pull requests, so the loader trusts nothing. It builds data from libyaml's
event stream itself rather than from PyYAML's composer, because that lets it
- stop at the first event past the nesting limit (libyaml's C composer recurses and crashes on
  deep nesting; its event stream does not, but gets quadratic, so the limit is checked early),
- bound alias expansion (billion laughs) and the total number of nodes,
- record a (line, column) for every key and value once, here, for every later stage,
- read scalars by the YAML 1.2 core schema and refuse those that YAML 1.1 tools (PyYAML,
  Go yaml.v2, older Helm) would read differently: `NO`, `on`, `0755`, `1e3`, `2024-01-01`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

import yaml

from aifab.diagnostics import Finding, Path, Severity, present
from aifab.yamlerrors import explain
from aifab.yamlscalars import TAG, TOO_BIG, describe12, disagreement, resolve12

if TYPE_CHECKING:
    from aifab.memo import Memo

CODES = {
    "AF101": "file cannot be read",
    "AF102": "file too large",
    "AF103": "file is not UTF-8 text",
    "AF104": "YAML syntax error",
    "AF105": "more than one YAML document",
    "AF106": "empty document or root not a mapping",
    "AF107": "duplicate key",
    "AF108": "key is not a string",
    "AF109": "anchors and aliases over budget",
    "AF110": "tag not allowed",
    "AF111": "number not finite",
    "AF112": "number too large",
    "AF113": "scalar read differently by YAML 1.1 and 1.2",
    "AF114": "nesting or size over budget",
    "AF115": "YAML merge key not allowed",
}

MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 50_000  # a large blueprint has a few hundred; this bounds the time to ~0.3 s
MAX_ALIASES = 32
MAX_INT = 2**53  # what a JSON number (and a Go float64 reader) still holds exactly
MAX_FINDINGS = 100  # then stop: 10^5 findings, each quoting a 1 MB line, would flood the log

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ALLOWEDTAGS = {TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map")}
# Decimal numbers YAML 1.1 and 1.2 read alike: they skip the (slow) 1.1 comparison, so a
# file of 200,000 numbers loads in about a second rather than ten.
_SAME_IN_BOTH = re.compile(r"[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")

@dataclass(frozen=True, slots=True)
class Document:
    """A loaded file: its data (None when unreadable), positions, source lines and findings."""

    file: str
    data: Any
    text: str = ""
    positions: Mapping[Path, tuple[int, int]] = field(default_factory=dict)
    key_positions: Mapping[Path, tuple[int, int]] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    def position(self, path: Path, *, at_key: bool = False) -> tuple[int, int]:
        """The (line, col) of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            table = self.key_positions if at_key else self.positions
            if path in table:
                return table[path]
            if at_key and path in self.positions:
                return self.positions[path]
            if not path:
                return (1, 1)
            path = path[:-1]

    def place(self, f: Finding, *, at_key: bool = False) -> Finding:
        path = f.path if self.data is None else present(self.data, f.path)
        line, col = self.position(path, at_key=at_key)
        return replace(f, file=self.file, line=line, col=col, path=path)

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def source_text(self, path: Path) -> str:
        """The source from `path`'s position to the end of its line (for quoting hints)."""
        line, col = self.position(path)
        return self.line_text(line)[col - 1 :]


class _Refused(Exception):
    """Stops composition at the first problem that makes the rest meaningless."""

    def __init__(self, code: str, message: str, mark: Any, hint: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint
        self.line, self.col = (mark.line + 1, mark.column + 1) if mark else (1, 1)


def load_file(path: str | FsPath, display: str | None = None, memo: Memo | None = None) -> Document:
    """Read and load one blueprint file; every problem becomes a finding, never an exception.
    With a `memo` (aifab.memo), bytes loaded before in this process are not parsed again."""
    name = display or str(path)
    if memo is not None:
        memo.saw(str(path))
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        return _refused(name, "AF101", f"cannot read the file: {exc.strerror or exc}")
    if memo is not None:
        return memo.get(("load", name, raw), lambda: load_bytes(raw, name))
    return load_bytes(raw, name)


def load_bytes(raw: bytes, name: str) -> Document:
    text = _decoded(raw, name)
    return text if isinstance(text, Document) else load_text(text, name)


def load_stream(raw: bytes, name: str) -> list[Document]:
    """Every document of a YAML stream (Kubernetes manifests: documents split by `---`), each
    with its own positions; the byte, node and alias budgets hold for the whole stream. A
    problem that stops reading ends the list with a Document whose data is None."""
    text = _decoded(raw, name)
    if isinstance(text, Document):
        return [text]
    composer = _Composer(text)
    documents = []
    try:
        for data in composer.documents():
            documents.append(Document(name, data, text, composer.positions,
                                      composer.key_positions, tuple(composer.placed(name))))
            composer.next_document()
    except _Refused as exc:
        problem = Finding(name, exc.line, exc.col, exc.code, Severity.ERROR, exc.message, (),
                          exc.hint)
        documents.append(Document(name, None, text, findings=(*composer.placed(name), problem)))
    except yaml.YAMLError as exc:
        problem = _syntax_finding(name, exc, text)
        documents.append(Document(name, None, text, findings=(*composer.placed(name), problem)))
    return documents


def _decoded(raw: bytes, name: str) -> str | Document:
    """The text of `raw`, or a Document that says why there is none."""
    if len(raw) > MAX_BYTES:
        return _refused(
            name,
            "AF102",
            f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB; a blueprint is a few KiB",
            hint="split a large fleet into one file per cluster",
        )
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        return _refused(name, "AF103", "the file is binary (it contains NUL bytes)", line=line)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return _refused(
            name,
            "AF103",
            f"the file is not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded",
            hint="save the file as UTF-8",
            line=line,
        )
    return text


def load_text(text: str, name: str) -> Document:
    composer = _Composer(text)
    try:
        data = composer.compose()
    except _Refused as exc:
        problem = Finding(name, exc.line, exc.col, exc.code, Severity.ERROR, exc.message, (), exc.hint)
        return Document(name, None, text, findings=(*composer.placed(name), problem))
    except yaml.YAMLError as exc:
        problem = _syntax_finding(name, exc, text)
        return Document(name, None, text, findings=(*composer.placed(name), problem))
    findings = composer.placed(name)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {_kind(data)}"
        findings.append(
            Finding(name, 1, 1, "AF106", Severity.ERROR,
                    f"the document is {kind}; a blueprint is a mapping with apiVersion, kind, "
                    "metadata and spec", (), "start from blueprints/gwangju-gb200.yaml")
        )
        data = None
    return Document(name, data, text, composer.positions, composer.key_positions, tuple(findings))


def _refused(name: str, code: str, message: str, hint: str = "", line: int = 1) -> Document:
    return Document(name, None, findings=(Finding(name, line, 1, code, Severity.ERROR, message, (), hint),))


def _syntax_finding(name: str, exc: yaml.YAMLError, text: str) -> Finding:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if isinstance(getattr(exc, "position", None), int):  # a ReaderError: a character index
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if isinstance(exc, yaml.reader.ReaderError):
        message = f"YAML syntax error: {exc.reason} (character #x{exc.character:04x})" if isinstance(
            exc.character, int) else f"YAML syntax error: {exc.reason}"
        hint = "remove control characters from the file"
    elif "nesting depth" in problem:  # libyaml >= 0.2.5 has a limit of its own
        return Finding(name, line, col, "AF114", Severity.ERROR,
                       f"the document is nested deeper than {MAX_DEPTH} levels", (),
                       "a blueprint needs a handful of levels")
    else:
        line, col, message, hint = explain(exc, text, line, col)
    return Finding(name, line, col, "AF104", Severity.ERROR, message, (), hint)


def _kind(value: Any) -> str:
    return {list: "list", dict: "mapping", str: "string", bool: "boolean"}.get(type(value), "number")


class _Composer:
    """Builds plain data from parser events, recording positions and collecting findings."""

    def __init__(self, text: str) -> None:
        self.parser = _Loader(text)
        self.positions: dict[Path, tuple[int, int]] = {}
        self.key_positions: dict[Path, tuple[int, int]] = {}
        self.findings: list[Finding] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, node count)
        self.nodes = 0
        self.aliases = 0

    def compose(self) -> Any:
        try:
            self._expect(yaml.StreamStartEvent)
            if isinstance(self.parser.peek_event(), yaml.StreamEndEvent):
                return None
            self._expect(yaml.DocumentStartEvent)
            data, _ = self._node((), 0)
            self._expect(yaml.DocumentEndEvent)
            nxt = self.parser.get_event()
            if not isinstance(nxt, yaml.StreamEndEvent):
                raise _Refused(
                    "AF105",
                    "the file holds more than one YAML document; a blueprint is one document",
                    nxt.start_mark,
                    "remove the '---' separator, or put each cluster in its own file",
                )
            return data
        finally:
            self.parser.dispose()

    def documents(self) -> Iterator[Any]:
        """The data of each document of the stream in turn (None for an empty one)."""
        try:
            self._expect(yaml.StreamStartEvent)
            while not isinstance(self.parser.peek_event(), yaml.StreamEndEvent):
                self._expect(yaml.DocumentStartEvent)
                if isinstance(self.parser.peek_event(), yaml.DocumentEndEvent):
                    data = None
                else:
                    data, _ = self._node((), 0)
                self._expect(yaml.DocumentEndEvent)
                yield data
        finally:
            self.parser.dispose()

    def next_document(self) -> None:
        """Start the positions, findings and anchors of the next document afresh (the node and
        alias budgets go on counting)."""
        self.positions, self.key_positions = {}, {}
        self.findings, self.anchors = [], {}

    def _expect(self, kind: type) -> Any:
        event = self.parser.get_event()
        if not isinstance(event, kind):  # pragma: no cover - libyaml guarantees the event order
            raise _Refused("AF104", f"unexpected YAML {type(event).__name__}", event.start_mark)
        return event

    def placed(self, name: str) -> list[Finding]:
        """The findings so far (also those before a refusal or syntax error), in file `name`."""
        return [replace(f, file=name) for f in self.findings]

    def _add(self, code: str, message: str, mark: Any, path: Path, hint: str = "") -> None:
        if len(self.findings) >= MAX_FINDINGS:
            raise _Refused("AF114", f"more than {MAX_FINDINGS} problems in the file; stopped "
                           "reading here", mark, "fix the problems above, then run aifab again")
        self.findings.append(
            Finding("", mark.line + 1, mark.column + 1, code, Severity.ERROR, message, path, hint)
        )

    def _node(self, path: Path, depth: int) -> tuple[Any, int]:
        """Returns (value, number of nodes in it), so aliases can be charged their full size."""
        event = self.parser.get_event()
        mark = event.start_mark
        # A block mapping or list starts on its first child's line; point at its key instead.
        block = isinstance(event, yaml.CollectionStartEvent) and not event.flow_style
        at = self.key_positions.get(path) if block else None
        self.positions.setdefault(path, at or (mark.line + 1, mark.column + 1))
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Refused("AF114", f"the document has more than {MAX_NODES} nodes", mark)
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event, path)
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and tag not in _ALLOWEDTAGS:
            self._add("AF110", f"the tag {tag.replace(TAG, '!!')} is not allowed in a blueprint",
                      mark, path, "remove the tag: blueprints are plain data")
        if isinstance(event, yaml.ScalarEvent):
            value, size = self._scalar(event, path), 1
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if depth >= MAX_DEPTH:
                raise _Refused("AF114", f"the document is nested deeper than {MAX_DEPTH} levels",
                               mark, "a blueprint needs a handful of levels")
            if isinstance(event, yaml.MappingStartEvent):
                value, size = self._mapping(path, depth + 1)
            else:
                value, size = self._sequence(path, depth + 1)
        else:  # pragma: no cover - no other event can start a node
            raise _Refused("AF104", f"unexpected YAML {type(event).__name__}", mark)
        if getattr(event, "anchor", None):
            self.anchors[event.anchor] = (value, size)
        return value, size

    def _alias(self, event: yaml.AliasEvent, path: Path) -> tuple[Any, int]:
        self.aliases += 1
        if event.anchor not in self.anchors:
            raise _Refused("AF104", f"YAML syntax error: the alias *{event.anchor} has no anchor "
                           "before it", event.start_mark)
        value, size = self.anchors[event.anchor]
        self.nodes += size
        if self.aliases > MAX_ALIASES or self.nodes > MAX_NODES:
            raise _Refused(
                "AF109",
                f"anchors and aliases expand beyond the budget ({MAX_ALIASES} aliases, "
                f"{MAX_NODES} nodes): this looks like an alias bomb",
                event.start_mark,
                "write the values out instead of aliasing them",
            )
        return value, size

    def _mapping(self, path: Path, depth: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        size = 1
        while not isinstance(self.parser.peek_event(), yaml.MappingEndEvent):
            key_event = self.parser.peek_event()
            mark = key_event.start_mark
            key = self._key(path, depth)
            child = path + (key,) if key is not None else path + ("\x00bad",)
            if key is not None and key in result:
                first = self.key_positions[child][0]
                self._add("AF107", f"duplicate key '{key}' (first defined on line {first})",
                          mark, child, "remove one of the two; YAML tools disagree on which wins")
                key = None
                child = path + ("\x00dup",)
            elif key is not None:
                self.key_positions[child] = (mark.line + 1, mark.column + 1)
            value, value_size = self._node(child, depth)
            size += value_size + 1
            if key is not None:
                result[key] = value
        self.parser.get_event()
        return result, size

    def _key(self, path: Path, depth: int) -> str | None:
        """A mapping key: a plain or quoted string, else a finding and None."""
        event = self.parser.peek_event()
        mark = event.start_mark
        if isinstance(event, yaml.ScalarEvent):
            self.parser.get_event()
            if event.style or event.tag == TAG + "str":
                return event.value
            if event.value == "<<":
                self._add("AF115", "YAML merge keys (<<) are not allowed", mark, path,
                          "write the keys out; merge keys are a YAML 1.1 feature many tools lack")
                return None
            key = resolve12(event.value)
            if isinstance(key, str) and event.tag in (None, "!"):
                return key
            shown = event.value
        else:
            key, _ = self._node(path + ("\x00key",), depth)
            shown = _kind(key)
        what = "null" if key is None else f"a {_kind(key)}"
        self._add("AF108", f"the key '{shown}' is {what}, not a string", mark, path,
                  "keys are names: quote the key, or rename it")
        return None

    def _sequence(self, path: Path, depth: int) -> tuple[list[Any], int]:
        result: list[Any] = []
        size = 1
        while not isinstance(self.parser.peek_event(), yaml.SequenceEndEvent):
            value, value_size = self._node(path + (len(result),), depth)
            result.append(value)
            size += value_size
        self.parser.get_event()
        return result, size

    def _scalar(self, event: yaml.ScalarEvent, path: Path) -> Any:
        text = event.value
        if event.style or event.tag == TAG + "str":  # quoted, block or !!str: always a string
            return text
        if event.tag not in (None, "!"):
            value = self._explicit(event, path)
            return value if self._bounded(value, event, path) else None
        value = resolve12(text)
        if not self._bounded(value, event, path):
            return None
        reading11 = None if _SAME_IN_BOTH.fullmatch(text) else disagreement(text)
        if reading11 is not None:
            boolean = reading11.startswith("the boolean")
            hint = f"quote it ('{text}') if you mean text" + (
                "; write true or false for a boolean" if boolean else "")
            self._add(
                "AF113",
                f"'{text}' is {reading11} in YAML 1.1 (PyYAML, Go yaml.v2) but "
                f"{describe12(value)} in YAML 1.2; tools would disagree on this value",
                event.start_mark, path, hint,
            )
        return value

    def _bounded(self, value: Any, event: yaml.ScalarEvent, path: Path) -> bool:
        """False, after a finding, when `value` is not finite (AF111) or too large (AF112): the
        same checks for a plain scalar and for one with a tag (`!!float .nan`)."""
        text = event.value
        if isinstance(value, float) and not math.isfinite(value):  # .nan, .inf, 1e309
            self._add("AF111", f"'{text}' is not a finite number", event.start_mark, path,
                      "use a finite number, or quote it if you meant text")
            return False
        if value is TOO_BIG or (type(value) is int and abs(value) > MAX_INT):
            shown = text if len(text) <= 20 else text[:20] + "..."
            self._add("AF112", f"the number {shown} is too large (beyond 2^53)",
                      event.start_mark, path, "use a realistic number")
            return False
        return True

    def _explicit(self, event: yaml.ScalarEvent, path: Path) -> Any:
        """A scalar with an explicit standard tag: !!int 3, !!bool true, !!null ''."""
        value = resolve12(event.value)
        expected = {TAG + "int": int, TAG + "float": float, TAG + "bool": bool}.get(event.tag)
        if event.tag == TAG + "null":
            return None
        if expected is None:  # a disallowed tag was already reported
            return event.value
        if value is TOO_BIG and expected is not bool:
            return value  # AF112, from _bounded
        if type(value) is not expected and not (expected is float and type(value) is int):
            self._add("AF110", f"'{event.value}' is not a valid {event.tag.replace(TAG, '!!')}",
                      event.start_mark, path, "remove the tag")
            return event.value
        return float(value) if expected is float else value
