"""Memo: what one process keeps between its runs (`generate --watch`), a service the stages
receive rather than a room they climb up to.

Load and fleet composition tell it each file they are about to read (`saw`); the pipeline,
generate and verify keep validated clusters, checked output folders and verified files in it,
each under a key that holds everything it was computed from (`get`); the CLI leaves work for
after a run is reported (`later`). Whoever makes a memo says what a file's state is (watch.py:
its inode, size, times and, while racy, a digest), so this module imports nothing of aifab.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
S = TypeVar("S")  # a file's state, as the maker of the memo takes it


class Memo(Generic[S]):
    """Values kept between the runs of one process, each under a key that holds everything
    it was computed from, the files each run read or looked for (`saw`) with their state
    just before (`state_of`), and work left for after a run (`later`). A value not used by a
    run is dropped after it: the memo holds at most two runs' worth."""

    def __init__(self, state_of: Callable[[str], S]) -> None:
        self._state_of = state_of
        self._previous: dict[Hashable, object] = {}
        self._current: dict[Hashable, object] = {}
        self._seen: dict[str, S] = {}
        self._later: list[Callable[[], Iterable[OSError]]] = []

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if key in self._current:
            return self._current[key]  # type: ignore[return-value]
        value = self._previous[key] if key in self._previous else compute()
        self._current[key] = value
        return value  # type: ignore[return-value]

    def saw(self, path: str) -> None:
        """This run is about to read `path`, or looked for it and did not find it: its state
        now, before the read, is what a later change is measured against."""
        if (path := os.path.normpath(path)) not in self._seen:
            self._seen[path] = self._state_of(path)

    def later(self, work: Callable[[], Iterable[OSError]]) -> None:
        """Work a run leaves for after it is reported (removing the trees it replaced); it
        returns what it could not do."""
        self._later.append(work)

    def tidy(self, failed: Callable[[OSError], None]) -> None:
        """Do the work runs left for later, telling `failed` what could not be done; work a
        Ctrl-C interrupts stays, and is done again."""
        while self._later:
            for error in self._later[0]():
                failed(error)
            del self._later[0]

    def next_run(self) -> dict[str, S]:
        """Start the next run; what the one that ended saw, as it was before it was read."""
        seen, self._seen = self._seen, {}
        self._previous, self._current = self._current, {}
        return seen
