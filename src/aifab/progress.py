"""Progress: a bar for long runs on a terminal, and nothing at all anywhere else.

Logs of CI jobs and piped output must stay clean (no carriage returns, no escape codes), so the
bar shows only when the stream is a TTY and the environment variable CI is unset or empty.
rich is imported only when a bar is actually shown, to keep start-up fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any


class Tracker:
    """What a run reports to: `total()` once the number of steps is known, `advance()` after
    each step; does nothing when no bar is shown."""

    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self._bar, self._task = bar, task

    def advance(self, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, steps)

    def total(self, steps: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, total=steps)


def shown(stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """A bar is shown on a terminal, never in CI (CI set to anything but empty) or when piped."""
    environ = os.environ if environ is None else environ
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not environ.get("CI") and environ.get("TERM") != "dumb"


@contextmanager
def progress(description: str, total: int | None = None, *, stream: IO[str] | None = None,
             environ: Mapping[str, str] | None = None) -> Iterator[Tracker]:
    """`with progress("generating", total=len(files)) as bar: ... bar.advance()`.

    Draws on `stream` (default stderr, so stdout stays data) and erases the bar at the end.
    """
    stream = sys.stderr if stream is None else stream
    if not shown(stream, environ):
        yield Tracker()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=stream, force_terminal=True)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        yield Tracker(bar, bar.add_task(description, total=total))
