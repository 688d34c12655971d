"""The objects to judge: every document of the files given, read as untrusted input.

Each file goes through the loader's limits (aifab.load: bytes, nodes, aliases, depth, tags);
a file that cannot be read (AF700), or that has a problem the loader reports (AF1xx), is not
judged at all: the findings say why, and admit exits 2.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aifab.diagnostics import Finding, Severity
from aifab.load import MAX_BYTES, Document, load_stream


@dataclass(frozen=True)
class Submitted:
    """One document of a file: its data (any YAML value) and where it starts."""

    document: Document
    index: int  # 0 for the file's first document

    @property
    def data(self) -> Any:
        return self.document.data

    @property
    def file(self) -> str:
        return self.document.file

    @property
    def line(self) -> int:
        return self.document.position(())[0]

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", "")) if isinstance(self.data, Mapping) else ""

    @property
    def metadata(self) -> Mapping[str, Any]:
        metadata = self.data.get("metadata") if isinstance(self.data, Mapping) else None
        return metadata if isinstance(metadata, Mapping) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str | None:
        namespace = self.metadata.get("namespace")
        return namespace if isinstance(namespace, str) else None

    def place(self, f: Finding) -> Finding:
        """A judge's finding (a path in the object) at its file:line:col."""
        return self.document.place(f)


def read(path: str) -> tuple[list[Submitted], list[Finding]]:
    """The non-empty documents of one file, or the findings that stop it from being judged."""
    try:  # never blocks: a named pipe or a device is refused, not read
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return [], [Finding(path, 1, 1, "AF700", Severity.ERROR,
                                    f"{path} is not a regular file", (),
                                    "pass files of Kubernetes objects (YAML or JSON)")]
            with os.fdopen(fd, "rb", closefd=False) as fh:
                raw = fh.read(MAX_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        return [], [Finding(path, 1, 1, "AF700", Severity.ERROR,
                            f"cannot read {path}: {exc.strerror or exc}", (),
                            "pass a readable file of Kubernetes objects (YAML or JSON)")]
    documents = load_stream(raw, path)
    problems = [f for d in documents for f in d.findings]
    if problems:
        return [], problems
    found = [Submitted(d, i) for i, d in enumerate(documents) if d.data is not None]
    if not found:
        return [], [Finding(path, 1, 1, "AF700", Severity.ERROR, f"{path} holds no object", (),
                            "pass files of Kubernetes objects (YAML documents)")]
    return found, []
