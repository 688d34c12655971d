"""Scan: read what a checkout holds in a folder, trusting nothing about it.

generated/ and stacks/ come from pull requests: a file may be a link out of the repository
(to ~/.aws/credentials, or /proc/self/mem), a named pipe (a read would wait for ever), a
device or a socket. Nothing here follows a link or blocks: every open is O_NOFOLLOW and
O_NONBLOCK, relative to the descriptor of the folder it is in (so no folder on the way can be
swapped for a link either), and only regular files are read; the rest is reported, by kind.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path as FsPath


@dataclass(frozen=True)
class Tree:
    """A folder as aifab reads it: its regular files by POSIX path, and what else is there
    (links, pipes, devices, sockets, files that cannot be read), each with what it is; "."
    is the folder itself (a link, or not a folder). Both sorted."""

    files: dict[str, bytes]
    odd: dict[str, str]


KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a named pipe"),
         (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))
MAX_DEPTH = 16  # folders below the scanned one; aifab's trees are 3 deep
MAX_FILE_BYTES = 64 * 1024 * 1024  # the largest generated file (a fleet's node pool) is ~1 MB
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def scan_tree(folder: FsPath) -> Tree:
    """Read every regular file under `folder` without following a link anywhere (every open
    is O_NOFOLLOW, relative to its folder's descriptor) and without blocking (a named pipe is
    never read, O_NONBLOCK): a tree from a checkout may hold anything. Bounded: folders
    deeper than MAX_DEPTH and files over MAX_FILE_BYTES are reported, not read. A missing
    folder is empty."""
    files: dict[str, bytes] = {}
    odd: dict[str, str] = {}
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    except FileNotFoundError:
        return Tree({}, {})
    except OSError as e:
        odd["."] = describe(folder, None, e)
        return Tree({}, odd)
    _scan(fd, "", files, odd)
    return Tree(dict(sorted(files.items())), dict(sorted(odd.items())))


def _scan(fd: int, prefix: str, files: dict[str, bytes], odd: dict[str, str]) -> None:
    """Read the folder open as `fd` (and close it) into `files` and `odd`."""
    try:
        with os.scandir(fd) as found:
            names = sorted(entry.name for entry in found)
        for name in names:
            key = prefix + name
            try:
                child = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=fd)
            except OSError as e:
                odd[key] = describe(name, fd, e)
                continue
            if stat.S_ISDIR(os.fstat(child).st_mode) and key.count("/") < MAX_DEPTH:
                _scan(child, key + "/", files, odd)  # which closes it
                continue
            try:
                content = _read(child)
            except OSError as e:
                content = f"cannot be read ({e.strerror or e})"
            finally:
                os.close(child)
            if isinstance(content, bytes):
                files[key] = content
            else:
                odd[key] = content or describe(name, fd, None)
    finally:
        os.close(fd)


def _read(fd: int) -> bytes | str:
    """The content of a regular file open as `fd`, else why it is not read ("" for: not a
    regular file)."""
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        return f"a folder nested deeper than {MAX_DEPTH} levels (not read)"
    if not stat.S_ISREG(st.st_mode):
        return ""
    if st.st_size > MAX_FILE_BYTES:
        return f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB (not read)"
    with os.fdopen(fd, "rb", closefd=False) as file:
        content = file.read(MAX_FILE_BYTES + 1)
    if len(content) > MAX_FILE_BYTES:  # it grew while read
        return f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB (not read)"
    return content


def odd_entries(folder: FsPath) -> dict[str, str]:
    """What scan_tree would report under `folder` by its kind alone (links, pipes, devices,
    sockets, folders too deep), from the entries' own metadata: nothing is opened or read."""
    odd: dict[str, str] = {}
    if os.path.islink(folder):
        return {".": "a symbolic link"}
    pending = [(os.fspath(folder), "")]
    while pending:
        path, prefix = pending.pop()
        try:
            with os.scandir(path) as found:
                entries = [(e.name, e.path, e.stat(follow_symlinks=False).st_mode) for e in found]
        except OSError:
            continue
        for name, entry, mode in entries:
            key = prefix + name
            if stat.S_ISDIR(mode):
                if key.count("/") < MAX_DEPTH:
                    pending.append((entry, key + "/"))
                else:
                    odd[key] = f"a folder nested deeper than {MAX_DEPTH} levels (not read)"
            elif not stat.S_ISREG(mode):
                odd[key] = next((what for test, what in KINDS if test(mode)),
                                "not a regular file")
    return dict(sorted(odd.items()))


def describe(name: str | FsPath, dir_fd: int | None = None,
             error: OSError | None = None) -> str:
    """What the entry `name` (not a regular file, or one that could not be opened as
    expected, with `error`) is, for a message: its kind, or why it cannot be read."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError:
        mode = 0
    kind = next((what for test, what in KINDS if test(mode)), None)
    if kind is not None:
        return kind
    if stat.S_ISREG(mode) and error is not None and error.errno == errno.ENOTDIR:
        return "a file, not a folder"
    return f"cannot be read ({error.strerror or error})" if error else "not a regular file"


def read_regular(path: FsPath, size: int | None = None) -> bytes | None:
    """The bytes of `path` if it is a regular file (of `size` bytes, when given), else None.
    Never blocks and follows no link: a named pipe, a device or a link in its place is not
    read (nor does scan_tree read them)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW)
    except OSError:  # absent, no folder, or a link: not these files
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or size is not None and st.st_size != size:
            return None
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read() if size is None else file.read(size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
