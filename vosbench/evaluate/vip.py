"""Scoring VIP part maps (the engine of ``vosbench eval --benchmark vip``).

Predictions are PNGs of class ids, ``PRED/<video>/<frame>.png`` (the layout CRW's ``test.py`` writes
and its ``eval_vip.py`` reads; a run folder holding ``predictions/`` is read the same way), greyscale
or palette, read as the chosen scorer's script reads them (:mod:`vosbench.scoring.parsing`). As
both official scripts do, every predicted frame is scored against ``GT/<video>/<frame>.png`` (the
``Annotations/Category_ids`` folder, or the ``VIP_Fine`` folder holding it) and the measures come
from the confusion matrix summed over all of them; a prediction without its ground truth is an
error, and ground-truth frames without a prediction are counted in the summary (the scripts skip
them silently). Names read from the folders are checked to be single safe file names.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.core.labels import read_label_png
from vosbench.core.safepath import name_problem
from vosbench.core.version import __version__
from vosbench.evaluate.base import JSON, Evaluation, MetricValue, ProgressHook
from vosbench.records.parsing_files import confusion_csv_text, per_class_csv_text, per_video_csv_text
from vosbench.scoring.parsing import DEFAULT_SCORER, N_CLASSES, check_scorer, hist_of, read_prediction, scores_of

RULES = ("VIP: every predicted frame scored against its ground truth; 20 classes, GT ids outside 0..19 ignored; "
         "measures of the confusion matrix summed over all frames (mIoU and mean accuracy: nanmean over classes)")


@dataclass
class VIPEvaluation:
    """The confusion matrix of each video, the frames scored, the GT frames without prediction,
    the folders read and the scorer."""

    hists: dict[str, np.ndarray]
    frames: dict[str, int]
    unpredicted: int
    gt_dir: Path
    pred_dir: Path
    scorer: str
    seconds: float


def _folders(gt: str | os.PathLike[str], pred: str | os.PathLike[str]) -> tuple[Path, Path]:
    g, p = Path(gt), Path(pred)
    if (g / "Annotations" / "Category_ids").is_dir():
        g = g / "Annotations" / "Category_ids"
    if (p / "predictions").is_dir() and (p / "summary.json").is_file():
        p = p / "predictions"
    for folder, what in ((g, "ground-truth folder (Annotations/Category_ids)"), (p, "prediction folder")):
        if not folder.is_dir():
            raise DatasetLayoutError(f"{folder}: {what} not found")
    return g, p


def _safe(path: Path, name: str, what: str) -> str:
    problem = name_problem(name)
    if problem is not None:
        raise InputFileError(f"{path}: {what} {name!r} is not a single safe file name ({problem})")
    return name


def _videos(pred_dir: Path, sequences: list[str] | None) -> list[str]:
    names = sorted(_safe(pred_dir, p.name, "video folder") for p in pred_dir.iterdir() if p.is_dir())
    if sequences:
        unknown = [s for s in sequences if s not in names]
        if unknown:
            raise InputFileError(f"{pred_dir}: no prediction folder for video(s) {', '.join(unknown)}")
        names = [n for n in names if n in set(sequences)]
    if not names:
        raise InputFileError(f"{pred_dir}: no video folders of predictions (PRED/<video>/<frame>.png)")
    return names


def evaluate_vip(
    gt: str | os.PathLike[str],
    pred: str | os.PathLike[str],
    scorer: str = DEFAULT_SCORER,
    sequences: list[str] | None = None,
    progress: ProgressHook | None = None,
) -> VIPEvaluation:
    """The per-video confusion matrices of ``pred`` against ``gt`` with ``scorer`` (``crw``/``aten``)."""
    start = time.perf_counter()
    check_scorer(scorer)
    gt_dir, pred_dir = _folders(gt, pred)
    names = _videos(pred_dir, sequences)
    hists: dict[str, np.ndarray] = {}
    frames: dict[str, int] = {}
    unpredicted = 0
    if progress:
        progress(0, len(names))
    for name in names:
        hist = np.zeros((N_CLASSES, N_CLASSES), np.int64)
        pngs = sorted(pred_dir.joinpath(name).glob("*.png"))
        for png in pngs:
            _safe(png.parent, png.name, "prediction file")
            gt_png = gt_dir / name / png.name
            if not gt_png.is_file():
                raise InputFileError(f"{png}: no ground truth {gt_png} for this prediction")
            g = read_label_png(gt_png)
            ids = read_prediction(png, scorer, g.shape)
            try:
                hist += hist_of(g, ids)
            except InputFileError as e:
                raise InputFileError(f"{png}: {e}") from None
        gt_names = {p.name for p in gt_dir.joinpath(name).glob("*.png")}
        unpredicted += len(gt_names - {p.name for p in pngs})
        hists[name], frames[name] = hist, len(pngs)
        if progress:
            progress(len(hists), len(names))
    return VIPEvaluation(hists, frames, unpredicted, gt_dir, pred_dir, scorer, time.perf_counter() - start)


def evaluate(
    gt: str | os.PathLike[str],
    pred: str | os.PathLike[str],
    *,
    scorer: str = DEFAULT_SCORER,
    sequences: list[str] | None = None,
    progress: ProgressHook | None = None,
) -> Evaluation[VIPEvaluation]:
    """VIP mIoU of ``pred`` (see :func:`evaluate_vip`) as an :class:`Evaluation`."""
    ev = evaluate_vip(gt, pred, scorer, sequences, progress)
    total = sum(ev.hists.values(), np.zeros((N_CLASSES, N_CLASSES), np.int64))
    s = scores_of(total)
    metrics = {k: None if v != v else v for k, v in
               (("mIoU", s.mIoU), ("pixel_accuracy", s.pixel_accuracy), ("mean_accuracy", s.mean_accuracy),
                ("fwIoU", s.fwIoU))}
    facts: dict[str, JSON] = {
        "benchmark": "vip",
        "scorer": ev.scorer,
        "videos": len(ev.frames),
        "frames_per_video": ev.frames,
        "gt_frames_without_prediction": ev.unpredicted,
        "gt": str(ev.gt_dir.resolve()),
        "pred": str(ev.pred_dir.resolve()),
        "rules": RULES,
        "vosbench_version": __version__,
        "seconds": round(ev.seconds, 3),
    }
    empty = None if int(total.sum()) else f"{ev.pred_dir}: nothing to score: no prediction covers a ground-truth class pixel"
    return Evaluation(
        benchmark="vip",
        pred=ev.pred_dir,
        metrics=cast("dict[str, MetricValue]", metrics),
        tables={
            ".csv": per_video_csv_text(ev.hists, ev.frames),
            ".per_class.csv": per_class_csv_text(total),
            ".confusion.csv": confusion_csv_text(ev.hists),
        },
        facts=facts,
        sequences=ev.frames,
        seconds=ev.seconds,
        detail=ev,
        empty=empty,
    )
