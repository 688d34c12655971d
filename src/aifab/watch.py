"""Watch: run `generate` again whenever one of its input files changes, in one warm process.

A cold `aifab generate` spends most of its time starting Python, importing its libraries and
revalidating the whole fleet. A watching process pays for start-up once, and keeps a memo
between runs: clusters validated, output folders checked against their locks and generated
files verified, each by its exact inputs. A one-line change then revalidates and rebuilds one
cluster, verifying only the files that changed (README, benchmark f). Work that can wait
(removing replaced folders, collecting garbage) is done after a run is reported.

Files are polled with stat (no dependency, any file system). A change is acted on once the
files have held still for QUIET_SECONDS, so a save in several steps gives one run, of the end.
"""

from __future__ import annotations

import gc
import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterable, Sequence

from aifab.escape import printable
from aifab.load import MAX_BYTES
from aifab.memo import Memo
from aifab.pipeline import BLUEPRINT_SUFFIXES, blueprint_files
from aifab.render import RACY_NS, digest

POLL_SECONDS = 0.01  # a stat of each input file 100 times a second: 0.3-0.7% of a core
QUIET_SECONDS = 0.015  # no change for this long: an editor's save takes a few milliseconds

# file -> (inode, size, mtime, ctime, digest of its bytes while racy, else "");
# folder -> the names of its blueprints; None: absent
Entry = tuple[int, int, int, int, str] | tuple[str, ...] | None
Snapshot = dict[str, Entry]


def watching_memo() -> Memo[Entry]:
    """The memo of a watching process: each file's state (`entry`) is taken as a run is about
    to read it."""
    return Memo(lambda path: entry(path, time.time_ns()))


def tidy(memo: Memo[Entry]) -> None:
    """Do the work runs left for later. What failed (a file that cannot be removed) is said,
    once: the next run writing that cluster removes what is left (render._recover)."""
    memo.tidy(lambda e: _say(f"could not remove {e.filename}: {e.strerror or e} (an old "
                             "generated folder: aifab removes it when it next writes that "
                             "cluster)"))


def entry(path: str, now: int, previous: Entry = None) -> Entry:
    """A file's inode, size and times, and a digest of its bytes while they are racy (changed
    within RACY_NS, so a second write could leave them all as they are) or while `previous`
    holds one it must be told from; a folder's blueprints (one added or removed, not an
    editor's swap, backup or lock file)."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            return tuple(sorted(name for name in os.listdir(path)
                                if os.path.splitext(name)[1] in BLUEPRINT_SUFFIXES
                                and os.path.isfile(os.path.join(path, name))))
    except (OSError, ValueError):  # absent, unreadable, or not a path (a NUL byte)
        return None
    racy = abs(now - max(st.st_mtime_ns, st.st_ctime_ns)) < RACY_NS
    was = previous[4] if previous and isinstance(previous[0], int) else ""
    read = ""
    if stat.S_ISREG(st.st_mode) and (racy or was):  # never a pipe: opening it would block
        try:
            with open(path, "rb") as file:
                read = digest(file.read(MAX_BYTES + 1))
        except OSError:
            read = "unreadable"
        if not racy and read == was:
            read = ""  # settled, and as it was: no need to read it again
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, read)


def snapshot(paths: Iterable[str], like: Snapshot | None = None) -> Snapshot:
    """Each path's entry; `like` is the snapshot it will be compared with."""
    now, like = time.time_ns(), like or {}
    return {path: entry(path, now, like.get(path)) for path in sorted(set(paths))}


def watched(given: Iterable[str], read: Iterable[str]) -> set[str]:
    """The paths to poll: those given (a folder: its blueprints' names), and every file a run
    read or looked for (one that does not exist yet is noticed when it is created)."""
    return {os.path.normpath(p) for p in (*given, *read)}


def _differs(a: Entry, b: Entry) -> bool:
    if not (a and b and isinstance(a[0], int) and isinstance(b[0], int)):
        return a != b  # absent, or a folder's names
    return a[:4] != b[:4] or bool(a[4] and b[4] and a[4] != b[4])


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if _differs(before.get(p), after.get(p)))


def wait_for_change(before: Snapshot, sleep: Callable[[float], None] = time.sleep) -> Snapshot:
    """Poll until the watched paths change, then until they hold still for QUIET_SECONDS (by
    this process's clock, not the files' times, which may be coarse or in the future). A
    change undone within that time is no change."""
    baseline = before
    while True:
        now = baseline
        while not changed(baseline, now):
            baseline = now  # the same files, perhaps settled: read no more than needed
            sleep(POLL_SECONDS)
            now = snapshot(baseline, like=baseline)
        while changed(now, settled := _settled(now, sleep)):
            now = settled
        if changed(baseline, now):
            return now
        baseline = now


def _settled(now: Snapshot, sleep: Callable[[float], None]) -> Snapshot:
    sleep(QUIET_SECONDS)
    return snapshot(now, like=now)


def watch(run: Callable[[], bool], given: Sequence[str], memo: Memo[Entry]) -> int:
    """Call `run` (True: it succeeded), then again after every change to the given paths or
    to a file a run read or looked for, until Ctrl-C between runs (exit 0). A Ctrl-C during
    a run goes to the caller (exit 130; staging is removed, nothing is half written).

    Each file's state is taken before the run reads it, so an edit saved during a run
    starts another."""
    def listed() -> list[str]:  # the given blueprints, those in given folders included
        return [str(path) for path in blueprint_files(given)[0]]

    state = snapshot(watched(given, listed()))
    again = False
    try:
        while True:
            start = time.perf_counter()
            succeeded = run()
            try:
                seen = memo.next_run()
                paths = watched(given, [*listed(), *seen])
                fresh = snapshot(paths - state.keys() - seen.keys())  # e.g. a blueprint added
                before = {**fresh, **seen, **state}  # as it was before this run, where known
                state = {path: before[path] for path in paths}
                if again:
                    took = f"{time.perf_counter() - start:.3f} s"
                    _say(f"generated again in {took}" if succeeded else f"ran again in {took}")
                _say(f"watching {len(state)} files and folders for changes (Ctrl-C to stop)")
                tidy(memo)  # what can wait until the run is reported: while idle
                _collect_garbage()
                after = wait_for_change(state)
            except KeyboardInterrupt:
                _say("stopped watching")
                return 0
            _say("changed: " + ", ".join(changed(state, after)))
            state, again = after, True
    finally:
        tidy(memo)  # also after a Ctrl-C during a run
        gc.unfreeze()  # the caller's garbage is collected as before


def _collect_garbage() -> None:
    """Collect garbage while idle, then freeze what is kept (the memo, the modules): the
    collections during a run then scan only what the run made (2-3 ms less a run).
    Ctrl-C and SIGTERM wait until it is done: the collection runs finalizers (a finished pool's
    pipes and queues), and an exception raised inside one is ignored by Python, so a Ctrl-C
    arriving then would be lost, and the watch (deaf to a second one) would go on for ever."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGINT, signal.SIGTERM))
    try:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # one that came is delivered now


def _say(message: str) -> None:
    sys.stdout.flush()  # the run's report first, also when piped (to tee, to a log)
    print(printable(f"[{time.strftime('%H:%M:%S')}] {message}"), file=sys.stderr, flush=True)
