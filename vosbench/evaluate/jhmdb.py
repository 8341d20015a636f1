"""Scoring JHMDB keypoint predictions (the engine of ``vosbench eval --benchmark jhmdb``).

Predictions are keypoint CSVs in our format, ``KEYPOINTS/<video>.csv`` with rows
``frame,joint,x,y`` (joint = 0-based index in the order of
:data:`vosbench.datasets.joints.JOINTS`, as the README's JHMDB section states; pixels of the
original frame, ``nan`` = no prediction), as a ``vosbench run`` writes them in ``RUN/keypoints/``. The GT is the JHMDB root
read by the dataset adapter (split files, ``joint_positions.mat``, the frame folders that decide
how many annotated frames a video has), so the videos, frames and GT coordinates are exactly those
of a run on ``jhmdb-split<k>``; PCK uses the run's accumulator
(:class:`vosbench.scoring.pck.PCKAccumulator`).

Every frame of a video after the first needs a row for each of the 15 joints (a missing joint is
written ``nan`` and counts as a miss, as in a run); the first frame is given and may be absent;
a frame that the video does not have is an error, as are a joint index outside 0..14 and a
(frame, joint) given twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.core.version import __version__
from vosbench.core.video import VideoSequence
from vosbench.datasets.base import VideoDataset
from vosbench.datasets.factory import load_dataset
from vosbench.datasets.joints import JOINTS
from vosbench.evaluate.base import JSON, Evaluation, MetricValue, ProgressHook
from vosbench.records.reader import read_keypoints
from vosbench.scoring.pck import PCKAccumulator, PCKResult, per_joint_csv_text, per_video_csv_text

RULES = ("JHMDB PCK: frame 0 excluded; normaliser 0.6 x diagonal of the visible GT joints' box; "
         "PCK@a = mean of the per-joint PCKs; a missing prediction is a miss")


@dataclass
class JHMDBEvaluation:
    """PCK of a keypoint folder: the pooled result, frames per video, wall time, the folder read,
    the split and subset scored."""

    result: PCKResult
    frames: dict[str, int]
    keypoints_dir: Path
    seconds: float
    split: int = 1
    subset: str = "test"


def keypoints_folder(pred: str | os.PathLike[str]) -> Path:
    """``pred`` itself, or ``pred/keypoints`` when ``pred`` is a run folder."""
    p = Path(pred)
    if not p.is_dir():
        raise DatasetLayoutError(f"{p}: keypoint folder not found (KEYPOINTS/<video>.csv, or a run folder)")
    if (p / "keypoints").is_dir():
        return p / "keypoints"
    return p


def predicted_array(
    path: Path, frames: list[str], joints: tuple[str, ...] = JOINTS, required: list[str] | None = None
) -> np.ndarray:
    """One keypoint CSV -> (T, J, 2) array over ``frames`` (NaN = no prediction); ``required``:
    the frames that need a row for every joint (default: every frame after the first).

    Raises:
        InputFileError: a frame the video does not have, a joint index outside 0..J-1, a scored
            frame or joint without a row.
    """
    rows = read_keypoints(path)
    index = {f: t for t, f in enumerate(frames)}
    out = np.full((len(frames), len(joints), 2), np.nan)
    for frame, row in rows.items():
        if frame not in index:
            raise InputFileError(
                f"{path}: frame {frame!r} is not an annotated frame of this video (frames {frames[0]}..{frames[-1]}; "
                "names are 5-digit strings as in the dataset's frame files)"
            )
        for j, (x, y) in row.items():
            if not 0 <= j < len(joints):
                raise InputFileError(f"{path}: joint index {j} in frame {frame!r}; expected 0..{len(joints) - 1}")
            out[index[frame], j] = (x, y)
    for f in frames[1:] if required is None else required:
        have = rows.get(f, {})
        lacking = [j for j in range(len(joints)) if j not in have]
        if lacking:
            raise InputFileError(
                f"{path}: frame {f} has no row for joint(s) {', '.join(map(str, lacking[:5]))}"
                f"{' ...' if len(lacking) > 5 else ''}; every scored frame needs all {len(joints)} joints "
                "(write nan for a joint without a prediction)"
            )
    return out


def keypoint_files(
    ds: VideoDataset, names: list[str], kdir: Path, progress: ProgressHook | None
) -> Iterator[tuple[VideoSequence, Path]]:
    """Each video of ``names`` with its keypoint CSV ``kdir/<video>.csv``, reporting progress after
    the caller is done with it.

    Raises:
        InputFileError: a video without its CSV.
    """
    if progress:
        progress(0, len(names))
    for done, name in enumerate(names, start=1):
        seq = ds.sequence(name)
        path = kdir / f"{name}.csv"  # video names are checked by the adapter
        if not path.is_file():
            raise InputFileError(
                f"{path}: no keypoints for video {name!r}; predict every video of the set or choose some with "
                "--sequences"
            )
        yield seq, path
        if progress:
            progress(done, len(names))


def evaluate_jhmdb(
    root: str | os.PathLike[str],
    pred: str | os.PathLike[str],
    split: int = 1,
    subset: str = "test",
    sequences: list[str] | None = None,
    progress: ProgressHook | None = None,
) -> JHMDBEvaluation:
    """PCK of ``pred`` (keypoint CSVs) against the JHMDB root's split ``split`` / ``subset``.

    Raises:
        DatasetLayoutError, InputFileError: a missing or malformed file, naming it.
    """
    start = time.perf_counter()
    ds = load_dataset(f"jhmdb-split{int(split)}", root, subset=subset)
    names = ds.select(sequences) if sequences else ds.sequence_names()
    kdir = keypoints_folder(pred)
    acc = PCKAccumulator(JOINTS)
    frames: dict[str, int] = {}
    for seq, path in keypoint_files(ds, names, kdir, progress):
        assert seq.keypoints is not None  # the JHMDB adapter always sets them
        acc.add(seq.name, predicted_array(path, seq.frames), seq.keypoints)
        frames[seq.name] = len(seq.frames)
    return JHMDBEvaluation(acc.result(), frames, kdir, time.perf_counter() - start, int(split), subset)


def evaluate(
    gt: str | os.PathLike[str],
    pred: str | os.PathLike[str],
    *,
    split: int = 1,
    subset: str = "test",
    sequences: list[str] | None = None,
    progress: ProgressHook | None = None,
) -> Evaluation[JHMDBEvaluation]:
    """JHMDB PCK of ``pred`` (see :func:`evaluate_jhmdb`) as an :class:`Evaluation`; ``gt`` is the JHMDB root."""
    root = Path(gt)
    ev = evaluate_jhmdb(root, pred, split, subset, sequences, progress)
    r = ev.result
    empty = None
    if int(r.counts.sum()) == 0:
        empty = f"{root}: nothing to score: no visible GT joint in any frame after the first"
    facts: dict[str, JSON] = {
        "benchmark": "jhmdb",
        "videos": len(ev.frames),
        "frames_per_video": ev.frames,
        "split": ev.split,
        "subset": ev.subset,
        "gt": str(root.resolve()),
        "pred": str(ev.keypoints_dir.resolve()),
        "rules": RULES,
        "vosbench_version": __version__,
        "seconds": round(ev.seconds, 3),
    }
    return Evaluation(
        benchmark="jhmdb",
        pred=ev.keypoints_dir,
        metrics=cast("dict[str, MetricValue]", r.metrics()),  # fractions, None where no joint counted, the curve
        tables={".csv": per_video_csv_text(r), ".per_joint.csv": per_joint_csv_text(r)},
        facts=facts,
        sequences=ev.frames,
        seconds=ev.seconds,
        detail=ev,
        empty=empty,
    )
