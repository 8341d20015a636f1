"""TAP-Vid point tracking (google-deepmind/tapnet): DAVIS, RGB-Stacking, RoboTAP pickles and the
generated synthetic set, as :class:`TapVidDataset` (``task = "points"``).

A video's GT tracks are the pickle's ``points`` (normalised x/y) times the frame's width/height:
0-based pixels of the original frame with pixel centres at integers (tapnet's
``generate_tapvid.py`` writes ``(x * W - 0.5) / W`` from its annotations' continuous
coordinates). The query points of each video come from the dataset option ``query_mode``
(``first``, the default, or ``strided``), which the run samples exactly as tapnet does
(:mod:`vosbench.scoring.tapvid`). Frames are read lazily from memory-mapped arrays
(:mod:`vosbench.datasets.tapvid_pickle`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vosbench.core.errors import DatasetLayoutError
from vosbench.core.specs import DatasetSpec
from vosbench.core.video import VideoSequence
from vosbench.datasets.base import VideoDataset
from vosbench.datasets.synthetic.tapvid import ensure_synthetic_tapvid
from vosbench.datasets.tapvid_pickle import open_index

#: tapnet's query modes (sampled by :mod:`vosbench.scoring.tapvid`)
QUERY_MODES = ("first", "strided")


class VideoData(Protocol):
    """One video's arrays: a pickle's (:class:`~vosbench.datasets.tapvid_pickle.VideoEntry`) or a
    Kinetics clip's (:class:`~vosbench.datasets.tapvid_kinetics.KineticsVideo`)."""

    @property
    def name(self) -> str: ...
    @property
    def frames(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def tracks(self) -> int: ...
    def video(self) -> np.ndarray:
        """(T, H, W, 3) uint8."""
    def points(self) -> np.ndarray:
        """(N, T, 2) float64 normalised x/y."""
    def occluded(self) -> np.ndarray:
        """(N, T) bool."""


class TapVidSequence(VideoSequence):
    """One TAP-Vid video: frames from the index's memory-mapped array, GT tracks in pixels."""

    def __init__(self, entry: VideoData, source: Path, query_mode: str):
        frames = [f"{t:05d}" for t in range(entry.frames)]
        # no image files: these paths only name a frame in messages
        super().__init__(entry.name, frames, [source / entry.name / f for f in frames])
        self.entry = entry
        self.query_mode = query_mode

    def read_image(self, i: int) -> np.ndarray:
        return np.array(self.entry.video()[i])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the original frames."""
        return self.entry.height, self.entry.width

    def gt_tracks(self) -> tuple[np.ndarray, np.ndarray]:
        """(N, T, 2) GT x/y in original pixels and (N, T) occlusion, every track of the pickle."""
        pts = self.entry.points() * np.array([self.entry.width, self.entry.height], dtype=np.float64)
        return pts, self.entry.occluded()



class TapVidDataset(VideoDataset):
    """The videos of a TAP-Vid pickle (a file, or a folder of ``.pkl`` files such as RoboTAP's).

    Args:
        spec: Registry record.
        root: The pickle file or its folder.
        query_mode: ``first`` (default) or ``strided``.
    """

    task = "points"

    def __init__(self, spec: DatasetSpec, root: Path, query_mode: str = "first", **options: Any):
        super().__init__(spec, root, **options)
        if query_mode not in QUERY_MODES:
            raise DatasetLayoutError(f"{spec.name}: query_mode {query_mode!r} unknown; expected first or strided")
        self.query_mode = query_mode
        self.entries = {e.name: e for e in self.open_videos()}

    def open_videos(self) -> list[VideoData]:
        """The videos at ``self.root``: the pickle(s), indexed into the cache on first use."""
        return list(open_index(self.root))

    def sequence_names(self) -> list[str]:
        return list(self.entries)

    def sequence(self, name: str) -> TapVidSequence:
        if name not in self.entries:
            raise DatasetLayoutError(f"{self.name}: no video {name!r} in {self.root}")
        return TapVidSequence(self.entries[name], self.root, self.query_mode)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "query_mode": self.query_mode}


def build_tapvid(spec: DatasetSpec, root: Path, **options: Any) -> TapVidDataset:
    """Factory of ``tapvid-davis``, ``tapvid-rgb-stacking`` and ``robotap``."""
    return TapVidDataset(spec, root, **options)


def build_synthetic_tapvid(spec: DatasetSpec, root: Path, **options: Any) -> TapVidDataset:
    """Factory of ``synthetic-tapvid``: write the pickle (once) into the folder ``root``
    (:mod:`vosbench.datasets.synthetic.tapvid`), then read it like TAP-Vid-DAVIS."""
    params = {k: options.pop(k) for k in ("videos", "frames", "size", "seed") if k in options}
    if root.suffix == ".pkl" and root.is_file() and not params:  # --data-root naming a written pickle
        return TapVidDataset(spec, root, **options)
    return TapVidDataset(spec, ensure_synthetic_tapvid(root, **params), **options)
