"""The tables of a human-part parsing run (VIP) and their bootstrap intervals.

A run folder holds ``confusion.csv`` (``video,gt,pred,pixels``: each video's confusion matrix, its
non-zero cells; the source of everything else), ``per_video_miou.csv`` (each video's own pixel
accuracy, mean accuracy, mIoU and frequency-weighted IoU, from its own matrix) and
``per_class_iou.csv`` (per class: IoU, accuracy and pixel counts of the summed matrix). The run's
metrics are those of the matrix summed over every scored frame of every video, as the official
scripts compute them (:mod:`vosbench.scoring.parsing`).

Intervals: a bootstrap replicate draws videos with replacement and sums their matrices. Each class
IoU is the ratio ``sum_v TP_v / sum_v union_v`` and each class accuracy ``sum_v TP_v / sum_v GT_v``
(a cluster ratio), mIoU and mean accuracy the mean of the classes defined in the replicate (as
``nanmean``), pixel accuracy the ratio of the summed diagonals to the summed pixels. The
frequency-weighted IoU gets no interval (it is not a mean of such ratios).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from vosbench.core.errors import InputFileError
from vosbench.records.checks import Unique, check_sequence
from vosbench.records.stats import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, Clustered, bootstrap_intervals
from vosbench.records.tables import _rows, number, read_videos
from vosbench.records.types import CiBlock
from vosbench.scoring.parsing import CLASSES, N_CLASSES, scores_of

CONFUSION = "confusion.csv"
PER_VIDEO = "per_video_miou.csv"
PER_CLASS = "per_class_iou.csv"
#: the metrics given an interval
CI_METRICS = ("mIoU", "mean_accuracy", "pixel_accuracy")


def _cell(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))


def confusion_csv_text(hists: dict[str, np.ndarray]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("video", "gt", "pred", "pixels"))
    for video, hist in hists.items():
        for g, p in zip(*np.nonzero(hist)):
            w.writerow((video, int(g), int(p), int(hist[g, p])))
    return buf.getvalue()


def per_video_csv_text(hists: dict[str, np.ndarray], frames: dict[str, int]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("video", "frames", "pixels", "pixel_accuracy", "mean_accuracy", "mIoU", "fwIoU"))
    for video, hist in hists.items():
        s = scores_of(hist)
        w.writerow((video, frames.get(video, 0), int(hist.sum()), _cell(s.pixel_accuracy), _cell(s.mean_accuracy),
                    _cell(s.mIoU), _cell(s.fwIoU)))
    return buf.getvalue()


def per_class_csv_text(total: np.ndarray) -> str:
    s = scores_of(total)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("class", "name", "IoU", "accuracy", "gt_pixels", "predicted_pixels", "correct_pixels"))
    for c in range(N_CLASSES):
        w.writerow((c, CLASSES[c], _cell(s.class_iou[c]), _cell(s.class_accuracy[c]), int(total[c].sum()),
                    int(total[:, c].sum()), int(total[c, c])))
    return buf.getvalue()


def read_confusion(run_dir: str | Path) -> dict[str, np.ndarray]:
    """``confusion.csv`` as video -> (20, 20) int64 matrix, each value checked."""
    path = Path(run_dir) / CONFUSION
    seen = Unique(path, "cell")
    out: dict[str, np.ndarray] = {}
    for where, row in _rows(path, ("video", "gt", "pred", "pixels")):
        video = check_sequence(path, where, row["video"], "video")
        g, p, n = (number(path, row, k, where) for k in ("gt", "pred", "pixels"))
        for key, v, hi in (("gt", g, N_CLASSES - 1), ("pred", p, N_CLASSES - 1), ("pixels", n, math.inf)):
            if not (math.isfinite(v) and v.is_integer() and 0 <= v <= hi):
                raise InputFileError(f"{path}: {where}{key}={row.get(key)!r} is not a count/class id (video {video})")
        seen.add(where, (video, g, p), f"{video} gt {int(g)} pred {int(p)}")
        out.setdefault(video, np.zeros((N_CLASSES, N_CLASSES), np.int64))[int(g), int(p)] = int(n)
    return out


def per_video_miou(run_dir: str | Path) -> dict[str, float]:
    """Video -> its own mIoU (fraction, NaN when undefined) from ``per_video_miou.csv``."""
    videos = read_videos(Path(run_dir) / PER_VIDEO, ("mIoU",), counts=False)
    return {video: values["mIoU"] for video, (_, values) in videos.items()}


def clustered_confusion(hists: dict[str, np.ndarray]) -> Clustered:
    """Per-video matrices as cluster ratios (see the module docstring)."""
    names = list(hists)
    iou_keys = [f"IoU:{c}" for c in range(N_CLASSES)]
    acc_keys = [f"accuracy:{c}" for c in range(N_CLASSES)]
    metrics = ["pixel_accuracy", *iou_keys, *acc_keys]
    sums = np.zeros((len(names), len(metrics)))
    counts = np.zeros_like(sums)
    for i, name in enumerate(names):
        h = np.asarray(hists[name], dtype=np.float64)
        tp, gt, pred = np.diag(h), h.sum(1), h.sum(0)
        sums[i, 0], counts[i, 0] = tp.sum(), h.sum()
        sums[i, 1 : 1 + N_CLASSES], counts[i, 1 : 1 + N_CLASSES] = tp, gt + pred - tp
        sums[i, 1 + N_CLASSES :], counts[i, 1 + N_CLASSES :] = tp, gt
    derived = {"mIoU": tuple(iou_keys), "mean_accuracy": tuple(acc_keys)}
    return Clustered(names, metrics, sums, counts, derived)


def ci_for_parsing(hists: dict[str, np.ndarray]) -> CiBlock:
    """``summary.json`` ``ci`` block of a parsing run (cluster bootstrap over videos)."""
    intervals = bootstrap_intervals(
        clustered_confusion(hists), CI_METRICS, level=DEFAULT_LEVEL, n_resamples=DEFAULT_RESAMPLES,
        seed=DEFAULT_SEED, method="percentile",
    )
    return {
        "level": DEFAULT_LEVEL,
        "method": "percentile",
        "resamples": DEFAULT_RESAMPLES,
        "seed": DEFAULT_SEED,
        "unit": "video",
        "metrics": {
            k: {"low": iv.low, "high": iv.high}
            for k, iv in intervals.items()
            if math.isfinite(iv.low) and math.isfinite(iv.high)
        },
    }
