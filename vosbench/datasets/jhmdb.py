"""JHMDB keypoint adapter (the README's "JHMDB keypoints and PCK" section states the protocol).

Layout (the official archives ``Rename_Images.tar.gz``, ``joint_positions.zip``, ``splits.zip``
extracted side by side)::

    <root>/Rename_Images/<class>/<video>/00001.png ...           frames, 1-based names
    <root>/joint_positions/<class>/<video>/joint_positions.mat   pos_img [2, 15, T], MATLAB 1-based
    <root>/splits/<class>_test_split<k>.txt                     lines "<video>.avi <1|2>", 2 = test

Videos are taken from the official split files (classes in sorted order, videos in file order),
not from a list of absolute paths. ``pos_img`` is read with ``scipy.io.loadmat``; x is row 0,
y row 1; 1 is subtracted to get 0-based pixel coordinates (pixel centres at integers). Joints are
in the dataset's order (:data:`JOINTS`).

Videos with more PNGs than annotated frames (common in JHMDB) are cut to the annotated frames:
annotation column t belongs to frame ``t+1:05d``.png, and only frames with an annotation are
propagated and scored. A video with fewer PNGs than annotations is cut to its PNGs. Both counts
are kept in the sequence's ``meta``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from vosbench.datasets.base import VideoDataset, VideoSequence
from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.core.safepath import check_name
from vosbench.core.specs import DatasetSpec
from vosbench.datasets.joints import JOINTS

SUBSETS = {"train": "1", "test": "2"}


def read_joint_positions(path: str | Path) -> np.ndarray:
    """``joint_positions.mat`` -> (T, 15, 2) float array of 0-based (x, y) pixel coordinates.

    Raises:
        InputFileError: unreadable file (including MATLAB v7.3/HDF5), no ``pos_img``, wrong shape.
    """
    import scipy.io

    p = Path(path)
    try:
        mat = scipy.io.loadmat(str(p))
    except FileNotFoundError:
        raise InputFileError(f"{p}: file not found") from None
    except NotImplementedError as e:  # v7.3 files are HDF5
        raise InputFileError(f"{p}: MATLAB v7.3 (HDF5) files are not supported ({e}); save it as v5") from None
    except (OSError, ValueError, TypeError, scipy.io.matlab.MatReadError) as e:
        raise InputFileError(f"{p}: cannot read MATLAB file ({e}); the file is corrupt or not a .mat file") from None
    if "pos_img" not in mat:
        keys = ", ".join(k for k in mat if not k.startswith("__"))
        raise InputFileError(f"{p}: no variable 'pos_img' (found: {keys or 'none'}); expected JHMDB joint_positions.mat")
    pos = np.asarray(mat["pos_img"], dtype=np.float64)
    if pos.ndim == 2 and pos.shape == (2, len(JOINTS)):  # a one-frame video saved without its last axis
        pos = pos[:, :, None]
    if pos.ndim != 3 or pos.shape[0] != 2 or pos.shape[1] != len(JOINTS) or pos.shape[2] < 1:
        raise InputFileError(f"{p}: pos_img has shape {list(pos.shape)}; expected [2, 15, T] (x/y, joints, frames)")
    return np.ascontiguousarray(pos.transpose(2, 1, 0)) - 1.0  # MATLAB 1-based -> 0-based


class JHMDBDataset(VideoDataset):
    """JHMDB videos of one official split (keypoint propagation, PCK).

    Args:
        spec: Registry record.
        root: Folder holding ``Rename_Images``, ``joint_positions`` and ``splits``.
        split: Split number 1, 2 or 3.
        subset: ``test`` (split files' 2, default) or ``train`` (1).
    """

    task = "pose"

    def __init__(self, spec: DatasetSpec, root: Path, split: int = 1, subset: str = "test", **options: Any):
        super().__init__(spec, root, **options)
        self.split = int(split)
        if self.split not in (1, 2, 3):
            raise DatasetLayoutError(f"{spec.name}: split {split!r} unknown; JHMDB has splits 1, 2, 3")
        if subset not in SUBSETS:
            raise DatasetLayoutError(f"{spec.name}: subset {subset!r} unknown; expected test or train")
        self.subset = subset
        if not self.root.is_dir():
            raise DatasetLayoutError(f"{spec.name}: data root {self.root} does not exist")
        self.image_dir = self.root / "Rename_Images"
        self.joint_dir = self.root / "joint_positions"
        self.split_dir = self.root / "splits"
        for d in (self.image_dir, self.joint_dir, self.split_dir):
            if not d.is_dir():
                raise DatasetLayoutError(
                    f"{spec.name}: expected folder {d} (layout: {spec.needs}); is {self.root} the JHMDB top folder?"
                )
        suffix = f"_test_split{self.split}.txt"
        files = sorted(p for p in self.split_dir.iterdir() if p.name.endswith(suffix))
        if not files:
            raise DatasetLayoutError(
                f"{spec.name}: no split files *{suffix} in {self.split_dir}; extract the official splits.zip there"
            )
        want = SUBSETS[subset]
        self._videos: dict[str, str] = {}  # video -> class
        for f in files:
            cls = check_name(f.name[: -len(suffix)], f, None, "class name (from the split file's name)")
            for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                    raise DatasetLayoutError(f"{f}:{n}: malformed line {line!r}; expected '<video>.avi <1|2>'")
                if parts[1] != want:
                    continue
                video = check_name(re.sub(r"\.avi$", "", parts[0]), f, n, "video name")
                if video in self._videos:
                    raise DatasetLayoutError(f"{f}:{n}: video {video!r} is also listed for class {self._videos[video]!r}")
                self._videos[video] = cls
        if not self._videos:
            raise DatasetLayoutError(f"{spec.name}: the split files *{suffix} in {self.split_dir} list no {subset} video")

    def sequence_names(self) -> list[str]:
        return list(self._videos)

    def sequence(self, name: str) -> VideoSequence:
        if name not in self._videos:
            self.select([name])
        cls = self._videos[name]
        img_dir = self.image_dir / cls / name
        mat = self.joint_dir / cls / name / "joint_positions.mat"
        if not img_dir.is_dir():
            raise DatasetLayoutError(f"{self.name}: video {name!r} ({cls}) is in the split files but {img_dir} is missing")
        if not mat.is_file():
            raise DatasetLayoutError(f"{self.name}: video {name!r} ({cls}) has no annotation file {mat}")
        pngs = {p.stem: p for p in img_dir.glob("*.png")}
        kps = read_joint_positions(mat)
        if not np.isfinite(kps).any():  # nothing to propagate or score: dropping it would silently change PCK
            raise InputFileError(
                f"{mat}: every joint of video {name!r} is NaN (no annotated joint in any frame); the file is "
                f"corrupt. Restore it from joint_positions.zip, or remove the video from the split files"
            )
        n_ann = kps.shape[0]
        frames: list[str] = []
        for t in range(n_ann):
            stem = f"{t + 1:05d}"
            if stem not in pngs:
                break
            frames.append(stem)
        if not frames:
            raise DatasetLayoutError(f"{self.name}: video {name!r}: {img_dir} has no 00001.png (frames are named 00001.png, ...)")
        return VideoSequence(
            name=name,
            frames=frames,
            image_paths=[pngs[s] for s in frames],
            keypoints=kps[: len(frames)],
            meta={"dataset": self.name, "class": cls, "png_frames": len(pngs), "annotated_frames": n_ann},
        )

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(split=self.split, subset=self.subset, joints=list(JOINTS))
        return d


def build_jhmdb(spec: DatasetSpec, root: Path, **options: Any) -> JHMDBDataset:
    """Factory of ``jhmdb-split1`` / ``-split2`` / ``-split3``."""
    return JHMDBDataset(spec, root, **options)


def build_synthetic_jhmdb(spec: DatasetSpec, root: Path, **options: Any) -> JHMDBDataset:
    """Factory of ``synthetic-jhmdb``: generate (once) into ``root``, then open it with the same
    :class:`JHMDBDataset` code path as the real splits."""
    from vosbench.datasets.synthetic import ensure_generated, generator_params

    params = generator_params("jhmdb", spec, root, options)
    ensure_generated("jhmdb", root, **params)
    return JHMDBDataset(spec, Path(root), **options)
