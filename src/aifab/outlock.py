"""One writer at a time per output folder: an advisory lock (flock(2)) on the folder itself.

`aifab generate` holds it exclusively from before the first cluster is staged until the last
is swapped in, so two runs on one folder never remove each other's staging or swap over each
other's trees; a second run waits for the first (and says so), then finds its clusters
current. `generate --check` holds it shared: it never reads a folder in the middle of a swap.

The lock is on the folder's inode, so the folder holds no extra file. A folder removed while
a run waited for it (the run before created it and wrote nothing) is locked again by path.
The lock belongs to the open file description: it goes when the run and its forked workers
are gone (generate's workers die with it), whatever killed them.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class CannotLock(Exception):
    """The output folder cannot be created or opened (the path and the reason)."""

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(filename, reason)
        self.filename, self.reason = filename, reason


@contextmanager
def held(out: Path, *, shared: bool = False,
         say: Callable[[str], None] = lambda message: None) -> Iterator[None]:
    """Hold the lock of the folder `out` for the block; `say` tells why a run waits.

    Exclusive (a writing run): a missing `out` is created first, and removed again at the
    end, with the parents created for it, if the run left it empty. Shared (a checking run):
    a missing folder is not locked, there is nothing to read."""
    created = _first_missing(out)
    fd = _lock(out, shared, say)
    try:
        yield
    finally:
        try:
            if created is not None and not shared:  # still holding the lock: nobody writes
                _remove_empty(out, created)
        finally:
            if fd is not None:
                os.close(fd)  # releases the lock


def _lock(out: Path, shared: bool, say: Callable[[str], None]) -> int | None:
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    waited = False
    while True:
        try:
            if not shared:
                out.mkdir(parents=True, exist_ok=True)
            fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            if shared:
                return None
            continue  # removed between mkdir and open: create it again
        except OSError as e:  # a file in its place, a read-only parent
            if shared:
                return None  # --check reports what it finds there
            raise CannotLock(e.filename or str(out), e.strerror or str(e)) from None
        try:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited:
                    say(f"another aifab run is using {out}/; waiting for it to finish")
                    waited = True
                fcntl.flock(fd, mode)
        except OSError as e:
            if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EBADF):  # NFS without locks
                say(f"cannot lock {out}/ ({e.strerror}); make sure no other aifab run writes "
                    "it at the same time")
                return fd
            os.close(fd)
            raise CannotLock(str(out), e.strerror or str(e)) from None
        except BaseException:  # Ctrl-C while waiting
            os.close(fd)
            raise
        if _same_folder(fd, out):
            return fd
        os.close(fd)  # the folder was removed or replaced while this run waited: lock the new


def _same_folder(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` (itself included) that does not exist, or None."""
    missing = None
    while not os.path.lexists(path) and path != path.parent:
        missing, path = path, path.parent
    return missing


def _remove_empty(out: Path, created: Path) -> None:
    """Remove `out` and its parents up to `created` while they are empty (rmdir never
    removes anything else)."""
    folder = out
    while True:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == created or folder == folder.parent:
            return
        folder = folder.parent
