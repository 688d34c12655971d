"""Watch: run `generate` again whenever one of its input files changes, in one warm process.

A cold `aifab generate` spends most of its time starting Python, importing its libraries and
revalidating the whole fleet. A watching process pays for start-up once, and keeps a `Memo`
between runs: clusters validated and output folders verified, by their exact inputs. A
one-line change then revalidates and rebuilds one cluster (README, benchmark f).

Files are polled with stat (no dependency, any file system). A change is acted on once the
files have held still for QUIET_SECONDS, so a save in several steps gives one run, of the end.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

from aifab.pipeline import BLUEPRINT_SUFFIXES, blueprint_files

POLL_SECONDS = 0.025  # a stat of each input file 40 times a second: no measurable load
QUIET_SECONDS = 0.02  # no change for this long: an editor's save takes a few milliseconds
CLOCK_TICK_NS = 10_000_000  # file times come from a clock coarser than time.time_ns()

T = TypeVar("T")
# file -> (inode, size, mtime, ctime); folder -> its blueprints' names; None: absent
Snapshot = dict[str, tuple[int, ...] | tuple[str, ...] | None]


class Memo:
    """Values kept between the runs of one process, each under a key that holds everything
    it was computed from, and the files each run read or looked for (`saw`). A value not
    used by a run is dropped after it: the memo holds at most two runs' worth."""

    def __init__(self) -> None:
        self._previous: dict[Hashable, object] = {}
        self._current: dict[Hashable, object] = {}
        self._seen: set[str] = set()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if key in self._current:
            return self._current[key]  # type: ignore[return-value]
        value = self._previous[key] if key in self._previous else compute()
        self._current[key] = value
        return value  # type: ignore[return-value]

    def saw(self, path: str) -> None:
        """This run read `path`, or looked for it and did not find it."""
        self._seen.add(path)

    def next_run(self) -> set[str]:
        """Start the next run; what the one that ended saw."""
        seen, self._seen = self._seen, set()
        self._previous, self._current = self._current, {}
        return seen


def snapshot(paths: Iterable[str]) -> Snapshot:
    """A file's inode, size, modification and change times; a folder's blueprint names (a
    blueprint added, removed or renamed, but not an editor's swap or backup file)."""
    seen: Snapshot = {}
    for path in sorted(set(paths)):
        try:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                seen[path] = tuple(sorted(name for name in os.listdir(path)
                                          if os.path.splitext(name)[1] in BLUEPRINT_SUFFIXES))
            else:
                seen[path] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        except OSError:
            seen[path] = None
    return seen


def watched(given: Iterable[str], read: Iterable[str]) -> set[str]:
    """The paths to poll: those given, every file a run read or looked for, and the folders
    of both (so that a blueprint added beside them, or a missing one created, is noticed)."""
    paths = {os.path.normpath(p) for p in (*given, *read)}
    return paths | {os.path.dirname(p) or "." for p in paths}


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def wait_for_change(before: Snapshot, sleep: Callable[[float], None] = time.sleep) -> Snapshot:
    """Poll until the watched paths change, then until they hold still for QUIET_SECONDS (by
    this process's clock, not the files' times, which may be coarse or in the future)."""
    now = before
    while now == before:
        sleep(POLL_SECONDS)
        now = snapshot(before)
    while True:
        sleep(QUIET_SECONDS)
        if (settled := snapshot(before)) == now:
            return settled
        now = settled


def watch(run: Callable[[], bool], given: Sequence[str], memo: Memo) -> int:
    """Call `run` (True: it wrote), then again after every change to the given paths or to a
    file a run read or looked for, until Ctrl-C between runs (exit 0). A Ctrl-C during a run
    goes to the caller (exit 130; staging is removed, nothing is half written).

    Each path's state is taken before the run that reads it, so an edit saved during a run
    starts another. A file a run names first (a fleet's cluster file) is taken just after the
    run; if it changed since the run began, it counts as changed."""
    def listed() -> list[str]:  # the given blueprints, those in given folders included
        return [str(path) for path in blueprint_files(given)[0]]

    state = snapshot(watched(given, listed()))
    again = False
    while True:
        began, start = time.time_ns() - CLOCK_TICK_NS, time.perf_counter()
        wrote = run()
        try:
            paths = watched(given, [*listed(), *memo.next_run()])
            later = snapshot(paths - state.keys())
            state = {**{p: state[p] for p in paths & state.keys()},
                     **{p: None if _since(entry, began) else entry for p, entry in later.items()}}
            if again:
                took = f"{time.perf_counter() - start:.2f} s"
                _say(f"generated again in {took}" if wrote else f"ran again in {took}")
            _say(f"watching {len(state)} files and folders for changes (Ctrl-C to stop)")
            after = wait_for_change(state)
        except KeyboardInterrupt:
            _say("stopped watching")
            return 0
        _say("changed: " + ", ".join(changed(state, after)))
        state, again = after, True


def _since(entry: tuple[int, ...] | tuple[str, ...] | None, ns: int) -> bool:
    """Whether a file's snapshot entry shows a change at or after `ns` (a folder's: never)."""
    return bool(entry) and isinstance(entry[0], int) and max(entry[2:]) >= ns  # type: ignore


def _say(message: str) -> None:
    sys.stdout.flush()  # the run's report first, also when piped (to tee, to a log)
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
