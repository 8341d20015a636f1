"""Safe unpacking of downloaded data archives (.zip, .tar, .tar.gz): no member is written outside
the target folder, links and devices are skipped, and the bytes written are bounded."""

from __future__ import annotations

import os
import tarfile
import zipfile
from pathlib import Path
from typing import IO, Callable

from vosbench.core.errors import DownloadError


def _safe_name(member: str, archive: Path) -> str | None:
    """The member's relative path, ``None`` to skip it (macOS metadata), or an error for paths
    that would escape the target folder."""
    name = member.replace("\\", "/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or parts[0] == "__MACOSX" or parts[-1] == ".DS_Store":
        return None
    if name.startswith("/") or ".." in parts or ":" in parts[0]:
        raise DownloadError(f"{archive}: member {member!r} would be written outside the data folder; refusing to unpack it")
    return "/".join(parts)


#: Unpacking stops (and refuses the archive) once it has written this many times the archive's
#: size, or :data:`MAX_UNPACKED_BYTES` in all: the official archives hold JPEG/PNG files, which do
#: not compress, so only a decompression bomb comes near either bound.
MAX_UNPACK_RATIO = 20
MAX_UNPACKED_BYTES = 64 << 30


def unpack_limit(archive: Path) -> int:
    """The most bytes unpacking ``archive`` may write (see :data:`MAX_UNPACK_RATIO`)."""
    return min(MAX_UNPACK_RATIO * max(archive.stat().st_size, 1 << 20), MAX_UNPACKED_BYTES)


class _Budget:
    """Bytes an unpack may still write."""

    def __init__(self, archive: Path):
        self.archive, self.limit, self.used = archive, unpack_limit(archive), 0

    def copy(self, src: IO[bytes], out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as dst:
            while block := src.read(1 << 20):
                self.used += len(block)
                if self.used > self.limit:
                    raise DownloadError(
                        f"{self.archive}: unpacks to more than {self.limit} bytes ({MAX_UNPACK_RATIO} times its size, "
                        f"at most {MAX_UNPACKED_BYTES >> 30} GiB); refusing it as a decompression bomb"
                    )
                dst.write(block)


def extract(archive: Path, into: Path, interrupt: Callable[[int], None] | None = None) -> int:
    """Extract a .zip or .tar(.gz) archive into ``into``; returns the number of files.

    Writes at most :func:`unpack_limit` bytes. ``interrupt(n)`` is called after each file (tests
    use it to stop an unpack half-way).
    """
    into.mkdir(parents=True, exist_ok=True)
    budget = _Budget(archive)
    n = 0
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    rel = _safe_name(info.filename, archive)
                    if rel is None or info.is_dir():
                        continue
                    with zf.open(info) as src:
                        budget.copy(src, into / rel)
                    n += 1
                    if interrupt:
                        interrupt(n)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                for m in tf:
                    rel = _safe_name(m.name, archive)
                    if rel is None or not m.isfile():  # folders are made as needed; links and devices have no place
                        continue
                    member = tf.extractfile(m)
                    if member is None:
                        continue
                    with member:
                        budget.copy(member, into / rel)
                    n += 1
                    if interrupt:
                        interrupt(n)
        else:
            raise DownloadError(f"{archive} is neither a zip nor a tar archive; delete it and download it again")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise DownloadError(f"{archive}: cannot unpack ({type(e).__name__}: {e}); delete it and download it again") from None
    return n


def place(roots: tuple[str, ...], target: str, extracted: Path, staging: Path, archive: Path) -> None:
    """Move the content of the first non-empty ``roots`` folder inside ``extracted`` (``""``: its
    top level) to ``staging/<target>``."""
    for root in roots:
        src = extracted / root if root else extracted
        if src.is_dir() and any(src.iterdir()):
            break
    else:
        tops = sorted(p.name for p in extracted.iterdir())[:5]
        raise DownloadError(
            f"{archive}: unexpected layout: no top folder {' or '.join(repr(r) for r in roots if r)} "
            f"(found: {', '.join(tops) or 'nothing'}); the archive may have changed upstream"
        )
    dest = staging / target if target else staging
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        moved = dest / item.name
        if moved.exists():
            raise DownloadError(f"{archive}: {item.name} is also in another archive of this data set; refusing to overwrite it")
        os.replace(item, moved)
