"""What a dataset adapter hands to the engine: videos as lists of files, read lazily.

A :class:`VideoSequence` names its frames and annotation files; nothing is decoded until the
engine asks for a frame. Adapters never write into the dataset folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vosbench.core.errors import DatasetLayoutError
from vosbench.core.labels import read_label_png, read_rgb
from vosbench.core.specs import DatasetSpec


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


class VideoDataset:
    """Base class of dataset adapters: an ordered collection of :class:`VideoSequence`.

    Subclasses implement :meth:`sequence_names` and :meth:`sequence`.
    """

    task = "vos"

    def __init__(self, spec: DatasetSpec, root: Path, **options: Any):
        self.spec = spec
        self.root = Path(root)
        self.options = options

    @property
    def name(self) -> str:
        return self.spec.name

    def sequence_names(self) -> list[str]:
        raise NotImplementedError

    def sequence(self, name: str) -> VideoSequence:
        raise NotImplementedError

    def select(self, names: list[str] | None) -> list[str]:
        """Validate a ``--sequences`` selection (``None`` = all) and return it in dataset order."""
        all_names = self.sequence_names()
        if not names:
            return all_names
        unknown = [n for n in names if n not in all_names]
        if unknown:
            raise DatasetLayoutError(
                f"{self.name}: unknown sequence(s) {', '.join(unknown)} in {self.root}; "
                f"available: {', '.join(all_names)}"
            )
        wanted = set(names)
        return [n for n in all_names if n in wanted]

    def __iter__(self) -> Iterator[VideoSequence]:
        for n in self.sequence_names():
            yield self.sequence(n)

    def __len__(self) -> int:
        return len(self.sequence_names())

    def describe(self) -> dict[str, Any]:
        """What goes into the run record about this dataset."""
        return {"name": self.name, "root": str(self.root), "task": self.task}
