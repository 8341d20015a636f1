"""SIGTERM and SIGINT during a run: stop at the next Python instruction, keep what is done.

SLURM sends SIGTERM at a time limit or on ``scancel``; Ctrl-C sends SIGINT. Both raise
:class:`~vosbench.core.errors.RunInterrupted` in the main thread, which unwinds the run loop: the
frame writes in flight finish, the sequences committed so far stay, and the record says
``interrupted``. Further signals while that happens are ignored, so the clean-up itself is not
cut short (a kill -9 still is, and loses nothing committed).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from vosbench.core.errors import RunInterrupted

log = logging.getLogger("vosbench.runs")
_active = threading.local()


@contextmanager
def interruptible() -> Iterator[None]:
    """Within this block SIGTERM and SIGINT raise :class:`RunInterrupted` (main thread only;
    nested blocks share the outer one's handlers)."""
    if threading.current_thread() is not threading.main_thread() or getattr(_active, "on", False):
        yield
        return
    stopping: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stopping:
            log.warning("%s received while stopping: finishing the writes in flight first", name)
            return
        stopping.append(signum)
        raise RunInterrupted(signum, name)

    old: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        old[int(sig)] = signal.signal(sig, handler)
    _active.on = True
    try:
        yield
    finally:
        _active.on = False
        for signum, h in old.items():
            signal.signal(signum, h)
