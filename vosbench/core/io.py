"""Atomic file writes: a reader never sees a half-written file, a crash leaves the old one."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from vosbench.core.errors import InputFileError
from vosbench.core.safepath import os_error_reason


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    Raises:
        InputFileError: the file cannot be written (read-only or full disk, a file where a
            folder should be, permissions): one line naming the path and the OS error.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(e, OSError):
            at = "" if e.filename in (None, tmp, str(path)) else f" (at {e.filename})"
            raise InputFileError(
                f"{path}: cannot write: {os_error_reason(e)}{at}; free space or choose a writable folder"
            ) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def read_regular_file(path: str | os.PathLike[str], max_bytes: int, what: str = "file") -> bytes:
    """The bytes of ``path``, which must be a regular file (not a FIFO, device or folder, which
    could block or never end) of at most ``max_bytes``; :class:`InputFileError` otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InputFileError(f"{path}: {what} not found") from None
    except OSError as e:
        raise InputFileError(f"{path}: cannot read the {what} ({os_error_reason(e)})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise InputFileError(f"{path}: not a regular file; give a {what}")
        if st.st_size > max_bytes:
            raise InputFileError(f"{path}: {st.st_size} bytes, more than a {what} may have ({max_bytes})")
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            raise InputFileError(f"{path}: cannot read the {what} ({os_error_reason(e)})") from None
    if len(data) > max_bytes:
        raise InputFileError(f"{path}: more than a {what} may have ({max_bytes} bytes)")
    return data
