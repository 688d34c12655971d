"""Trusted locks: the generated trees this machine's aifab wrote (or found equal) itself.

A lock in generated/ is whatever the checkout holds: a pull request can edit a file and the
lock's digest of it together, and a lock of the same aifab version says nothing of aifab's
code (a fix released without a new version, a developer's checkout). So `generate` reuses a
tree (no rebuild, no write) only when this machine's aifab, the same code byte for byte,
recorded that exact lock when it wrote the tree or found it holding exactly what it built.
The record lives outside the repository, where no pull request reaches: one small JSON file
per output folder in $XDG_CACHE_HOME/aifab/trees (default ~/.cache/aifab/trees). A tree from
a checkout is therefore rebuilt once per machine (compared, and rewritten only if it differs);
an edited lock, or changed aifab code, is rebuilt again. It is a cache: when it cannot be read
or written, trees are rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path as FsPath

import yaml

import aifab


@lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 of everything that makes aifab's output: its package's files (code, catalog,
    templates) and the versions of Python and PyYAML (whose emitter writes the files)."""
    package = FsPath(aifab.__file__).resolve().parent
    sha = hashlib.sha256(f"{sys.version_info[:2]} {yaml.__version__}".encode())
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            sha.update(path.relative_to(package).as_posix().encode() + b"\0")
            sha.update(path.read_bytes())
    return "sha256:" + sha.hexdigest()


def _record(out: FsPath) -> FsPath:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = hashlib.sha256(os.fsencode(out.resolve())).hexdigest()[:32]
    return FsPath(cache) / "aifab" / "trees" / f"{key}.json"


def trusted(out: FsPath) -> dict[str, str]:
    """Cluster name -> the digest of the lock this aifab wrote (or found current) in out/."""
    try:
        data = json.loads(_record(out).read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("code") != code_digest():
        return {}
    clusters = data.get("clusters")
    return {k: v for k, v in clusters.items() if isinstance(v, str)} \
        if isinstance(clusters, dict) else {}


def remember(out: FsPath, locks: Mapping[str, str]) -> None:
    """Record these clusters' lock digests for out/ (replacing the record in one step)."""
    path = _record(out)
    data = {"code": code_digest(), "out": str(out.resolve()),
            "clusters": dict(sorted({**trusted(out), **locks}.items()))}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    except OSError:  # a read-only home: the trees are rebuilt next time, as on a new machine
        return
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(data, file, indent=1)
        os.replace(temporary, path)
    except OSError:  # a full disk: as above, and no half-written record is left behind
        with contextlib.suppress(OSError):
            os.unlink(temporary)
