"""What a dataset adapter hands to the engine: a video as lists of files, read lazily.

A :class:`VideoSequence` names its frames and annotation files; nothing is decoded until the
engine asks for a frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vosbench.core.labels import read_label_png, read_rgb


@dataclass
class VideoSequence:
    """One video of a segmentation (``task="vos"``) or keypoint (``task="pose"``) dataset.

    Attributes:
        name: Sequence name (folder name).
        frames: Frame names (file stems, e.g. ``"00000"``) in propagation order.
        image_paths: One image file per frame.
        annotations: Frame index -> label PNG used as *input*: frame 0 for DAVIS; every frame
            where a new object first appears for YouTube-VOS.
        gt: Frame index -> label PNG used for *scoring* (empty when no GT is available).
        output_frames: Indices of the frames whose predictions are written (``None`` = all).
        binary_masks: DAVIS-2016 masks (object 1 = value > 128).
        objects: Object id -> metadata (e.g. category for YouTube-VOS).
        object_starts: Object id -> index of the frame where the object first appears, for
            datasets whose objects join mid-video (YouTube-VOS): such an object is scored from
            its first appearance on. Empty: every object is in frame 0 (DAVIS rules).
        keypoints: For ``task="pose"``: array (T, 15, 2) of 0-based (x, y) pixel coordinates,
            NaN where a joint is not annotated.
        meta: Anything else worth recording.
    """

    name: str
    frames: list[str]
    image_paths: list[Path]
    annotations: dict[int, Path] = field(default_factory=dict)
    gt: dict[int, Path] = field(default_factory=dict)
    output_frames: list[int] | None = None
    binary_masks: bool = False
    objects: dict[int, dict[str, Any]] = field(default_factory=dict)
    object_starts: dict[int, int] = field(default_factory=dict)
    keypoints: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)

    def read_image(self, i: int) -> np.ndarray:
        """Frame ``i`` as (H, W, 3) uint8 RGB."""
        return read_rgb(self.image_paths[i])

    def read_annotation(self, i: int) -> np.ndarray:
        """Input label map of frame ``i`` as (H, W) uint8 ids."""
        return read_label_png(self.annotations[i], binary=self.binary_masks)

    def read_gt(self, i: int) -> np.ndarray:
        """Ground-truth label map of frame ``i`` as (H, W) uint8 ids."""
        return read_label_png(self.gt[i], binary=self.binary_masks)

    def outputs(self) -> list[int]:
        return list(range(len(self.frames))) if self.output_frames is None else list(self.output_frames)
