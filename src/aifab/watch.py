"""Watch: run `generate` again whenever one of its input files changes, in one warm process.

A cold `aifab generate` spends most of its time starting Python, importing its libraries and
revalidating the whole fleet. A watching process pays for start-up once, and keeps a `Memo`
between runs: clusters validated and output folders verified, by their exact inputs. A
one-line change then revalidates and rebuilds one cluster (README, benchmark f).

Files are polled with stat (no dependency, any file system). A change is acted on once no
watched file has changed for QUIET_SECONDS, so an editor's half-written save is not generated.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from aifab.pipeline import BLUEPRINT_SUFFIXES

POLL_SECONDS = 0.025  # a stat of each input file 40 times a second: no measurable load
QUIET_SECONDS = 0.02  # since the newest change: an editor's save takes a few milliseconds

T = TypeVar("T")
# file -> (inode, size, mtime, ctime); folder -> its blueprints' names; None: absent
Snapshot = dict[str, tuple[int, ...] | tuple[str, ...] | None]


class Memo:
    """Values kept between the runs of one process, each under a key that holds everything
    it was computed from. A run keeps only what it used, so the memo never holds more than
    one run's worth: an edited blueprint's old results go at the next run."""

    def __init__(self) -> None:
        self._previous: dict[Hashable, object] = {}
        self._current: dict[Hashable, object] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if key in self._current:
            return self._current[key]  # type: ignore[return-value]
        value = self._previous[key] if key in self._previous else compute()
        self._current[key] = value
        return value  # type: ignore[return-value]

    def next_run(self) -> None:
        self._previous, self._current = self._current, {}


def snapshot(paths: Iterable[str]) -> Snapshot:
    """A file's inode, size, modification and change times; a folder's blueprint names (a
    blueprint added, removed or renamed, but not an editor's swap or backup file)."""
    seen: Snapshot = {}
    for path in sorted(set(paths)):
        try:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                seen[path] = tuple(sorted(name for name in os.listdir(path)
                                          if name.endswith(BLUEPRINT_SUFFIXES)
                                          and not name.startswith(".")))
            else:
                seen[path] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        except OSError:
            seen[path] = None
    return seen


def watched(given: Iterable[str], read: Iterable[str]) -> set[str]:
    """The paths to poll: those given, every file a run read, and the folders of both (so a
    file that appears, say a fleet's missing cluster file, is noticed)."""
    paths = {os.path.normpath(p) for p in (*given, *read)}
    return paths | {os.path.dirname(p) or "." for p in paths}


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def wait_for_change(before: Snapshot, sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], int] = time.time_ns) -> Snapshot:
    """Poll until the watched paths change, then until none has changed for QUIET_SECONDS."""
    now = before
    while now == before:
        sleep(POLL_SECONDS)
        now = snapshot(before)
    while (left := QUIET_SECONDS - (clock() - _newest(now)) / 1e9) > 0:
        sleep(left)
        now = snapshot(before)
    return now


def _newest(state: Snapshot) -> int:
    """The latest modification or change time of the snapshot's files (ns)."""
    return max((max(entry[2:]) for entry in state.values() if entry and isinstance(entry[0], int)),
               default=0)


def watch(run: Callable[[], Iterable[str]], given: Iterable[str], memo: Memo) -> int:
    """Call `run` (which returns the files it read), then again after every change to them,
    until Ctrl-C while waiting (exit 0). A Ctrl-C during a run goes to the caller.

    Each path's state is taken before the run that reads it (a path first named by the run,
    such as a fleet's cluster file, just after), so an edit made during a run is not missed."""
    given = list(given)
    state = snapshot(watched(given, ()))
    start = None
    while True:
        read = run()
        paths = watched(given, read)
        state = {**snapshot(paths - state.keys()), **{p: state[p] for p in paths & state.keys()}}
        memo.next_run()
        if start is not None:
            _say(f"generated again in {time.perf_counter() - start:.2f} s")
        _say(f"watching {len(state)} files and folders for changes (Ctrl-C to stop)")
        try:
            after = wait_for_change(state)
        except KeyboardInterrupt:
            _say("stopped watching")
            return 0
        _say("changed: " + ", ".join(changed(state, after)))
        state, start = after, time.perf_counter()


def _say(message: str) -> None:
    sys.stdout.flush()  # the run's report first, also when piped (to tee, to a log)
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

