"""TAP-Vid pickles read safely and once, then served lazily from memory-mapped arrays.

The official files (google-deepmind/tapnet, ``tapnet/tapvid/README.md``):

* TAP-Vid-DAVIS (``tapvid_davis.pkl``) and RoboTAP: a dict ``video name -> {"video": uint8
  (T, H, W, 3), "points": float (N, T, 2) x/y normalised to [0, 1], "occluded": bool (N, T)}``;
* TAP-Vid-RGB-Stacking (``tapvid_rgb_stacking.pkl``): a list of the same dicts (no names; videos
  are called ``video_0000``, ``video_0001``, ... in list order);
* TAP-Vid-Kinetics as tapnet's ``generate_tapvid.py`` writes it from the official CSV and the
  user's Kinetics-700-2020 clips: ``0000_of_0010.pkl`` ... lists of the same dicts whose ``video``
  is a 1-D array of JPEG frames (decoded with Pillow when indexed; videos numbered across the
  files in file order).

Safety: a pickle can run any code when loaded, so :class:`SafeUnpickler` resolves only the globals
that rebuild numpy arrays (``numpy.core.multiarray._reconstruct`` and its numpy-2 spelling,
``numpy.ndarray``, ``numpy.dtype``, ``scalar``, ``_frombuffer``) and ``_codecs.encode`` (bytes in
protocol-2 pickles); any other class or function is refused with a one-line error. Dicts, lists,
strings and numbers need no globals. The result is then checked field by field (types, shapes,
dtypes, names usable as file names).

Memory: the first read of a pickle unpickles it once (peak memory = the pickle's arrays) and
writes each video's frames, points and occlusion to ``.npy`` files in an index folder under the
cache (``<cache>/tapvid-index/<key>``, key = the files' names, sizes and modification times); the unpickled objects are released. Every later read memory-maps one video's arrays, so a
run holds one frame (plus what the engine keeps) at a time, whatever the number of videos.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.core.paths import cache_dir
from vosbench.core.safepath import name_problem

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}
INDEX_VERSION = 1


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays and builtin containers, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays and builtin types are allowed)")


def safe_load(path: Path) -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler`.

    Raises:
        InputFileError: unreadable, truncated, not a pickle, or naming a class that is not allowed.
    """
    try:
        with open(path, "rb") as f:
            return SafeUnpickler(f).load()
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError, KeyError) as e:
        raise InputFileError(f"{path}: not a TAP-Vid pickle ({type(e).__name__}: {e})") from None
    except OSError as e:
        raise InputFileError(f"{path}: cannot read ({e.strerror or e})") from None


@dataclass(frozen=True)
class VideoEntry:
    """One video of an index: its name, sizes and the folder of its ``.npy`` arrays."""

    name: str
    frames: int
    height: int
    width: int
    tracks: int
    folder: Path

    def video(self) -> np.ndarray:
        """(T, H, W, 3) uint8, memory-mapped."""
        return np.load(self.folder / "video.npy", mmap_mode="r")

    def points(self) -> np.ndarray:
        """(N, T, 2) float64 normalised x/y."""
        return np.load(self.folder / "points.npy")

    def occluded(self) -> np.ndarray:
        """(N, T) bool."""
        return np.load(self.folder / "occluded.npy")


def _decode_jpegs(where: str, frames: np.ndarray) -> np.ndarray:
    """A 1-D array of JPEG bytes (tapnet's ``generate_tapvid.py`` stores Kinetics frames so) ->
    (T, H, W, 3) uint8."""
    out = []
    for i, data in enumerate(frames.tolist()):
        try:
            with Image.open(io.BytesIO(bytes(data))) as im:
                out.append(np.asarray(im.convert("RGB")))
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise InputFileError(f"{where}: frame {i} is not a readable JPEG ({e})") from None
    if not out or any(f.shape != out[0].shape for f in out):
        raise InputFileError(f"{where}: the JPEG frames are missing or of different sizes")
    return np.stack(out)


def _check_video(path: Path, name: str, item: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three arrays of one video, checked (one-line errors naming the file and the video)."""
    where = f"{path}: video {name!r}"
    if not isinstance(item, dict) or not {"video", "points", "occluded"} <= set(item):
        raise InputFileError(f"{where}: expected a dict with 'video', 'points' and 'occluded'")
    video, points, occ = item["video"], item["points"], item["occluded"]
    if not all(isinstance(a, np.ndarray) for a in (video, points, occ)):
        raise InputFileError(f"{where}: 'video', 'points' and 'occluded' must be numpy arrays")
    if video.ndim == 1 and video.dtype.kind in "SO":
        video = _decode_jpegs(where, video)
    if video.ndim != 4 or video.shape[3] != 3 or video.dtype != np.uint8 or video.shape[0] < 1:
        raise InputFileError(f"{where}: 'video' has shape {list(video.shape)} {video.dtype}; expected uint8 (T, H, W, 3)")
    t = video.shape[0]
    if points.ndim != 3 or points.shape[1:] != (t, 2) or points.dtype.kind != "f":
        raise InputFileError(f"{where}: 'points' has shape {list(points.shape)} {points.dtype}; expected float (N, {t}, 2)")
    if occ.shape != points.shape[:2] or occ.dtype.kind not in "bui":
        raise InputFileError(f"{where}: 'occluded' has shape {list(occ.shape)} {occ.dtype}; expected bool {list(points.shape[:2])}")
    pts = points.astype(np.float64)
    if not np.isfinite(pts).all():
        raise InputFileError(f"{where}: 'points' holds NaN or infinite values")
    return video, pts, occ.astype(bool)


def _videos(path: Path, data: object, first: int = 0) -> list[tuple[str, object]]:
    """(name, video) pairs; the videos of a list are numbered from ``first`` (across the files of a
    folder, as tapnet concatenates Kinetics shards)."""
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        items = [(f"video_{first + i:04d}", v) for i, v in enumerate(data)]
    else:
        raise InputFileError(f"{path}: expected a dict of videos (DAVIS, RoboTAP) or a list (RGB-Stacking), got {type(data).__name__}")
    for name, _ in items:
        problem = name_problem(name)
        if problem is not None:
            raise InputFileError(f"{path}: video name {name!r} cannot be used ({problem})")
    if not items:
        raise InputFileError(f"{path}: holds no videos")
    return items


def index_key(files: list[Path]) -> str:
    """A cache key of ``files``: their names, sizes and modification times."""
    h = hashlib.sha256(f"v{INDEX_VERSION}".encode())
    for f in files:
        st = f.stat()
        # not the folder: a set unpacked, checked and then renamed into place keeps its index
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:24]


def pickle_files(root: Path) -> list[Path]:
    """``root`` itself (a ``.pkl`` file) or the ``.pkl`` files in the folder ``root``, sorted."""
    if root.is_file():
        return [root]
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix == ".pkl" and p.is_file())
        if files:
            return files
        raise DatasetLayoutError(f"{root}: no .pkl file in this folder; pass the TAP-Vid pickle itself or its folder")
    raise DatasetLayoutError(f"{root}: no such file or folder (the TAP-Vid pickle)")


@contextmanager
def index_build(dest: Path) -> Iterator[Path]:
    """A fresh folder next to ``dest`` to write an index into (its ``index.json`` last); moved to
    ``dest`` when the block ends (dropped when another process got there first), removed on error."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=dest.parent))
    try:
        yield tmp
        try:
            os.replace(tmp, dest)
        except OSError:  # another process built it meanwhile
            if not (dest / "index.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _build(files: list[Path], dest: Path) -> None:
    """Unpickle each file once and write its videos' arrays under ``dest`` (atomically)."""
    with index_build(dest) as tmp:
        entries: list[dict[str, Any]] = []
        seen: set[str] = set()
        for f in files:
            data = safe_load(f)
            for name, item in _videos(f, data, len(entries)):
                if name in seen:
                    raise InputFileError(f"{f}: video {name!r} is also in another pickle of {f.parent}")
                seen.add(name)
                video, pts, occ = _check_video(f, name, item)
                folder = tmp / str(len(entries))  # numbered folders: names never become paths
                folder.mkdir()
                np.save(folder / "video.npy", np.ascontiguousarray(video))
                np.save(folder / "points.npy", pts)
                np.save(folder / "occluded.npy", occ)
                t, h, w = video.shape[:3]
                entries.append({"name": name, "frames": t, "height": h, "width": w, "tracks": int(pts.shape[0])})
            del data
        (tmp / "index.json").write_text(json.dumps({"version": INDEX_VERSION, "videos": entries}))


def open_index(root: Path) -> list[VideoEntry]:
    """The videos of the TAP-Vid pickle(s) at ``root`` (a file, or a folder of ``.pkl`` files), in
    file order; built into the cache on the first call."""
    files = pickle_files(root)
    dest = cache_dir() / "tapvid-index" / index_key(files)
    if not (dest / "index.json").is_file():
        _build(files, dest)
    data = json.loads((dest / "index.json").read_text())
    return [
        VideoEntry(e["name"], e["frames"], e["height"], e["width"], e["tracks"], dest / str(i))
        for i, e in enumerate(data["videos"])
    ]
