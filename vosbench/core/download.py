"""Resumable HTTP downloads with ``urllib`` only, shared by weights and dataset archives.

Partial data goes to a ``.part`` file next to the destination; an interrupted transfer resumes
with an HTTP ``Range`` request on the next call. Hash checks and where files go are up to the
callers (:mod:`vosbench.models.weights`, :mod:`vosbench.datasets.download`).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from vosbench.core.errors import DownloadError

CHUNK = 1 << 16

#: ``progress(bytes_done, bytes_total_or_None)``
Progress = Callable[[int, "int | None"], None]


def file_digests(path: str | os.PathLike[str], chunk: int = 1 << 20) -> tuple[str, str]:
    """(SHA-256, MD5) of a file in hex, read once in chunks."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            sha.update(b)
            md5.update(b)
    return sha.hexdigest(), md5.hexdigest()


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
    from vosbench.core.version import __version__

    start = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": f"vosbench/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # the partial file does not fit the remote one: start over
            part.unlink()
            return fetch(url, part, dest, progress, timeout, missing_hint, base_url_env)
        hint = missing_hint if e.code in (403, 404, 410) else ""
        raise DownloadError(
            f"download of {url} failed: HTTP {e.code} {e.reason}{hint}. You can also fetch the file by other "
            f"means and save it as {dest}."
        ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        env = f" (or {base_url_env})" if base_url_env else ""
        raise DownloadError(f"cannot reach {url}: {reason}. Check the network{env}.") from None
    with resp:
        if resp.headers.get("Content-Type", "").lower().startswith("text/html"):
            raise DownloadError(
                f"{url} returned a web page instead of the file (Google Drive does this for large files or "
                f"when its quota is exceeded). Download it in a browser and save it as {dest}."
            )
        total: int | None
        if resp.status == 206:
            m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", ""))
            if m is None or int(m.group(1)) != start:  # not the range we asked for: start over
                part.unlink()
                return fetch(url, part, dest, progress, timeout, missing_hint, base_url_env)
            total = int(m.group(2)) if m.group(2) != "*" else None
            mode = "ab"
        else:  # 200: the server ignored the Range header (or there was none)
            start, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        done = start
        if progress:
            progress(done, total)
        part.parent.mkdir(parents=True, exist_ok=True)
        with open(part, mode) as f:
            try:
                while True:
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
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
    if total is not None and done != total:
        raise DownloadError(
            f"download of {url} stopped at {done} of {total} bytes; the partial data is kept in {part}: "
            f"run the same command again to resume"
        )
