"""Where vosbench keeps its own files (never inside dataset folders)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$VOSBENCH_CACHE``, else ``$XDG_CACHE_HOME/vosbench``, else ``~/.cache/vosbench``."""
    env = os.environ.get("VOSBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "vosbench"


#: Default runs folder: ``vosbench run``'s ``--out``, and what ``leaderboard`` and ``check`` read.
RUNS_DIR = "runs"
#: The default runs folder of earlier versions; ``leaderboard`` and ``check`` still read it.
OLD_RUNS_DIR = "results/runs"


def default_runs_folders() -> tuple[list[Path], str | None]:
    """The runs folders to read when none is given: ``runs``, and ``results/runs`` (the old
    default) while it still exists, with a one-line note saying so; ``runs`` alone otherwise
    (its absence is then reported by the reader)."""
    new, old = Path(RUNS_DIR), Path(OLD_RUNS_DIR)
    if not old.is_dir():
        return [new], None
    move = f"move them into {RUNS_DIR}/ or pass --runs"
    if new.is_dir():
        return [new, old], f"reading runs from {RUNS_DIR} and {OLD_RUNS_DIR} (the old default folder; {move})"
    return [old], f"reading runs from {OLD_RUNS_DIR}, the old default folder; new runs go to {RUNS_DIR}/ ({move})"
