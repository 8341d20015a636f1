"""One writer at a time: advisory locks on small files inside a run folder.

A process writing a run folder holds, for its whole life, the lock of its part of the run
(``.shard-<i>-of-<n>.lock``: the whole run is shard 0 of 1), so a second process for the same
part refuses at once, naming the holder; different shards of one run proceed side by side. Each
sequence is staged and committed under its own lock (``.partial/<sequence>.lock``) and the
record is written under ``.record.lock``, so two writers never touch one sequence's staging
folder, one committed sequence or one temporary file, whatever mix of shards and resumed runs
shares the folder.

The locks are ``flock(2)`` locks: the kernel drops them when the process ends, even on
``kill -9``, so a lock is never stale (a lock file left by a killed process is taken over by the
next one). A lock file holds its holder's pid, host, command and start time, for the message
that names it. On Linux, ``flock`` on NFS is carried as a POSIX lock to the server, so shards on
several nodes sharing one run folder exclude each other too.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vosbench.core.errors import InputFileError
from vosbench.core.safepath import os_error_reason

#: how long a refused process waits for the holder to have written who it is
_HOLDER_WAIT_S = 1.0


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as written in its lock file."""

    pid: int | None
    host: str
    since: str
    command: str

    def describe(self) -> str:
        """``pid 123 on node7, since 2026-12-03T11:50:02+00:00 (vosbench run ...)``."""
        pid = f"pid {self.pid}" if self.pid is not None else "a process"
        return f"{pid} on {self.host or '?'}, since {self.since or '?'} ({self.command or '?'})"


def _me() -> str:
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    if prog == "__main__.py":  # python -m vosbench
        prog = "vosbench"
    return json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([prog, *sys.argv[1:]])[:300],
        }
    )


def holder(path: Path) -> Holder:
    """The holder named in the lock file ``path`` (fields ``?`` where it cannot be read)."""
    data: object = None
    deadline = time.monotonic() + _HOLDER_WAIT_S
    while True:  # the holder writes who it is right after taking the lock
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    d = data if isinstance(data, dict) else {}
    pid = d.get("pid")
    return Holder(
        pid if isinstance(pid, int) else None, str(d.get("host", "")), str(d.get("since", "")), str(d.get("command", ""))
    )


class FileLock:
    """An exclusive ``flock`` on ``path`` (created if missing, never through a symbolic link).

    The file is removed when the lock is released, before the lock itself, and a process that
    gets the lock on a file that was removed meanwhile retries on the new one, so the lock
    files do not outlive the run and two processes never both hold one path.
    """

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def take(cls, path: Path, *, wait: bool) -> FileLock | None:
        """The lock of ``path``; ``None`` when another process holds it and not ``wait``.

        Raises:
            InputFileError: the lock file cannot be created (a read-only folder, a symbolic
                link in its place): one line naming it.
        """
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        while True:
            try:
                fd = os.open(path, flags, 0o644)
            except OSError as e:
                why = "it is a symbolic link" if e.errno == errno.ELOOP else os_error_reason(e)
                raise InputFileError(f"{path}: cannot take the run folder's lock ({why})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.path.samestat(os.stat(path, follow_symlinks=False), os.fstat(fd))
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, _me().encode("utf-8"))
                return cls(path, fd)
            os.close(fd)  # released and removed while we waited for it: take the new file

    @classmethod
    def wait_for(cls, path: Path) -> FileLock:
        """The lock of ``path``, waiting while another process holds it."""
        lock = cls.take(path, wait=True)
        assert lock is not None
        return lock

    def release(self) -> None:
        """Remove the lock file and drop the lock (once; later calls do nothing).

        The descriptor is forgotten before it is closed: a SIGTERM handled in here raises at
        the next instruction (:mod:`vosbench.runs.signals`), and the clean-up that follows calls
        this again; it must not close the number twice (EBADF, or another file that reused it)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def shard_lock_name(index: int, count: int) -> str:
    return f".shard-{index}-of-{count}.lock"


#: lock file of the record (summary.json, tables, submission.zip) of a run folder
RECORD_LOCK = ".record.lock"
