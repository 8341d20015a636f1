"""Official dataset archives: the table, resumable verified downloads, and safe unpacking.

``vosbench data download NAME [--dir DIR]`` fetches the public archives of a data set (DAVIS-2016,
DAVIS-2017 trainval and test-dev 480p, JHMDB frames + joint positions + splits, BADJA's
annotations + DAVIS-2017 trainval full resolution) into
``DIR/.downloads/`` (``DIR`` defaults to ``$VOSBENCH_DATA``) and unpacks them into
``DIR/<subfolder>``, the folder the loaders read by default.

Integrity, as for model weights (:mod:`vosbench.models.weights`): an archive is checked against
its official size and hashes where they are known (JHMDB's MD5s, sizes of some files), and its
SHA-256 is recorded in ``DIR/.downloads/hashes.json`` at the first download and checked on every
later one (the publishers give no SHA-256 for these files, so the first download defines it). A
file that fails a check is deleted and never unpacked. Interrupted transfers resume
(``<file>.part`` and an HTTP ``Range`` request).

Unpacking never leaves a folder that looks complete but is not: every archive is extracted into a
hidden staging folder ``DIR/.<subfolder>.unpacking-<id>``, the layout is validated there, a stamp
``.vosbench-download.json`` is written, and only then is the folder renamed to ``DIR/<subfolder>``
(one atomic rename). An interrupted unpack leaves only the hidden staging folder, which the next
run deletes. ``$VOSBENCH_DATA_BASE_URL`` replaces every official address by ``<base>/<filename>``
(a mirror, or a local server in tests).

YouTube-VOS needs an account on its challenge site, so it cannot be fetched here:
:func:`manual_instructions` says what to download and where to put it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from vosbench.core.digest import file_digests
from vosbench.core.download import HASHES_FILE, HashStore, Progress, Source, download_verified
from vosbench.core.errors import ConfigError, DatasetLayoutError, DownloadError
from vosbench.core.io import atomic_write_text
from vosbench.datasets.unpack import extract as extract  # re-exported: `vosbench data` and tests unpack with it
from vosbench.datasets.unpack import place

BASE_URL_ENV = "VOSBENCH_DATA_BASE_URL"
DOWNLOADS = ".downloads"
STAMP = ".vosbench-download.json"


@dataclass(frozen=True)
class Archive:
    """One downloadable archive and where its content goes.

    Attributes:
        filename: File name (also the name under ``$VOSBENCH_DATA_BASE_URL``).
        url: Official address.
        size: Official size in bytes, where known.
        sha256: Official SHA-256, where known (none of the publishers gives one).
        md5: Official MD5, where known.
        roots: Folder inside the archive whose content is used, in order of preference
            (``""`` = the archive's top level).
        target: Sub-folder of the dataset folder the content goes to (``""`` = the folder itself).
    """

    filename: str
    url: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    roots: tuple[str, ...] = ("",)
    target: str = ""


@dataclass(frozen=True)
class DataSource:
    """A downloadable data set: its archives, its folder under ``$VOSBENCH_DATA`` and the
    registered datasets it serves (the first one is used to validate the unpacked layout)."""

    name: str
    title: str
    subfolder: str
    datasets: tuple[str, ...]
    archives: tuple[Archive, ...]
    note: str = ""


_DAVIS = "https://data.vision.ee.ethz.ch/csergi/share/davis"
_JHMDB = "https://files.is.tue.mpg.de/jhmdb"

SOURCES: dict[str, DataSource] = {
    s.name: s
    for s in (
        DataSource(
            name="davis16",
            title="DAVIS 2016 (480p, train + val, binary masks)",
            subfolder="DAVIS-2016",
            datasets=("davis16-val",),
            archives=(Archive("DAVIS-data.zip", "https://graphics.ethz.ch/Downloads/Data/Davis/DAVIS-data.zip", roots=("DAVIS", "")),),
        ),
        DataSource(
            name="davis17-trainval",
            title="DAVIS 2017 train + val, 480p",
            subfolder="DAVIS-2017",
            datasets=("davis17-val", "davis17-trainval"),
            archives=(Archive("DAVIS-2017-trainval-480p.zip", f"{_DAVIS}/DAVIS-2017-trainval-480p.zip", roots=("DAVIS", "")),),
        ),
        DataSource(
            name="davis17-test-dev",
            title="DAVIS 2017 test-dev, 480p (frame-0 annotations only)",
            subfolder="DAVIS-2017-test-dev",
            datasets=("davis17-test-dev",),
            archives=(Archive("DAVIS-2017-test-dev-480p.zip", f"{_DAVIS}/DAVIS-2017-test-dev-480p.zip", roots=("DAVIS", "")),),
        ),
        DataSource(
            name="jhmdb",
            title="JHMDB frames, joint positions and official splits",
            subfolder="JHMDB",
            datasets=("jhmdb-split1", "jhmdb-split2", "jhmdb-split3"),
            archives=(
                Archive(
                    "Rename_Images.tar.gz", f"{_JHMDB}/Rename_Images.tar.gz",
                    md5="23726fbac4bc69a726dc3daf2e7ab4c1", roots=("Rename_Images",), target="Rename_Images",
                ),
                Archive(
                    "joint_positions.zip", f"{_JHMDB}/joint_positions.zip", size=14_177_716,
                    md5="3d1ac91bcb8544ddfdd9547997db239f", roots=("joint_positions",), target="joint_positions",
                ),
                Archive(
                    "splits.zip", f"{_JHMDB}/splits.zip", size=43_785,
                    md5="15b9f2f7a99d63c07f3be0c9ecde43b5", roots=("splits", ""), target="splits",
                ),
            ),
        ),
        DataSource(
            name="badja",
            title="BADJA joint annotations (benjiebob/BADJA) + DAVIS 2017 train + val, full resolution",
            subfolder="BADJA",
            datasets=("badja",),
            archives=(
                Archive(
                    "BADJA-master.zip", "https://github.com/benjiebob/BADJA/archive/refs/heads/master.zip",
                    roots=("BADJA-master", ""),
                ),
                Archive(
                    "DAVIS-2017-trainval-Full-Resolution.zip", f"{_DAVIS}/DAVIS-2017-trainval-Full-Resolution.zip",
                    roots=("DAVIS", ""), target="DAVIS",
                ),
            ),
            note="the layout of BADJA's README (the repository, the DAVIS archive unpacked into its DAVIS folder); "
            "the extra_videos (impala0, rs_dog) are not scored and not downloaded",
        ),
    )
}

#: other names accepted by ``vosbench data download``
ALIASES: dict[str, str] = {
    "davis-2016": "davis16", "davis16-val": "davis16",
    "davis17": "davis17-trainval", "davis-2017": "davis17-trainval", "davis17-val": "davis17-trainval",
    "jhmdb-split1": "jhmdb", "jhmdb-split2": "jhmdb", "jhmdb-split3": "jhmdb",
}  # fmt: skip

_YTVOS_SERVERS = {
    2018: "https://codalab.lisn.upsaclay.fr/competitions/7685 (old server: https://competitions.codalab.org/competitions/19544)",
    2019: "https://codalab.lisn.upsaclay.fr/competitions/6066 (old server: https://competitions.codalab.org/competitions/20127)",
}
MANUAL: dict[str, int] = {
    "ytvos18": 2018, "ytvos18-val": 2018, "ytvos18-train": 2018, "youtube-vos-2018": 2018,
    "ytvos19": 2019, "ytvos19-val": 2019, "ytvos19-train": 2019, "youtube-vos-2019": 2019,
}  # fmt: skip


def names() -> list[str]:
    """Every name ``vosbench data download`` accepts."""
    return sorted({*SOURCES, *ALIASES, *MANUAL})


def find_source(name: str) -> DataSource | None:
    """The downloadable source called ``name`` (or an alias); ``None`` for a set that must be
    fetched by hand (YouTube-VOS); :class:`ConfigError` for an unknown name."""
    key = name.strip().lower()
    if key in MANUAL:
        return None
    key = ALIASES.get(key, key)
    if key in SOURCES:
        return SOURCES[key]
    import difflib

    close = difflib.get_close_matches(key, names(), n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ConfigError(f"no download for {name!r}.{hint} Known: {', '.join(sorted({*SOURCES, *MANUAL}))}")


def manual_instructions(name: str, data_dir: Path | None = None) -> str:
    """What to download by hand for YouTube-VOS, and where to put it."""
    year = MANUAL[name.strip().lower()]
    short = str(year)[2:]
    where = (data_dir / f"YouTubeVOS-{year}") if data_dir is not None else Path(f"$VOSBENCH_DATA/YouTubeVOS-{year}")
    return "\n".join(
        [
            f"YouTube-VOS {year} cannot be downloaded by vosbench: its files are only given to registered",
            "participants of the challenge. To get them:",
            f"  1. Sign in (create an account) at {_YTVOS_SERVERS[year]}",
            "     and register for the competition (tab 'Participate').",
            "  2. In 'Participate -> Get Data', download valid.zip (the 6 fps frames, first-appearance",
            "     annotations and meta.json); optionally valid_all_frames.zip (every frame) and train.zip",
            f"     (for ytvos{short}-train, scored locally on held-out videos).",
            f"  3. Unpack them so that the folder {where} holds:",
            f"       {where}/valid/JPEGImages/<video>/<frame>.jpg",
            f"       {where}/valid/Annotations/<video>/<frame>.png",
            f"       {where}/valid/meta.json",
            f"       {where}/all_frames/valid_all_frames/JPEGImages/<video>/<frame>.jpg   (optional)",
            f"       {where}/train/{{JPEGImages,Annotations,meta.json}}                      (optional)",
            f"  4. Check the layout: vosbench data check ytvos{short}-val"
            + (f" --data-root {where}" if data_dir is not None else ""),
            f"  5. Run: vosbench run --model MODEL --dataset ytvos{short}-val   (writes submission.zip for the server)",
        ]
    )


def data_dir(directory: str | os.PathLike[str] | None) -> Path:
    """``directory``, else ``$VOSBENCH_DATA``; a :class:`ConfigError` when neither is set."""
    if directory is not None:
        return Path(directory).expanduser()
    env = os.environ.get("VOSBENCH_DATA", "").strip()
    if not env:
        raise ConfigError(
            "where should the data go? Pass --dir DIR or set VOSBENCH_DATA (the data set is unpacked "
            "into DIR/<subfolder>, where the loaders look by default)"
        )
    return Path(env).expanduser()


def source_url(a: Archive) -> str:
    """Where ``a`` is fetched from: its official URL, or ``$VOSBENCH_DATA_BASE_URL/<filename>``."""
    base = os.environ.get(BASE_URL_ENV, "").strip()
    return f"{base.rstrip('/')}/{a.filename}" if base else a.url


# -- recorded hashes ----------------------------------------------------------------------------
def read_records(downloads: Path) -> dict[str, dict[str, Any]]:
    """``hashes.json`` of the downloads folder: filename -> {sha256, md5, size, url, recorded}."""
    return HashStore(downloads).records()


def archive_problem(a: Archive, downloads: Path, path: Path) -> str | None:
    """Why the file at ``path`` is not ``a`` (``None`` when it passes every known check)."""
    size = path.stat().st_size
    if a.size is not None and size != a.size:
        return f"it has {size} bytes, the official file {a.size}"
    sha, md5 = file_digests(path)
    if a.sha256 and sha != a.sha256.lower():
        return f"SHA-256 {sha} differs from the official {a.sha256.lower()}"
    if a.md5 and md5 != a.md5.lower():
        return f"MD5 {md5} differs from the official {a.md5.lower()}"
    rec = read_records(downloads).get(a.filename)
    if not a.sha256 and rec and rec.get("sha256") and rec["sha256"] != sha:
        return (
            f"SHA-256 {sha} differs from {rec['sha256']}, recorded at its first download "
            f"({rec.get('recorded', '?')}) in {downloads / HASHES_FILE}"
        )
    return None


def download_archive(
    a: Archive, downloads: Path, *, force: bool = False, progress: Progress | None = None, timeout: float = 60.0
) -> Path:
    """Download ``a`` into ``downloads`` (resuming), check it, record its hash; return its path.

    Raises:
        DownloadError: transfer failed (the ``.part`` is kept for resuming) or a check failed
            (the data is deleted).
    """
    return download_verified(
        HashStore(downloads),
        a.filename,
        Source(source_url(a), " (the file may have moved upstream)", BASE_URL_ENV),
        lambda path: archive_problem(a, downloads, path),
        force=force,
        record_md5=True,
        progress=progress,
        timeout=timeout,
    )


def _clean_stale(base: Path, subfolder: str) -> None:
    for p in base.glob(f".{subfolder}.unpacking-*"):
        shutil.rmtree(p, ignore_errors=True)


def read_stamp(folder: Path) -> dict[str, Any] | None:
    """The stamp a finished download left in ``folder`` (``None`` if there is none)."""
    try:
        data = json.loads((folder / STAMP).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


@dataclass
class DownloadResult:
    """What :func:`download_source` did."""

    folder: Path
    archives: list[Path]
    up_to_date: bool
    files: int = 0


#: ``validate(staging_folder) -> problems`` (the layout check of the unpacked data set)
Validator = Callable[[Path], list[str]]


def download_source(
    src: DataSource,
    directory: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    keep_archives: bool = False,
    progress: Callable[[str, int, int | None], None] | None = None,
    validate: Validator | None = None,
    interrupt: Callable[[int], None] | None = None,
) -> DownloadResult:
    """Download, check and unpack ``src`` into ``<directory>/<subfolder>``.

    Args:
        src: The data set.
        directory: The data folder (default ``$VOSBENCH_DATA``).
        force: Download and unpack again even if a finished copy is there (the old copy is only
            replaced once the new one is complete).
        keep_archives: Keep the archives in ``<directory>/.downloads`` after unpacking.
        progress: ``progress(filename, bytes_done, bytes_total)``.
        validate: Layout check run on the unpacked folder before it is put in place.
        interrupt: Test hook, see :func:`extract`.

    Raises:
        DownloadError: a transfer or integrity failure, or an archive that cannot be unpacked
            (the message names the cached archive and how to fetch it anew).
        DatasetLayoutError: the target folder exists but was not made by this command, or the
            unpacked data fails the layout check (nothing is put in place).
    """
    base = data_dir(directory)
    folder = base / src.subfolder
    if _up_to_date(src, folder, force):
        return DownloadResult(folder, [], up_to_date=True)
    downloads = base / DOWNLOADS
    paths = [
        download_archive(a, downloads, force=force, progress=_named(progress, a.filename)) for a in src.archives
    ]
    _clean_stale(base, src.subfolder)
    staging = base / f".{src.subfolder}.unpacking-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        try:
            files = _unpack(src, paths, staging, validate, interrupt)
        except (DownloadError, DatasetLayoutError) as e:
            raise type(e)(f"{e}\n{_retry_hint(src, paths, downloads)}") from None
        _write_stamp(src, staging, downloads, files)
        _put_in_place(staging, folder, base, src.subfolder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if not keep_archives:
        for p in paths:
            p.unlink(missing_ok=True)
    return DownloadResult(folder, paths, up_to_date=False, files=files)


def _up_to_date(src: DataSource, folder: Path, force: bool) -> bool:
    """Whether ``folder`` already holds a finished download of ``src`` (and ``force`` is off);
    refuses a folder this command did not make."""
    stamp = read_stamp(folder) if folder.is_dir() else None
    if folder.exists() and not force:
        if stamp is not None and stamp.get("source") == src.name:
            return True
        raise DatasetLayoutError(
            f"{folder} already exists and was not unpacked by `vosbench data download {src.name}`. "
            f"Check it with `vosbench data check {src.datasets[0]} --data-root {folder}`, or move it away "
            f"and run the download again"
        )
    if folder.exists() and force and stamp is None:
        raise DatasetLayoutError(
            f"{folder} exists and was not made by `vosbench data download`; --force only replaces folders this "
            f"command made. Move it away first"
        )
    return False


def _named(progress: Callable[[str, int, int | None], None] | None, name: str) -> Progress | None:
    if progress is None:
        return None
    return lambda done, total: progress(name, done, total)


def _retry_hint(src: DataSource, paths: list[Path], downloads: Path) -> str:
    """How to fetch refused archives anew: their cached copy and recorded hash are the reference
    every later download is checked against."""
    shown = ", ".join(str(p) for p in paths)
    return (
        f"The archive(s) stay cached as {shown}, with the SHA-256 recorded in {downloads / HASHES_FILE} as the "
        f"reference. If the archive is wrong, delete it and its entry in {HASHES_FILE}, then run "
        f"`vosbench data download {src.name}` again."
    )


def _unpack(
    src: DataSource,
    paths: list[Path],
    staging: Path,
    validate: Validator | None,
    interrupt: Callable[[int], None] | None,
) -> int:
    """Unpack every archive of ``src`` into ``staging`` and check the layout; returns the files."""
    files = 0
    for i, (a, path) in enumerate(zip(src.archives, paths)):
        extracted = staging / f".archive-{i}"
        files += extract(path, extracted, interrupt)
        place(a.roots, a.target, extracted, staging, path)
        shutil.rmtree(extracted)
    problems = validate(staging) if validate is not None else []
    if problems:
        shown = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise DatasetLayoutError(
            f"the unpacked {src.title} does not have the layout the loaders read, so it was not put in place:\n  {shown}"
        )
    return files


def _write_stamp(src: DataSource, staging: Path, downloads: Path, files: int) -> None:
    records = read_records(downloads)
    stamp = {
        "source": src.name,
        "title": src.title,
        "archives": {a.filename: records.get(a.filename, {}).get("sha256") for a in src.archives},
        "files": files,
        "unpacked": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(staging / STAMP, json.dumps(stamp, indent=2) + "\n")


def _put_in_place(staging: Path, folder: Path, base: Path, subfolder: str) -> None:
    """Rename ``staging`` to ``folder`` (an earlier download there is swapped out, then deleted)."""
    if folder.exists():
        old = base / f".{subfolder}.unpacking-old-{secrets.token_hex(3)}"
        os.replace(folder, old)
        os.replace(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, folder)
