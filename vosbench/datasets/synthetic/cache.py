"""Generate a synthetic set into a folder once, and regenerate it when its recipe changes.

A folder is "ours" when it holds the stamp file written by the generators (``vosbench_synthetic.json``
with the generator version, the kind and the arguments). :func:`ensure_generated` leaves a folder
whose stamp matches alone, replaces a stamped folder whose stamp differs, fills an empty or missing
folder, and refuses to touch anything else. New data is written into a temporary sibling folder
and renamed into place, so a reader never sees a half-written set and an interrupted run leaves
nothing behind but the temporary folder's leftovers (cleaned up on the next call).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from vosbench.datasets.synthetic.layouts import GENERATORS, STAMP, normalize_params, stamp_dict
from vosbench.core.errors import DatasetLayoutError


def read_stamp(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The stamp of a generated folder, or ``None`` when there is none (or it is unreadable)."""
    path = Path(root) / STAMP
    try:
        stamp = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _is_empty_dir(p: Path) -> bool:
    return p.is_dir() and not any(p.iterdir())


def _remove_leftovers(root: Path) -> None:
    for p in root.parent.glob(f".{root.name}.*.vosbench-tmp"):
        shutil.rmtree(p, ignore_errors=True)


def ensure_generated(kind: str, root: str | os.PathLike[str], **params: Any) -> Path:
    """Make sure ``root`` holds the synthetic ``kind`` set generated with ``params``.

    Args:
        kind: ``"davis"``, ``"ytvos"`` or ``"jhmdb"``.
        root: Dataset folder.
        **params: Generator arguments (``videos``, ``frames``, ``size``, ``seed``, and for ytvos
            ``all_frames``); missing ones take the generator's defaults.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: bad kind or arguments.
        DatasetLayoutError: ``root`` is a file, or a non-empty folder without a stamp (it is not
            ours to overwrite).
    """
    root = Path(root).expanduser()
    p = normalize_params(kind, params)
    want = stamp_dict(kind, p)
    if read_stamp(root) == want:
        return root
    if root.exists() and not root.is_dir():
        raise DatasetLayoutError(f"synthetic {kind}: {root} is a file; give a folder for the generated data")
    if root.is_dir() and not _is_empty_dir(root) and read_stamp(root) is None:
        raise DatasetLayoutError(
            f"synthetic {kind}: {root} is not empty and was not written by the vosbench generator "
            f"(no {STAMP}); refusing to overwrite it. Pick an empty or new folder."
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(root)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".vosbench-tmp"))
    try:
        GENERATORS[kind](tmp, **p)
        _swap_in(tmp, root, want)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _swap_in(tmp: Path, root: Path, want: dict[str, Any]) -> None:
    """Rename ``tmp`` to ``root``, moving a stale generated folder out of the way first."""
    old = None
    if root.is_dir() and not _is_empty_dir(root):
        old = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".vosbench-tmp"))
        os.replace(root, old / "stale")
    try:
        os.replace(tmp, root)  # an empty target folder is replaced atomically
    except OSError:
        # Another process put a folder there in the meantime; fine if it is the set we want.
        if read_stamp(root) != want:
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
