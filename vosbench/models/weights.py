"""Official checkpoint files: the table, a local cache, resumable verified downloads.

The files are the :class:`~vosbench.core.specs.WeightFile` records of the registered models
(built-ins and plugins alike). They are kept in ``$VOSBENCH_CACHE/weights`` (see
:func:`vosbench.core.paths.cache_dir`) or a folder the user names, under their ``filename``.

Integrity: a file is checked against its official SHA-256 where one is known, against the
SHA-256 prefix that torchvision file names carry (``resnet18-f37072fd.pth``), and against the
hash recorded in ``hashes.json`` beside the files the first time it was downloaded; a file that
fails a check is never left in place as a valid download.

Downloads use only ``urllib``: partial data goes to ``<file>.part`` and an interrupted transfer
resumes with an HTTP ``Range`` request. ``$VOSBENCH_WEIGHTS_BASE_URL`` replaces every official
address by ``<base>/<filename>`` (a mirror, or a local server in tests).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vosbench.core.digest import sha256_file
from vosbench.core.download import HashStore, Progress, Source, download_verified
from vosbench.core.errors import CheckpointError, ConfigError, DownloadError, DuplicatePluginError
from vosbench.core.specs import WeightFile

BASE_URL_ENV = "VOSBENCH_WEIGHTS_BASE_URL"
#: Addresses that are a web page to act on, not the file: a licence gate (DINOv3's request form).
GATED_PAGES = ("ai.meta.com/resources/",)


@dataclass(frozen=True)
class OfficialWeight:
    """A downloadable file and the model it belongs to."""

    model: str
    file: WeightFile

    @property
    def name(self) -> str:
        return self.file.name


def official_weights() -> dict[str, OfficialWeight]:
    """Every official file of every registered model, by weight name."""
    from vosbench.core.registry import models

    table: dict[str, OfficialWeight] = {}
    for entry in models.entries():
        for wf in entry.spec.weights:
            if wf.name in table and table[wf.name].file != wf:
                raise DuplicatePluginError(
                    f"weight name {wf.name!r} is declared by models {table[wf.name].model!r} and "
                    f"{entry.spec.name!r} with different files; rename one of them"
                )
            table.setdefault(wf.name, OfficialWeight(entry.spec.name, wf))
    return table


def find_weight(name: str) -> OfficialWeight:
    """The official file called ``name``, or a :class:`ConfigError` listing the known ones."""
    table = official_weights()
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown weight file {name!r}.{hint} Known: {', '.join(sorted(table))} (`vosbench weights list`)")


def weights_dir() -> Path:
    """Default folder of downloaded weights: ``<cache>/weights``."""
    from vosbench.core.paths import cache_dir

    return cache_dir() / "weights"


def source_url(wf: WeightFile) -> str:
    """Where ``wf`` is fetched from: its official URL, or ``$VOSBENCH_WEIGHTS_BASE_URL/<filename>``."""
    base = os.environ.get(BASE_URL_ENV, "").strip()
    return f"{base.rstrip('/')}/{wf.filename}" if base else wf.url


def hash_prefix(wf: WeightFile) -> str | None:
    """SHA-256 prefix carried by torch.hub-style file names (``<name>-<hex>.pth``: torchvision's,
    and DINOv3's, whose hub loader checks it with ``check_hash``), else ``None``."""
    if "download.pytorch.org/" not in wf.url and not any(page in wf.url for page in GATED_PAGES):
        return None
    m = re.search(r"-([0-9a-f]{8,})\.[A-Za-z0-9]+$", wf.filename)
    return m.group(1) if m else None


# -- recorded hashes ----------------------------------------------------------------------------
def read_records(directory: Path) -> dict[str, dict[str, Any]]:
    """``hashes.json`` of ``directory``: filename -> {sha256, size, url, name, recorded}."""
    return HashStore(directory).records()


def expected_hash(wf: WeightFile, directory: Path) -> tuple[str | None, str]:
    """(expected SHA-256, where it comes from: ``official``/``recorded <date>``/``none``)."""
    if wf.sha256:
        return wf.sha256.lower(), "official"
    rec = read_records(directory).get(wf.filename)
    if rec and rec.get("sha256"):
        return str(rec["sha256"]), f"recorded at first download, {rec.get('recorded', '?')}"
    return None, "none"


def hash_problem(wf: WeightFile, directory: Path, sha: str) -> str | None:
    """Why ``sha`` is not the right hash of ``wf`` (``None`` when it passes every known check)."""
    want, origin = expected_hash(wf, directory)
    if want is not None and sha != want:
        return f"SHA-256 {sha} differs from the expected {want} ({origin})"
    prefix = hash_prefix(wf)
    if prefix and not sha.startswith(prefix):
        return f"SHA-256 {sha} does not start with {prefix}, the prefix in the official file name"
    return None


# -- using cached files -------------------------------------------------------------------------
def cached_weight_path(name: str) -> Path | None:
    """Path of the downloaded official file ``name`` (for ``--checkpoint NAME``).

    Returns ``None`` when ``name`` is not an official file name. Raises when it is one that has
    not been downloaded, or whose cached copy fails its hash check.
    """
    table = official_weights()
    if name not in table:
        return None
    wf = table[name].file
    directory = weights_dir()
    path = directory / wf.filename
    if not path.is_file():
        raise ConfigError(
            f"official file {name!r} ({wf.filename}) is not in the weights cache {directory}; "
            f"run `vosbench weights download {name}` first"
        )
    problem = hash_problem(wf, directory, sha256_file(path))
    if problem:
        raise CheckpointError(
            f"cached file {path} fails its integrity check: {problem}. It may be corrupt or modified; "
            f"run `vosbench weights download {name} --force` to fetch it again"
        )
    return path


# -- files without a direct address ----------------------------------------------------------------


def gated(wf: WeightFile) -> bool:
    """``wf`` is behind a licence gate: there is no address to download it from (unless a mirror
    is named by ``$VOSBENCH_WEIGHTS_BASE_URL``)."""
    return any(page in wf.url for page in GATED_PAGES) and not os.environ.get(BASE_URL_ENV, "").strip()


def drive_view_url(wf: WeightFile) -> str | None:
    """The Google Drive page of a Drive-hosted file (``None`` for other addresses)."""
    m = re.search(r"drive\.usercontent\.google\.com/download\?.*\bid=([\w-]+)", wf.url)
    return f"https://drive.google.com/file/d/{m.group(1)}/view" if m else None


def manual_note(wf: WeightFile, directory: Path) -> str:
    """Where to get ``wf`` by hand and where to put it (one sentence)."""
    where = drive_view_url(wf) or wf.url
    how = "request access there and download it from the e-mailed URL" if gated(wf) else "open it in a browser"
    return (
        f"{wf.name}: get {wf.filename} from {where} ({how}; {wf.note or 'official file'}), put it at "
        f"{directory / wf.filename} and use --checkpoint {wf.name}, or pass the file as --checkpoint FILE"
    )


# -- downloading --------------------------------------------------------------------------------
def download(
    wf: WeightFile,
    directory: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``wf`` into ``directory`` (default :func:`weights_dir`), resuming and verifying.

    Args:
        wf: The file to fetch.
        directory: Target folder; ``hashes.json`` there records the hash of each new file.
        force: Fetch again even if a verified copy exists (a stale ``.part`` is discarded too).
        progress: Called with (bytes so far, total bytes or ``None``) as data arrives.
        timeout: Socket timeout in seconds.

    Returns:
        Path of the verified file.

    Raises:
        DownloadError: HTTP error, network failure, interrupted transfer (the ``.part`` file is
            kept and the next call resumes), or a hash mismatch (the data is deleted).
    """
    d = Path(directory).expanduser() if directory is not None else weights_dir()
    if gated(wf):
        raise DownloadError(f"no direct download: {manual_note(wf, d)}")
    hint = " (the file may have moved; check the URL in `vosbench weights list`)"
    if drive_view_url(wf) and not os.environ.get(BASE_URL_ENV, "").strip():
        hint = f" (Google Drive refused the direct download; by hand: {manual_note(wf, d)})"

    return download_verified(
        HashStore(d),
        wf.filename,
        Source(source_url(wf), hint, BASE_URL_ENV),
        lambda path: hash_problem(wf, d, sha256_file(path)),
        force=force,
        refetch_bad_copy=False,
        progress=progress,
        timeout=timeout,
        name=wf.name,
    )
