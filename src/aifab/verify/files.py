"""The files behind --crds and --chart-values, read as untrusted input like blueprints.

A CI job may point these options at a folder of the pull request, so a file there may be a
FIFO (open would hang), a link to /dev/zero (read would not end), an alias bomb, Latin-1 text or
a CRD with `spec: null`. Each is a finding with the file and line, never a traceback or a hang:
only regular files are read (opened without blocking, then checked), at most MAX_BYTES each,
links may not leave the folder given, and a first pass over libyaml's events bounds nesting,
nodes and alias expansion before anything is built. Upstream CRDs and values files are larger
than blueprints (JobSet's CRD: 0.8 MB, 11,000 nodes, 38 levels), hence the budgets below; the
codes are the loader's (aifab.load).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Any

import yaml

from aifab.diagnostics import Finding, Severity
from aifab.load import MAX_ALIASES, MAX_DEPTH

MAX_BYTES = 16 * 1024 * 1024
MAX_NODES = 1_000_000  # per file: about 3 s of parsing
MAX_FILES = 2_000  # YAML files under one folder

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Refused(Exception):
    """A file that cannot be used, as a finding."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def _refuse(file: str, code: str, message: str, hint: str = "", line: int = 1,
            col: int = 1) -> Refused:
    return Refused(Finding(file, line, col, code, Severity.ERROR, message, (), hint))


def yaml_files(folder: FsPath) -> tuple[list[FsPath], list[Finding]]:
    """The *.yaml and *.yml files below `folder` (links to folders not followed), sorted."""
    found: list[FsPath] = []
    for top, dirs, names in os.walk(folder):
        dirs.sort()
        found += [FsPath(top) / n for n in sorted(names) if n.endswith((".yaml", ".yml"))]
        if len(found) > MAX_FILES:
            return sorted(found[:MAX_FILES]), [Finding(
                str(folder), 1, 1, "AF114", Severity.ERROR,
                f"more than {MAX_FILES} YAML files below the folder; the rest are not read",
                (), "point the option at the folder of the CRDs or values files only")]
    return sorted(found), []


def documents(path: FsPath, root: FsPath | None = None) -> list[tuple[int, Any]]:
    """Each YAML document of the file with the line it starts on; raises Refused."""
    file = str(path)
    text = _text(path, root)
    lines = _within_budget(file, text)
    try:
        return list(zip(lines, yaml.load_all(text, Loader=_Loader), strict=True))
    except yaml.YAMLError as exc:  # a tag that has no constructor, for one
        raise _syntax(file, exc) from None


def _text(path: FsPath, root: FsPath | None) -> str:
    file = str(path)
    try:
        outside = root is not None and not path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a loop of links
        outside = True
    if outside:
        raise _refuse(file, "AF101", "the file is a link to a place outside the folder given",
                      "copy the file into the folder instead of linking to it")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _refuse(file, "AF101", f"cannot read the file: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _refuse(file, "AF101", "not a regular file (a pipe, a device or a socket)",
                          "only plain files are read")
        raw = fh.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise _refuse(file, "AF102", f"the file is larger than {MAX_BYTES // 2**20} MiB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _refuse(file, "AF103", f"the file is not UTF-8: byte 0x{raw[exc.start]:02x} "
                      "cannot be decoded", "save the file as UTF-8", line) from None


def _within_budget(file: str, text: str) -> list[int]:
    """Nesting, nodes and alias expansion, counted on the event stream before anything is
    built (an alias is charged the size of what it names); the line each document starts on."""
    anchors: dict[str, int] = {}  # anchor -> nodes in what it names
    starts: list[tuple[str | None, int]] = []  # open collections: (anchor, nodes before)
    nodes = aliases = 0
    lines = []
    try:
        for event in _events(text):
            if isinstance(event, yaml.DocumentStartEvent):
                lines.append(event.start_mark.line + 1)
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                nodes += anchors.get(event.anchor, 1)
                if aliases > MAX_ALIASES or nodes > MAX_NODES:
                    raise _at(file, "AF109", "anchors and aliases expand beyond the budget "
                              f"({MAX_ALIASES} aliases, {MAX_NODES} nodes): this looks like "
                              "an alias bomb", event)
            elif isinstance(event, yaml.ScalarEvent):
                nodes += 1
                if event.anchor:
                    anchors[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                if len(starts) >= MAX_DEPTH:
                    raise _at(file, "AF114", f"nested deeper than {MAX_DEPTH} levels", event)
                starts.append((event.anchor, nodes))
                nodes += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, before = starts.pop()
                if anchor:
                    anchors[anchor] = nodes - before
            if nodes > MAX_NODES:
                raise _at(file, "AF114", f"more than {MAX_NODES} nodes", event)
    except yaml.YAMLError as exc:
        raise _syntax(file, exc) from None
    return lines


def _events(text: str) -> Iterator[Any]:
    loader = _Loader(text)
    try:
        while loader.check_event():
            yield loader.get_event()
    finally:
        loader.dispose()


def _at(file: str, code: str, message: str, event: Any) -> Refused:
    mark = event.start_mark
    return _refuse(file, code, message, "", mark.line + 1, mark.column + 1)


def _syntax(file: str, exc: yaml.YAMLError) -> Refused:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return _refuse(file, "AF104", f"YAML syntax error: {problem}", "", line, col)
