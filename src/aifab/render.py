"""Render: outputs -> bytes of generated/<cluster>/, the lock, drift checks, atomic writes.

Same input, same bytes: keys in a fixed order, every string any YAML reader could mistype
quoted, no timestamps. A cluster's folder is replaced in one step (write beside, then swap),
so an interrupted run leaves the old tree or the new one, never a mix.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import difflib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path as FsPath
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

import yaml
from yaml.representer import SafeRepresenter
from yaml.resolver import Resolver

from aifab import __version__
from aifab.expand.common import Output
from aifab.scan import read_regular, scan_tree
from aifab.yamlscalars import LONG_WORD, needs_quotes

LOCK = "aifab.lock.json"
FIRST_KEYS = ("apiVersion", "kind", "metadata", "name", "namespace")

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # PyYAML's emitter, C when available
_FIRST = frozenset(FIRST_KEYS)
TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ = TAG + "str", TAG + "map", TAG + "seq"
_RESOLVER = Resolver()
_REPRESENTER = SafeRepresenter()  # PyYAML's own spelling of other scalars (null, true, 1.0e+17)
_PLAIN, _QUOTED, _ANY = (True, False), (False, True), (True, True)


@lru_cache(maxsize=1 << 12)
def _plain_tag(value: str) -> str:
    return _RESOLVER.resolve(yaml.ScalarNode, value, _PLAIN)


def _key_order(key: Any) -> tuple[int, Any]:
    return (FIRST_KEYS.index(key) if key in FIRST_KEYS else len(FIRST_KEYS), key)


def _events(data: Any, out: list[yaml.Event]) -> None:
    """Append the YAML events of `data` to `out`: block style, no aliases, mappings with
    FIRST_KEYS first and the rest sorted (the same order whatever order data was built in),
    strings quoted when any YAML reader could mistype them.

    These are the events PyYAML's representer and serializer would make under these rules,
    with each scalar's implicit-tag flags known here instead of asked of the resolver twice
    per scalar (a national fleet has 300,000 of them); PyYAML's emitter writes them."""
    kind = type(data)
    if kind is dict or kind is MappingProxyType:
        out.append(_MAPPING_START)
        if _FIRST.isdisjoint(data):  # most mappings (labels, values): plain key order, fast
            items = sorted(data.items())
        else:
            items = sorted(data.items(), key=lambda item: _key_order(item[0]))
        for key, value in items:
            out.append(_string(key) if type(key) is str else _scalar(key))
            if type(value) is str:
                out.append(_string(value))
            else:
                _events(value, out)
        out.append(_MAPPING_END)
    elif kind is list or kind is tuple:
        out.append(_SEQUENCE_START)
        for item in data:
            if type(item) is str:
                out.append(_item(item))
            else:
                _events(item, out)
        out.append(_SEQUENCE_END)
    elif kind is str:
        out.append(_string(data))
    else:
        out.append(_scalar(data))


# Events hold no state of their own in the emitter, so equal ones can be shared.
_MAPPING_START = yaml.MappingStartEvent(None, _MAP, True, flow_style=False)
_MAPPING_END = yaml.MappingEndEvent()
_SEQUENCE_START = yaml.SequenceStartEvent(None, _SEQ, True, flow_style=False)
_SEQUENCE_END = yaml.SequenceEndEvent()


def _item(text: str) -> yaml.ScalarEvent:
    """A string in a list. Lists hold the node names of the pools, 60,000 different long words
    in a national fleet: each such word reads plain as itself in every reader (LONG_WORD), so
    its event is made directly, not through _string's cache, which they would flush of the
    keys and values that do repeat (9% of a one-process fleet generation)."""
    if LONG_WORD.match(text):
        return yaml.ScalarEvent(None, _STR, _ANY, text)
    return _string(text)


@lru_cache(maxsize=1 << 16)  # generated trees repeat the same keys and values
def _string(text: str) -> yaml.ScalarEvent:
    if "\n" in text:
        return yaml.ScalarEvent(None, _STR, (_plain_tag(text) == _STR, True), text, style="|")
    if needs_quotes(text):  # a plain reading would not be this string
        return yaml.ScalarEvent(None, _STR, _QUOTED, text, style='"')
    # every reader, PyYAML's resolver included, reads it plain as this string
    return yaml.ScalarEvent(None, _STR, _ANY, text)


def _scalar(data: Any) -> yaml.ScalarEvent:
    # floats are not cached: 0.0 == -0.0 would share one entry, and print as the first
    return _scalar_event(data) if type(data) is float else _cached_scalar(data)


@lru_cache(maxsize=1 << 12, typed=True)  # typed: True and 1 are different scalars
def _cached_scalar(data: Any) -> yaml.ScalarEvent:
    return _scalar_event(data)


def _scalar_event(data: Any) -> yaml.ScalarEvent:
    node = _scalar_node(data)
    return yaml.ScalarEvent(None, node.tag, (_plain_tag(node.value) == node.tag, False),
                            node.value)


def _scalar_node(data: Any) -> yaml.ScalarNode:
    if type(data) is bool:
        return _REPRESENTER.represent_bool(data)
    if type(data) is int:
        return _REPRESENTER.represent_int(data)
    if type(data) is float:
        return _REPRESENTER.represent_float(data)
    if data is None:
        return _REPRESENTER.represent_none(data)
    raise TypeError(f"cannot render a {type(data).__name__} as YAML")


def to_yaml(data: Any) -> str:
    events: list[yaml.Event] = [yaml.StreamStartEvent(), yaml.DocumentStartEvent(explicit=False)]
    _events(data, events)
    events += [yaml.DocumentEndEvent(explicit=False), yaml.StreamEndEvent()]
    return yaml.emit(events, Dumper=_Dumper, allow_unicode=True, width=4096)


def header(blueprint: str) -> str:
    return (f"# Generated by aifab {__version__} from {blueprint}. Do not edit:\n"
            f"# change the blueprint and run `aifab generate`.\n")


def digest(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def blueprint_digest(data: Any) -> str:
    """A digest of the blueprint's data, not its text: comments and key order do not count."""
    return digest(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())


def repository_path(file: FsPath, root: FsPath) -> str:
    """`file` as a lock names it: relative to the repository root (the output folder's parent),
    links resolved, so the same whatever the working directory."""
    return FsPath(os.path.relpath(file.resolve(), root.resolve())).as_posix()


def render(outputs: Iterable[Output], *, blueprint: str, blueprint_data: Any,
           catalog_version: str, source: str) -> dict[str, bytes]:
    """Every file of a cluster's folder, lock included, as {relative path: bytes}.

    `blueprint` is the file the cluster is written in; `source` the file aifab was given (the
    same, or the fleet it belongs to), from which `blueprintDigest` can be computed again."""
    top = header(blueprint)
    files = {
        out.path: (out.data["text"] if out.kind == "document" else top + to_yaml(out.data)).encode()
        for out in outputs
    }
    for path in files:
        _assert_inside(path)
    lock = {
        "aifabVersion": __version__,
        "catalogVersion": catalog_version,
        "blueprint": blueprint,
        "blueprintDigest": blueprint_digest(blueprint_data),
        "source": source,
        "files": {path: digest(files[path]) for path in sorted(files)},
    }
    files[LOCK] = (json.dumps(lock, indent=2, sort_keys=True) + "\n").encode()
    return dict(sorted(files.items()))


def _assert_inside(path: str) -> None:
    """Output paths come from validated names; this guards against a bug letting one escape."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or path != str(pure):
        raise ValueError(f"refusing to write outside the cluster folder: {path!r}")


# --- drift -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    """How a cluster folder on disk differs from what the blueprint generates now."""

    folder: FsPath
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # generated earlier from other inputs
    edited: list[str] = field(default_factory=list)  # changed by hand since generated
    odd: list[str] = field(default_factory=list)  # not regular files, never read (Tree.odd)
    diffs: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # what an odd or extra entry is, or why
    lines: dict[str, int] = field(default_factory=dict)  # first line on disk that differs

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.stale or self.edited or self.odd)

    def describe(self, path: str) -> str:
        """An entry as `--check` lists it: its path ('.' the folder), and what or why."""
        note = self.notes.get(path)
        if path in self.odd:
            return f"{'(the folder itself)' if path == '.' else path}: {note}"
        if note is None:
            return path
        return f"({note})" if path == "." else f"{path} ({note})"


def read_tree(folder: FsPath) -> dict[str, bytes]:
    """The regular files under `folder` by POSIX path, sorted (scan_tree: no link followed,
    nothing else read)."""
    return scan_tree(folder).files


RACY_NS = 2_000_000_000  # file times may tick this coarsely (FAT: 2 s; ext3, many mounts: 1 s)


def tree_state(folder: FsPath) -> tuple | None:
    """What tells whether any file under `folder` changed: each file's path, inode, size and
    modification and change times (ctime: set by every write, and by `touch -d`, which no
    one can set back). None while a file is "racy", changed within RACY_NS: a second change
    in the same tick of the file times could leave all of these as they were (git knows it
    too). Links to files are stat'ed through (read_tree reads no link: their targets only make
    the state change more often, never less), links to folders are not."""
    now, entries, folders = time.time_ns(), [], [os.fspath(folder)]
    while folders:
        root = folders.pop()
        try:
            found = os.scandir(root)
        except OSError:  # gone, or not a folder: nothing to read there (as os.walk)
            continue
        with found:
            for item in found:
                try:
                    if item.is_dir():  # a link to a folder is neither walked nor read
                        if not item.is_symlink():
                            folders.append(item.path)
                        continue
                    st = item.stat()  # a link's target, as read_tree reads it
                except OSError:  # gone since the listing, or a dangling link: read it again
                    return None
                if now - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_NS:
                    return None
                entries.append((root, item.name, st.st_ino, st.st_size, st.st_mtime_ns,
                                st.st_ctime_ns))
    return (str(folder), tuple(sorted(entries)))


def drift(folder: FsPath, expected: Mapping[str, bytes]) -> Drift:
    tree = scan_tree(folder)
    actual = tree.files
    recorded = _lock_digests(actual.get(LOCK))
    result = Drift(folder, odd=list(tree.odd), notes=dict(tree.odd))
    if "." in tree.odd:
        return result
    # A lock that records the very inputs of this run but other files was edited (or written
    # by another build of the same aifab version): then so was every file it vouches for.
    inputs = _inputs(expected.get(LOCK))
    lock_edited = (inputs is not None and actual.get(LOCK) != expected.get(LOCK)
                   and _inputs(actual.get(LOCK)) == inputs)
    for path in sorted(set(expected) | set(actual)):
        if path in tree.odd:
            continue
        if path not in actual:
            result.missing.append(path)
        elif path not in expected:
            result.extra.append(path)
        elif actual[path] != expected[path]:
            edited = lock_edited or path != LOCK and recorded.get(path) not in (
                None, digest(actual[path]))
            (result.edited if edited else result.stale).append(path)
            result.lines[path] = _first_difference(actual[path], expected[path])
            result.diffs[path] = "".join(difflib.unified_diff(
                actual[path].decode(errors="replace").splitlines(keepends=True),
                expected[path].decode(errors="replace").splitlines(keepends=True),
                f"{folder / path} (on disk)", f"{folder / path} (generated)"))
    return result


def _first_difference(actual: bytes, expected: bytes) -> int:
    """The number of the first line of `actual` that is not the line `expected` has there."""
    pairs = zip(actual.splitlines(), expected.splitlines(), strict=False)
    same = next((i for i, (a, b) in enumerate(pairs) if a != b), None)
    return 1 + (same if same is not None else min(len(actual.splitlines()),
                                                    len(expected.splitlines())))


def _inputs(raw: bytes | None) -> dict[str, Any] | None:
    """What a lock says its tree was made from (all but its `files`), or None."""
    try:
        lock = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return {k: v for k, v in lock.items() if k != "files"} if isinstance(lock, dict) else None


def _lock_digests(raw: bytes | None) -> dict[str, str]:
    try:
        files = json.loads(raw or b"{}").get("files", {})
    except (ValueError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}


# --- writing -----------------------------------------------------------------------------


def write_cluster(out: FsPath, name: str, files: Mapping[str, bytes]) -> bool:
    """Replace out/<name>/ by `files` in one step; False when it already held exactly them."""
    return write_clusters(out, {name: files})[name]


def write_clusters(out: FsPath, trees: Mapping[str, Mapping[str, bytes]],
                   staged: Sequence[str] = (),
                   replaced: list[FsPath] | None = None) -> dict[str, bool]:
    """Replace each out/<name>/ by its files, each in one step; name -> whether it changed.

    Every changed tree is staged beside its folder (those in `staged` already are, by
    `stage_cluster`), then one syncfs puts them all on disk, then each is swapped in: an
    interruption leaves each folder wholly old or wholly new. The old trees are removed; with
    `replaced`, they are moved aside and listed there instead, for the caller to remove once
    it has reported (`remove_replaced`); a run that finds one left removes it (`_recover`)."""
    ready = list(staged)
    try:
        ready += [name for name, files in trees.items() if stage_cluster(out, name, files)]
    except BaseException:  # a full disk, say: no folder was touched; leave no staging behind
        discard_staged(out, [*ready, *trees])
        raise
    if ready:
        try:
            _sync_filesystem(out)  # every file on disk before a swap makes them visible
            for name in ready:
                target, staging = out / name, _staging(out, name)
                if os.path.lexists(target):  # a dangling link too: swapped out, not followed
                    _exchange(staging, target)  # staging now holds the old tree
                    if replaced is None:
                        _remove(staging)
                    else:
                        os.rename(staging, _aside(target))
                        replaced.append(_aside(target))
                else:
                    os.rename(staging, target)
        except BaseException:  # each folder is old or new; what is staged (new or old) goes
            discard_staged(out, ready)
            raise
        _fsync_dir(out)
    return {name: name in ready for name in [*trees, *staged]}


def remove_replaced(replaced: list[FsPath]) -> list[OSError]:
    """Remove the old trees `write_clusters` moved aside, each listed until it is gone or
    failed; what failed, each tree's error (a run that writes that cluster removes it)."""
    failed = []
    while replaced:
        try:
            _remove(replaced[-1])
        except OSError as e:
            failed.append(e)
        replaced.pop()
    return failed


def stage_cluster(out: FsPath, name: str, files: Mapping[str, bytes]) -> bool:
    """Write `files` beside out/<name>/ for `write_clusters` to swap in; False (and nothing
    staged) when the folder already holds exactly them. Leftovers of an interrupted run go."""
    target, staging = out / name, _staging(out, name)
    _recover(target, staging)
    if _holds(target, files):
        return False
    try:
        _stage(staging, files)
    except BaseException:
        _remove(staging)
        raise
    return True


def _holds(folder: FsPath, files: Mapping[str, bytes]) -> bool:
    """Whether `folder` holds exactly `files`. Their lock, which names every file's digest,
    is compared first: for a cluster that changed, that is the only file read."""
    if LOCK in files and read_regular(folder / LOCK, len(files[LOCK])) != files[LOCK]:
        return False
    tree = scan_tree(folder)
    return not tree.odd and tree.files == dict(files)


def discard_staged(out: FsPath, names: Iterable[str]) -> None:
    """Remove what `stage_cluster` wrote for these clusters; their folders stay as they are."""
    for name in names:
        _remove(_staging(out, name))


def _staging(out: FsPath, name: str) -> FsPath:
    return out / f".{name}.aifab-new"


def _stage(staging: FsPath, files: Mapping[str, bytes]) -> None:
    staging.parent.mkdir(parents=True, exist_ok=True)
    staging.mkdir()
    folders = {str(staging)}
    for path, content in files.items():
        _assert_inside(path)  # and staging is new, so no symlink inside it leads out
        dest = os.path.join(staging, path)
        if (parent := os.path.dirname(dest)) not in folders:
            os.makedirs(parent, exist_ok=True)
            folders.add(parent)
        with open(dest, "xb") as file:
            file.write(content)


def recover(out: FsPath, name: str) -> None:
    """Clear what an interrupted run left beside out/<name>/ (for a folder not rewritten)."""
    _recover(out / name, _staging(out, name))


def _recover(target: FsPath, staging: FsPath) -> None:
    """Clear what an interrupted run left beside `target`, even when nothing is to be written.

    Its staging folder goes (after a swap it holds the old tree); so does a symlink in its
    place, which would otherwise route the writes out of `out`. The rename fallback of
    `_exchange` may have left the old tree aside: put back when `target` is missing, else gone.
    """
    aside = _aside(target)
    if aside.is_dir() and not aside.is_symlink() and not os.path.lexists(target):
        os.rename(aside, target)
    _remove(staging)
    _remove(aside)


def _aside(target: FsPath) -> FsPath:
    return target.with_name(f".{target.name}.aifab-old")


def _remove(path: FsPath) -> None:
    """Delete a folder tree, or a file or symlink (never what the symlink points to)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


def _sync_filesystem(path: FsPath) -> None:
    """Flush the file system holding `path`: one syncfs(2) instead of an fsync per file."""
    syncfs = getattr(_libc(), "syncfs", None)
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _fsync_dir(path: FsPath) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: FsPath, b: FsPath) -> None:
    """Swap two directories atomically (Linux renameat2 RENAME_EXCHANGE).

    Where the call is missing (not Linux, old libc, some filesystems), fall back to three
    renames via `.<b>.aifab-old`: an error between them puts `b` back; a crash between them
    leaves `b` missing until the next run, which restores it (`_recover`).
    """
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
    old = _aside(b)
    os.rename(b, old)
    try:
        os.rename(a, b)
    except BaseException:
        os.rename(old, b)
        raise
    os.rename(old, a)
