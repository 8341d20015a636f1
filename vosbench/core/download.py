"""Resumable, verified HTTP downloads with ``urllib`` only, shared by weights and dataset archives.

Partial data goes to a ``.part`` file next to the destination; an interrupted transfer resumes
with an HTTP ``Range`` request on the next call. :class:`HashStore` is the folder the files are
kept in with its ``hashes.json`` (the SHA-256 of each file at its first download, checked on
every later one) and :func:`download_verified` the one way a file gets there: fetched, checked
by the caller's rules (:mod:`vosbench.models.weights`, :mod:`vosbench.datasets.download`), put
in place and recorded.
"""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

from vosbench.core.digest import file_digests as file_digests  # re-exported (older import path)
from vosbench.core.digest import sha256_file
from vosbench.core.errors import DownloadError
from vosbench.core.io import atomic_write_text

CHUNK = 1 << 16
HASHES_FILE = "hashes.json"

#: ``progress(bytes_done, bytes_total_or_None)``
Progress = Callable[[int, "int | None"], None]
#: ``problem(path) -> why the file at path is not the expected one, or None``
Check = Callable[[Path], "str | None"]


class HashStore:
    """A folder of downloaded files and its ``hashes.json`` (filename -> {sha256, size, url,
    recorded, ...}): the first download of a file defines the hash later downloads must match."""

    def __init__(self, folder: Path):
        self.folder = folder

    @property
    def path(self) -> Path:
        return self.folder / HASHES_FILE

    def records(self) -> dict[str, dict[str, Any]]:
        """Every recorded file; a :class:`DownloadError` when ``hashes.json`` is unreadable."""
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DownloadError(f"{self.path} is unreadable ({e}); fix or delete it (hashes are recorded again)") from None
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict):
            raise DownloadError(f"{self.path} has no 'files' table; fix or delete it (hashes are recorded again)")
        return files

    def recorded_sha256(self, filename: str) -> str | None:
        sha = self.records().get(filename, {}).get("sha256")
        return str(sha) if sha else None

    def record(self, filename: str, sha256: str, url: str, **extra: Any) -> None:
        """Record ``filename`` (already in the folder) with its hash, size and source."""
        files = self.records()
        files[filename] = {
            **extra,
            "sha256": sha256,
            "size": (self.folder / filename).stat().st_size,
            "url": url,
            "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_text(self.path, json.dumps({"files": dict(sorted(files.items()))}, indent=2) + "\n")


@dataclass(frozen=True)
class Source:
    """Where a file comes from, for :func:`fetch` and its messages.

    Attributes:
        url: Address.
        missing_hint: Added to the message of a 403/404/410 answer.
        base_url_env: Environment variable that replaces the official addresses (named in messages).
    """

    url: str
    missing_hint: str = ""
    base_url_env: str = ""


def download_verified(
    store: HashStore,
    filename: str,
    source: Source,
    problem: Check,
    *,
    force: bool = False,
    refetch_bad_copy: bool = True,
    record_md5: bool = False,
    progress: Progress | None = None,
    timeout: float = 60.0,
    **record: Any,
) -> Path:
    """``store.folder/filename``, downloaded (resuming) and checked by ``problem`` when it is not
    already there and passing; a new file's SHA-256 is recorded in the store (with ``record``).

    A copy already there that fails ``problem`` is fetched again (``refetch_bad_copy``) or
    refused with a hint to add ``--force``. ``record_md5`` also records the file's MD5.

    Raises:
        DownloadError: the transfer failed (the ``.part`` is kept for resuming) or the file fails
            a check (the data is deleted).
    """
    store.folder.mkdir(parents=True, exist_ok=True)
    dest, part = store.folder / filename, store.folder / f"{filename}.part"
    if force:
        dest.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
    if dest.is_file():
        why = problem(dest)
        if why is None:
            return dest
        if not refetch_bad_copy:
            raise DownloadError(f"{dest} already exists but fails its integrity check: {why}. Add --force to download it again.")
        dest.unlink()  # a stale or corrupt copy: fetch it again
    fetch(source.url, part, dest, progress, timeout, source.missing_hint, source.base_url_env)
    why = problem(part)
    if why:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"download of {source.url} is not the expected file: {why}. The data was deleted. Try again; if the "
            f"file was replaced upstream on purpose, remove its entry from {store.path}."
        )
    os.replace(part, dest)
    sha, md5 = file_digests(dest) if record_md5 else (sha256_file(dest), "")
    if store.recorded_sha256(filename) != sha:
        store.record(filename, sha, source.url, **({"md5": md5} if record_md5 else {}), **record)
    return dest


def fetch(
    url: str,
    part: Path,
    dest: Path,
    progress: Progress | None = None,
    timeout: float = 60.0,
    missing_hint: str = "",
    base_url_env: str = "",
) -> None:
    """Append the rest of ``url`` to ``part`` (resuming with a Range request when it has data).

    Args:
        url: Source address.
        part: The partial file (created or extended).
        dest: Where the caller will keep the finished file (named in messages only).
        progress: Called with (bytes so far, total bytes or ``None``).
        timeout: Socket timeout in seconds.
        missing_hint: Added to the message of a 403/404/410 answer.
        base_url_env: Environment variable that replaces the official addresses (named in messages).

    Raises:
        DownloadError: HTTP error, network failure, a web page instead of the file, or an
            interrupted or short transfer (``part`` is kept: the next call resumes).
    """
    source = Source(url, missing_hint, base_url_env)
    while True:
        start = part.stat().st_size if part.is_file() else 0
        resp = _open(source, start, dest, timeout)
        if resp is None:  # the partial file does not fit the remote one: start over
            part.unlink()
            continue
        with resp:
            answer = _answer(resp, start, url, dest)
            if answer is None:  # not the range we asked for: start over
                part.unlink()
                continue
            start, mode, total = answer
            done = _copy(resp, part, mode, start, total, progress, url)
        break
    if total is not None and done != total:
        raise DownloadError(
            f"download of {url} stopped at {done} of {total} bytes; the partial data is kept in {part}: "
            f"run the same command again to resume"
        )


def _open(source: Source, start: int, dest: Path, timeout: float) -> Any:
    """The HTTP response for ``source`` from byte ``start`` (``None``: the server refuses that
    range, so the partial file must go)."""
    from vosbench.core.version import __version__

    headers = {"User-Agent": f"vosbench/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(source.url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:
            return None
        hint = source.missing_hint if e.code in (403, 404, 410) else ""
        raise DownloadError(
            f"download of {source.url} failed: HTTP {e.code} {e.reason}{hint}. You can also fetch the file by other "
            f"means and save it as {dest}."
        ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        env = f" (or {source.base_url_env})" if source.base_url_env else ""
        raise DownloadError(f"cannot reach {source.url}: {reason}. Check the network{env}.") from None


def _answer(resp: Any, start: int, url: str, dest: Path) -> tuple[int, str, int | None] | None:
    """(first byte, file mode, total size or None) of a response; ``None`` when a 206 answer
    is not the range asked for."""
    if resp.headers.get("Content-Type", "").lower().startswith("text/html"):
        raise DownloadError(
            f"{url} returned a web page instead of the file (Google Drive does this for large files or "
            f"when its quota is exceeded). Download it in a browser and save it as {dest}."
        )
    if resp.status == 206:
        m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", ""))
        if m is None or int(m.group(1)) != start:
            return None
        return start, "ab", int(m.group(2)) if m.group(2) != "*" else None
    # 200: the server ignored the Range header (or there was none)
    length = resp.headers.get("Content-Length")
    return 0, "wb", int(length) if length and length.isdigit() else None


def _copy(resp: BinaryIO, part: Path, mode: str, done: int, total: int | None, progress: Progress | None, url: str) -> int:
    """Write the response body to ``part``; returns the bytes ``part`` holds."""
    if progress:
        progress(done, total)
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(part, mode) as f:
        try:
            while chunk := resp.read(CHUNK):
                f.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        except (http.client.HTTPException, OSError) as e:
            f.flush()
            raise DownloadError(
                f"download of {url} was interrupted after {done} bytes ({type(e).__name__}: {e}); "
                f"the partial data is kept in {part}: run the same command again to resume"
            ) from None
    return done
