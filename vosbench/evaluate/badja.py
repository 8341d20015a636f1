"""BADJA folder evaluator: PCK of keypoint CSVs (``vosbench eval --benchmark badja``).

Predictions are the files a keypoint run writes, ``KEYPOINTS/<video>.csv`` with rows
``frame,joint,x,y`` (frame = the DAVIS frame stem, joint = 0-based index in ``BADJA_JOINTS``,
x/y = 0-based pixels of the full-resolution frame, ``nan`` = no prediction); every annotated frame
needs a row for each of the 20 joints. Scored with :mod:`vosbench.scoring.pck_badja` (FGVC's
rules: normaliser ``sqrt`` of the segmented area in a 320 x 512 frame, visible joints of every
annotated frame including the first, pooled over all pairs), the same code a run uses, so a run's
numbers equal this evaluator's on its ``keypoints/``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from vosbench.core.version import __version__
from vosbench.datasets.badja_joints import BADJA_JOINTS
from vosbench.datasets.factory import load_dataset
from vosbench.evaluate.base import JSON, Evaluation, MetricValue, ProgressHook
from vosbench.evaluate.jhmdb import keypoint_files, keypoints_folder, predicted_array
from vosbench.scoring import pck_badja
from vosbench.scoring.pck import PCKAccumulator, PCKResult, per_joint_csv_text, per_video_csv_text

RULES = (
    "BADJA PCK (qianduoduolr/FGVC mmpt/datasets/badja_dataset.py): frames and joints at 320x512; normaliser "
    "sqrt of the segmented area (mask > 0, nearest resize); visible joints of every annotated frame, frame 0 "
    "included; correct when distance < a * normaliser; pooled over all pairs; a missing prediction is a miss"
)


@dataclass
class BadjaEvaluation:
    """PCK of a keypoint folder: the pooled result, frames per video, the folder read, wall time."""

    result: PCKResult
    frames: dict[str, int]
    keypoints_dir: Path
    seconds: float


def evaluate(
    gt: str | os.PathLike[str],
    pred: str | os.PathLike[str],
    *,
    sequences: list[str] | None = None,
    progress: ProgressHook | None = None,
) -> Evaluation[BadjaEvaluation]:
    """BADJA PCK of ``pred`` (keypoint CSVs, or a run folder holding ``keypoints/``); ``gt`` is
    the BADJA folder (``joint_annotations/``, ``DAVIS/``).

    Raises:
        DatasetLayoutError, InputFileError: a missing or malformed file, naming it.
    """
    start = time.perf_counter()
    root = Path(gt)
    ds = load_dataset("badja", root)
    names = ds.select(sequences) if sequences else ds.sequence_names()
    kdir = keypoints_folder(pred)
    acc = PCKAccumulator(BADJA_JOINTS, headline="pooled")
    frames: dict[str, int] = {}
    for seq, path in keypoint_files(ds, names, kdir, progress):
        annotated = [seq.frames[t] for t in sorted(seq.gt)]
        pred_xy = predicted_array(path, seq.frames, BADJA_JOINTS, required=annotated)
        acc.add_counts(seq.name, *pck_badja.score_video(seq, pred_xy))
        frames[seq.name] = len(seq.frames)
    seconds = time.perf_counter() - start
    r = acc.result()
    facts: dict[str, JSON] = {
        "benchmark": "badja",
        "videos": len(frames),
        "frames_per_video": frames,
        "gt": str(root.resolve()),
        "pred": str(kdir.resolve()),
        "rules": RULES,
        "vosbench_version": __version__,
        "seconds": round(seconds, 3),
    }
    empty = f"{root}: nothing to score: no visible joint in any annotated frame" if int(r.counts.sum()) == 0 else None
    return Evaluation(
        benchmark="badja",
        pred=kdir,
        metrics=cast("dict[str, MetricValue]", r.metrics()),
        tables={".csv": per_video_csv_text(r), ".per_joint.csv": per_joint_csv_text(r)},
        facts=facts,
        sequences=frames,
        seconds=seconds,
        detail=BadjaEvaluation(r, frames, kdir, seconds),
        empty=empty,
    )
