"""Generate a synthetic set into a folder once, and regenerate it when its recipe changes.

A folder is "ours" when it holds the stamp file written by the generators (``vosbench_synthetic.json``
with the generator version, the kind and the arguments). :func:`ensure_generated` leaves a folder
whose stamp matches alone, replaces a stamped folder whose stamp differs, fills an empty or missing
folder, and refuses to touch anything else. New data is written into a temporary sibling folder
and renamed into place, so a reader never sees a half-written set and an interrupted run leaves
nothing behind but the temporary folder's leftovers (cleaned up on the next call).

Concurrency: processes that generate into the same folder take an exclusive ``fcntl`` lock on the
sibling file ``.<name>.lock`` (removed again by its holder) and look at the stamp again once they
hold it, so the second of two racing first-use runs waits and then uses the set the first wrote. Temporary folders are
unique (``mkdtemp``), and leftovers are only removed while holding the lock, when no other
process can be writing them. The stamp is the completeness marker: generators write it last, and
a folder is used only when its stamp matches (checked again after generation).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vosbench.datasets.synthetic.layouts import GENERATORS as LAYOUT_GENERATORS
from vosbench.datasets.synthetic.layouts import STAMP, normalize_params, stamp_dict
from vosbench.datasets.synthetic.vip_set import generate_vip
from vosbench.core.errors import DatasetLayoutError

#: every kind's writer
GENERATORS = {**LAYOUT_GENERATORS, "vip": generate_vip}


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
        kind: ``"davis"``, ``"ytvos"``, ``"jhmdb"``, ``"badja"`` or ``"vip"``.
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
    with _lock(root):
        if read_stamp(root) == want:  # another process generated it while we waited for the lock
            return root
        if root.is_dir() and not _is_empty_dir(root) and read_stamp(root) is None:
            raise DatasetLayoutError(
                f"synthetic {kind}: {root} is not empty and was not written by the vosbench generator "
                f"(no {STAMP}); refusing to overwrite it. Pick an empty or new folder."
            )
        _remove_leftovers(root)  # safe: whoever wrote them died without releasing the lock
        tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".vosbench-tmp"))
        try:
            GENERATORS[kind](tmp, **p)
            if read_stamp(tmp) != want:
                raise DatasetLayoutError(f"synthetic {kind}: the generator did not finish {tmp} (no matching {STAMP})")
            _swap_in(tmp, root, want)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        if read_stamp(root) != want:
            raise DatasetLayoutError(
                f"synthetic {kind}: {root} does not hold the complete set after generation (its {STAMP} does not "
                f"match); another process may be writing it with other arguments. Retry, or use another --data-root."
            )
    return root


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<parent>/.<name>.lock`` (blocks until the holder is done).

    The holder deletes the lock file before releasing it, so nothing is left behind; a waiter
    that then gets the lock on the deleted file notices (the path is gone or is another file)
    and locks again.
    """
    path = root.parent / f".{root.name}.lock"
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise DatasetLayoutError(f"synthetic data: cannot create the lock file {path} ({e.strerror})") from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)  # releases the lock


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
