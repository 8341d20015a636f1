"""Progress for runs whose stderr is not a terminal (SLURM, nohup, CI): plain log lines.

A terminal gets rich's progress bar (see ``vosbench.cli.run``); elsewhere a bar is noise, so
``vosbench run`` logs a line when a sequence is committed and, at most every 30 seconds
(``VOSBENCH_PROGRESS_INTERVAL``), frames done, frames/s and the estimated time left.
"""

from __future__ import annotations

import logging
import os
import sys
import time

#: marks the handler this module installs, so repeated invocations (tests) replace it
_HANDLER_NAME = "vosbench-cli"


def setup_logging(*, quiet: bool, terminal: bool) -> logging.Logger:
    """Log ``vosbench.*`` messages to stderr: progress and sequence lines (INFO) when stderr is
    not a terminal, warnings and errors only on a terminal (the bar shows progress) or with
    ``--quiet``."""
    log = logging.getLogger("vosbench")
    for h in list(log.handlers):
        if h.get_name() == _HANDLER_NAME:
            log.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s vosbench %(levelname)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet or terminal else logging.INFO)
    log.propagate = False
    return logging.getLogger("vosbench.progress")


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class LogProgress:
    """A run progress callback that logs frames done, frames/s and ETA every ``interval`` s."""

    def __init__(self, log: logging.Logger, interval: float | None = None):
        self.log = log
        env = os.environ.get("VOSBENCH_PROGRESS_INTERVAL")
        self.interval = interval if interval is not None else float(env) if env else 30.0
        self.t0: float | None = None
        self.last = 0.0

    def __call__(self, seq: str, done: int, total: int) -> None:
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = self.last = now
            return
        if now - self.last < self.interval and done < total:
            return
        self.last = now
        rate = done / (now - self.t0) if now > self.t0 else 0.0
        eta = f", ETA {_duration((total - done) / rate)}" if rate > 0 and done < total else ""
        pct = 100.0 * done / total if total else 100.0
        self.log.info("%d/%d frames (%.0f%%), %.2f frames/s%s; at %s", done, total, pct, rate, eta, seq)
