"""TAP-Vid-Kinetics from the official CSV and the user's Kinetics-700-2020 validation clips,
restating tapnet's ``tapnet/tapvid/generate_tapvid.py`` (google-deepmind/tapnet) without its pickles.

Layout (``--data-root``): ``<root>/tapvid_kinetics.csv`` (from ``tapvid_kinetics.zip``) and the
clips anywhere below ``<root>`` (any sub-folders, e.g. ``<root>/videos/<action label>/``), named
``<youtube_id>_<start:06>_<end:06>.mp4`` as the Kinetics download scripts name them (e.g.
``abcdefghijk_000010_000020.mp4``). ``--data-root`` may also name the CSV itself (the clips are
then looked for below its folder).

The CSV has no header; each row is one track: ``youtube_id, start_time_sec, end_time_sec`` then
250 ``x, y, occluded`` triples (x/y normalised continuous coordinates, occluded ``0`` or ``1``).
Rows are grouped into videos by ``(youtube_id, start, end)`` in the order each video first
appears; a video whose clip is missing is skipped (one warning line names how many and the first
one), as ``generate_tapvid.py`` skips it. The remaining videos are named ``video_0000``,
``video_0001``, ... in that order: the names the pickle input gives the same videos.

Per video, as ``generate_tapvid.py``: the clip resampled to 25 fps (:mod:`.video_decode`), the
first 250 frames kept, at the clip's size; a shorter clip cuts every track to its frames; points
become ``(x * W - 0.5) / W``, ``(y * H - 0.5) / H`` (W, H the frame's size).

The CSV is parsed once into ``.npy`` files under ``<cache>/tapvid-kinetics-index/<key>`` (key: the
CSV's name, size and modification time). Frame counts come from reading each clip's packets (no
decoding); a video's frames are decoded when it is first read, into one scratch file per dataset
(``<cache>/tapvid-kinetics-frames/``) that the next video replaces: one decoded video at a time.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.core.paths import cache_dir
from vosbench.core.safepath import name_problem
from vosbench.core.specs import DatasetSpec
from vosbench.datasets.tapvid import TapVidDataset, VideoData
from vosbench.datasets.tapvid_pickle import index_build, index_key
from vosbench.datasets.video_decode import ClipProbe, decode_clip, probe_clip

log = logging.getLogger(__name__)

CSV_NAME = "tapvid_kinetics.csv"
#: generate_tapvid.py: frames per track in the CSV, frame rate and frames kept
N_POINTS = 250
FPS = 25
ROW_LEN = 3 + 3 * N_POINTS


def clip_name(youtube_id: str, start: int, end: int) -> str:
    """The clip's file name without ``.mp4``, as ``generate_tapvid.py`` looks it up."""
    return f"{youtube_id}_{start:06}_{end:06}"


def _number(path: Path, line: int, what: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise InputFileError(f"{path}: line {line}: {what} is {text[:40]!r}, not a finite number")
    return v


def _time(path: Path, line: int, what: str, text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise InputFileError(f"{path}: line {line}: {what} is {text[:40]!r}, not a whole number of seconds")
    return int(text)


def parse_row(path: Path, line: int, row: list[str]) -> tuple[str, np.ndarray, np.ndarray]:
    """One CSV row -> (clip name, (250, 2) float64 x/y as written, (250,) bool occluded).

    Raises:
        InputFileError: a wrong field count, a time or coordinate that is not a number, an
            occlusion flag other than 0/1, or an id that cannot be part of a file name.
    """
    if len(row) != ROW_LEN:
        raise InputFileError(f"{path}: line {line}: {len(row)} fields; expected {ROW_LEN} (id, start, end, "
                             f"then x, y, occluded for {N_POINTS} frames)")
    start, end = _time(path, line, "the start time", row[1]), _time(path, line, "the end time", row[2])
    name = clip_name(row[0], start, end)
    problem = name_problem(name + ".mp4")
    if problem is not None or not row[0]:
        raise InputFileError(f"{path}: line {line}: youtube id {row[0][:40]!r} cannot name a clip ({problem or 'empty'})")
    xy = np.empty((N_POINTS, 2), dtype=np.float64)
    occ = np.empty(N_POINTS, dtype=bool)
    for i in range(N_POINTS):
        x, y, o = row[3 + 3 * i: 6 + 3 * i]
        xy[i, 0] = _number(path, line, f"x of frame {i}", x)
        xy[i, 1] = _number(path, line, f"y of frame {i}", y)
        if o not in ("0", "1"):
            raise InputFileError(f"{path}: line {line}: occluded flag of frame {i} is {o[:40]!r}; expected 0 or 1")
        occ[i] = o == "1"
    return name, xy, occ


def _build_index(csv_path: Path, dest: Path) -> None:
    """Parse the CSV once; write each video's tracks under ``dest`` (atomically)."""
    videos: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.reader(f), 1):
                if not row:
                    continue
                name, xy, occ = parse_row(csv_path, line, row)
                pts, occs = videos.setdefault(name, ([], []))
                pts.append(xy)
                occs.append(occ)
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputFileError(f"{csv_path}: not a TAP-Vid-Kinetics CSV ({e})") from None
    except OSError as e:
        raise InputFileError(f"{csv_path}: cannot read ({e.strerror or e})") from None
    if not videos:
        raise InputFileError(f"{csv_path}: holds no track")
    with index_build(dest) as tmp:
        for i, (pts, occs) in enumerate(videos.values()):
            (tmp / str(i)).mkdir()  # numbered folders: ids never become paths
            np.save(tmp / str(i) / "points.npy", np.stack(pts))
            np.save(tmp / str(i) / "occluded.npy", np.stack(occs))
        (tmp / "index.json").write_text(json.dumps({"clips": list(videos)}))


def find_clips(root: Path) -> dict[str, Path]:
    """Every ``*.mp4`` below ``root`` by name without ``.mp4`` (sub-folders followed once each)."""
    found: dict[str, Path] = {}
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree
            dirs.clear()
            continue
        seen.add(real)
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".mp4"):
                path = Path(folder) / f
                if f[:-4] in found:
                    raise DatasetLayoutError(f"{root}: clip {f} is both at {found[f[:-4]]} and at {path}; keep one")
                found[f[:-4]] = path
    return found


class FrameSlot:
    """The one decoded video of a dataset: a scratch ``.npy`` in a folder of its own under
    ``<cache>/tapvid-kinetics-frames``, replaced by the next video's, removed with the slot (or at
    exit)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clip: Path | None = None
        self.frames: np.ndarray | None = None
        self.file: Path | None = None
        self.folder: Path | None = None

    def video(self, clip: Path, probe: ClipProbe) -> np.ndarray:
        """The frames of ``clip``, decoded unless they are the slot's already."""
        with self.lock:
            if self.clip != clip or self.frames is None:
                old, self.frames, self.clip = self.file, None, None
                if self.folder is None:
                    parent = cache_dir() / "tapvid-kinetics-frames"
                    parent.mkdir(parents=True, exist_ok=True)
                    self.folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=parent))
                    weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
                # a new file each time: unlinking the old one leaves any array still mapping it valid
                fd, name = tempfile.mkstemp(suffix=".npy", dir=self.folder)
                os.close(fd)
                self.file = Path(name)
                if old is not None:
                    old.unlink(missing_ok=True)
                self.frames = decode_clip(clip, probe, N_POINTS, self.file)
                self.clip = clip
            return self.frames


@dataclass(frozen=True)
class KineticsVideo:
    """One TAP-Vid-Kinetics video: its tracks in the CSV index, its clip, its probed frames."""

    name: str
    clip: Path
    tracks_folder: Path
    probe: ClipProbe
    slot: FrameSlot

    @property
    def frames(self) -> int:
        return self.probe.frames(N_POINTS)

    @property
    def height(self) -> int:
        return self.probe.height

    @property
    def width(self) -> int:
        return self.probe.width

    @property
    def tracks(self) -> int:
        return int(np.load(self.tracks_folder / "occluded.npy", mmap_mode="r").shape[0])

    def video(self) -> np.ndarray:
        """(T, H, W, 3) uint8, decoded on first use (memory-mapped)."""
        return self.slot.video(self.clip, self.probe)

    def points(self) -> np.ndarray:
        """(N, T, 2) float64 normalised x/y, ``(x * W - 0.5) / W`` as generate_tapvid.py writes them."""
        xy = np.load(self.tracks_folder / "points.npy")[:, : self.frames]
        size = np.array([self.width, self.height], dtype=np.float64)
        return (xy * size - 0.5) / size

    def occluded(self) -> np.ndarray:
        """(N, T) bool."""
        return np.load(self.tracks_folder / "occluded.npy")[:, : self.frames]


def csv_root(root: Path) -> Path | None:
    """The CSV of a Kinetics ``--data-root`` (the CSV itself or its folder), or None (pickles)."""
    if root.is_file() and root.suffix == ".csv":
        return root
    if root.is_dir() and (root / CSV_NAME).is_file():
        return root / CSV_NAME
    return None


class KineticsCsvDataset(TapVidDataset):
    """TAP-Vid-Kinetics read from the official CSV and the clips below its folder."""

    def __init__(self, spec: DatasetSpec, root: Path, query_mode: str = "first", **options: Any):
        self.slot = FrameSlot()
        self.missing: list[str] = []
        #: facts for ``vosbench data check`` (missing clips)
        self.notes: list[str] = []
        super().__init__(spec, root, query_mode, **options)

    def open_videos(self) -> list[VideoData]:
        csv_path = csv_root(self.root)
        assert csv_path is not None  # the factory chose this class because the CSV is there
        dest = cache_dir() / "tapvid-kinetics-index" / index_key([csv_path])
        if not (dest / "index.json").is_file():
            _build_index(csv_path, dest)
        listed: list[str] = json.loads((dest / "index.json").read_text())["clips"]
        clips = find_clips(csv_path.parent)
        self.missing = [c for c in listed if c not in clips]
        if self.missing:
            self.notes.append(
                f"{len(self.missing)} of {len(listed)} clips listed in {csv_path.name} are missing below "
                f"{csv_path.parent} (first: {self.missing[0]}.mp4); their videos are skipped, as tapnet's "
                "generate_tapvid.py skips them; put the clips there to score them"
            )
            log.warning("%s: %s", self.name, self.notes[-1])
        present = [(i, c) for i, c in enumerate(listed) if c in clips]
        if not present:
            raise DatasetLayoutError(f"{csv_path.parent}: none of the {len(listed)} clips listed in {csv_path.name} is "
                                     f"below this folder (expected e.g. {listed[0]}.mp4)")
        return [
            KineticsVideo(f"video_{k:04d}", clips[c], dest / str(i), probe_clip(clips[c], FPS), self.slot)
            for k, (i, c) in enumerate(present)
        ]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "source": "csv", "missing_clips": len(self.missing)}


def build_tapvid_kinetics(spec: DatasetSpec, root: Path, **options: Any) -> TapVidDataset:
    """Factory of ``tapvid-kinetics``: the CSV and clips when ``root`` holds ``tapvid_kinetics.csv``
    (or is a ``.csv``), else the pickles tapnet's ``generate_tapvid.py`` writes."""
    root = Path(root)
    if csv_root(root) is not None:
        return KineticsCsvDataset(spec, root, **options)
    if root.is_dir() and not any(p.suffix == ".pkl" for p in root.iterdir()):
        raise DatasetLayoutError(f"{root}: neither {CSV_NAME} (with the clips below this folder) nor the .pkl files "
                                 "of tapnet's generate_tapvid.py; pass the folder of one of them, or the CSV itself")
    return TapVidDataset(spec, root, **options)
