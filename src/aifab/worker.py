"""What a forked build worker does first: leave stopping to the parent, and die with it.

Ctrl-C and SIGTERM are the parent's to handle (it stops the workers and removes what they
staged), so a worker ignores both. A worker whose parent is gone, killed before it could
stop them, would otherwise live on: blocked for ever on the task queue that its siblings
still hold open, and holding the output folder's lock (aifab.outlock).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

STOPPED_BY_PARENT = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1  # linux/include/uapi/linux/prctl.h
PARENT_POLL_SECONDS = 0.2  # where the kernel cannot tell a worker of its parent's death


def start(parent: int) -> None:
    """Ignore the signals the parent handles, then die with the parent (process `parent`):
    on Linux the kernel kills the worker when the parent's thread that forked it exits
    (prctl(2) PR_SET_PDEATHSIG); elsewhere a thread polls getppid(2)."""
    for signum in STOPPED_BY_PARENT:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPED_BY_PARENT)  # one pending is dropped
    if not _kill_on_parent_death():
        threading.Thread(target=_poll_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the worker asked to die with it
        os.kill(os.getpid(), signal.SIGKILL)


def _kill_on_parent_death() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    # the process's own symbols (dlopen(NULL)) hold libc's prctl: no ctypes.util.find_library,
    # which runs ldconfig in every worker
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    return prctl is not None and prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0


def _poll_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGKILL)
