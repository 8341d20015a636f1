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
