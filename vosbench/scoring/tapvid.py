"""TAP-Vid point-tracking metrics and query sampling, restated from google-deepmind/tapnet
(``tapnet/tapvid/evaluation_datasets.py``: ``compute_tapvid_metrics``, ``sample_queries_first``,
``sample_queries_strided``; read at commit c2cbab81).

Conventions (as tapnet):

* a track is ``points`` (N, T, 2) ``[x, y]`` and ``occluded`` (N, T) bool; a query is
  ``[t, y, x]``; metrics are computed on coordinates scaled to a 256 x 256 frame
  (:data:`EVAL_SIZE`), i.e. the pickle's normalised points times 256;
* query mode ``first``: one query per track that is visible in at least one frame, at its first
  visible frame; only the frames *after* the query frame are scored (tapnet's prior that the
  point is occluded before it);
* query mode ``strided``: every :data:`QUERY_STRIDE` frames (0, 5, 10, ...), one query per track
  visible in that frame (frame-major order); every frame but the query frame is scored;
* per video: occlusion accuracy = scored frames where the predicted and GT occlusion agree;
  ``pts_within_d`` = GT-visible scored frames whose prediction lies strictly within d pixels
  (squared distance < d²), whatever the predicted occlusion; ``jaccard_d`` = true positives
  (within d, GT visible, predicted visible) / (GT-visible frames + false positives (predicted
  visible where the GT is occluded or the point is not within d)); ``average_jaccard`` and
  ``average_pts_within_thresh`` are the means over d in 1, 2, 4, 8, 16.

A benchmark's numbers are the plain means of the per-video values (tapnet's evaluation scripts);
a value that is undefined for a video (0 / 0: nothing visible to score) is left out of that mean
here, where tapnet's mean would be NaN.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

THRESHOLDS = (1, 2, 4, 8, 16)
QUERY_MODES = ("first", "strided")
QUERY_STRIDE = 5
EVAL_SIZE = (256, 256)  # (height, width) at which tapnet scores

#: per-video metrics, in tapnet's order of ``latex_table`` (headline first)
METRIC_KEYS = (
    "average_jaccard",
    "average_pts_within_thresh",
    "occlusion_accuracy",
    *(f"jaccard_{d}" for d in THRESHOLDS),
    *(f"pts_within_{d}" for d in THRESHOLDS),
)


@dataclass(frozen=True)
class Queries:
    """The queries of one video and the GT tracks they are scored against.

    Attributes:
        points: (Q, 3) ``[t, y, x]`` in the units of the tracks given to the sampler.
        tracks: (Q, T, 2) GT ``[x, y]`` of each query's track.
        occluded: (Q, T) GT occlusion of each query's track.
        track: (Q,) index of each query's track among the tracks given (tapnet's ``trackgroup``).
    """

    points: np.ndarray
    tracks: np.ndarray
    occluded: np.ndarray
    track: np.ndarray


def sample_queries_first(occluded: np.ndarray, points: np.ndarray) -> Queries:
    """tapnet's ``sample_queries_first``: tracks never visible are dropped; each other track's
    query is its first visible frame."""
    occ = np.asarray(occluded, dtype=bool)
    pts = np.asarray(points)
    valid = np.flatnonzero((~occ).sum(axis=1) > 0)
    first = np.argmax(~occ[valid], axis=1)  # the first True of each row (every row has one)
    xy = pts[valid, first]
    queries = np.stack([first.astype(pts.dtype), xy[:, 1], xy[:, 0]], axis=-1).reshape(-1, 3)
    return Queries(queries, pts[valid], occ[valid], valid)


def sample_queries_strided(occluded: np.ndarray, points: np.ndarray, stride: int = QUERY_STRIDE) -> Queries:
    """tapnet's ``sample_queries_strided``: at frames 0, stride, 2 stride, ... one query per track
    visible there, frame-major."""
    occ = np.asarray(occluded, dtype=bool)
    pts = np.asarray(points)
    parts = []
    for t in range(0, occ.shape[1], stride):
        ids = np.flatnonzero(~occ[:, t])
        q = np.stack([np.full(len(ids), t, dtype=pts.dtype), pts[ids, t, 1], pts[ids, t, 0]], axis=-1)
        parts.append((q.reshape(-1, 3), ids))
    ids_all = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    q_all = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 3), dtype=pts.dtype)
    return Queries(q_all, pts[ids_all], occ[ids_all], ids_all)


def sample_queries(mode: str, occluded: np.ndarray, points: np.ndarray) -> Queries:
    """The sampler of query mode ``mode`` (``first`` or ``strided``)."""
    if mode == "first":
        return sample_queries_first(occluded, points)
    if mode == "strided":
        return sample_queries_strided(occluded, points)
    raise ValueError(f"unknown query mode {mode!r}; expected one of {', '.join(QUERY_MODES)}")


def evaluation_mask(query_frames: np.ndarray, n_frames: int, mode: str) -> np.ndarray:
    """(Q, T) bool: the frames scored for each query (``query_frames`` rounded to integers).

    ``first``: the frames after the query frame; ``strided``: every frame but the query frame.
    """
    t = np.arange(n_frames)[None, :]
    q = np.round(np.asarray(query_frames, dtype=np.float64)).astype(np.int64)[:, None]
    if mode == "first":
        return t > q
    if mode == "strided":
        return t != q
    raise ValueError(f"unknown query mode {mode!r}; expected one of {', '.join(QUERY_MODES)}")


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def tapvid_metrics(
    query_points: np.ndarray,
    gt_occluded: np.ndarray,
    gt_tracks: np.ndarray,
    pred_occluded: np.ndarray,
    pred_tracks: np.ndarray,
    mode: str,
) -> dict[str, float]:
    """One video's metrics (tapnet's ``compute_tapvid_metrics`` for a batch of one).

    Args:
        query_points: (Q, 3) ``[t, y, x]``.
        gt_occluded, pred_occluded: (Q, T) bool.
        gt_tracks, pred_tracks: (Q, T, 2) ``[x, y]`` at the evaluation scale (256 x 256).
        mode: ``first`` or ``strided``.

    Returns:
        :data:`METRIC_KEYS` -> value (NaN where the denominator is 0).
    """
    gt_occ = np.asarray(gt_occluded, dtype=bool)
    pred_occ = np.asarray(pred_occluded, dtype=bool)
    scored = evaluation_mask(np.asarray(query_points)[:, 0], gt_occ.shape[1], mode)
    out: dict[str, float] = {
        "occlusion_accuracy": _ratio(int(((pred_occ == gt_occ) & scored).sum()), int(scored.sum()))
    }
    visible, pred_visible = ~gt_occ, ~pred_occ
    sq = np.sum(np.square(np.asarray(pred_tracks, dtype=np.float64) - np.asarray(gt_tracks, dtype=np.float64)), -1)
    n_visible = int((visible & scored).sum())
    for d in THRESHOLDS:
        within = sq < d * d
        correct = within & visible
        out[f"pts_within_{d}"] = _ratio(int((correct & scored).sum()), n_visible)
        tp = int((correct & pred_visible & scored).sum())
        fp = int((((~visible) | (~within)) & pred_visible & scored).sum())
        out[f"jaccard_{d}"] = _ratio(tp, n_visible + fp)
    out["average_jaccard"] = float(np.mean([out[f"jaccard_{d}"] for d in THRESHOLDS]))
    out["average_pts_within_thresh"] = float(np.mean([out[f"pts_within_{d}"] for d in THRESHOLDS]))
    return {k: out[k] for k in METRIC_KEYS}


def to_eval_scale(xy: np.ndarray, height: int, width: int) -> np.ndarray:
    """(..., 2) original-frame pixels ``[x, y]`` -> the 256 x 256 evaluation frame (``x * 256 / W``,
    the scale tapnet applies to the pickle's normalised points)."""
    a = np.asarray(xy, dtype=np.float64)
    return np.stack([a[..., 0] * (EVAL_SIZE[1] / width), a[..., 1] * (EVAL_SIZE[0] / height)], axis=-1)


@dataclass(frozen=True)
class VideoScore:
    """One video's TAP-Vid metrics (:data:`METRIC_KEYS`), its query and frame counts."""

    video: str
    queries: int
    frames: int
    metrics: dict[str, float]


def score_video(
    name: str, size: tuple[int, int], queries: Queries, pred_xy: np.ndarray, pred_occ: np.ndarray, mode: str
) -> VideoScore:
    """One video's metrics at 256 x 256: ``queries`` (points ``[t, y, x]`` and GT tracks) and the
    predicted (Q, T, 2) tracks are in original pixels of frames of ``size`` (h, w)."""
    h, w = size
    q = np.asarray(queries.points, dtype=np.float64).reshape(-1, 3)
    q_eval = np.stack([q[:, 0], q[:, 1] * (EVAL_SIZE[0] / h), q[:, 2] * (EVAL_SIZE[1] / w)], axis=-1)
    m = tapvid_metrics(
        q_eval, queries.occluded, to_eval_scale(queries.tracks, h, w), pred_occ, to_eval_scale(pred_xy, h, w), mode
    )
    return VideoScore(name, len(q), int(queries.occluded.shape[1]), m)


def summarize(scores: list[VideoScore]) -> dict[str, float | None]:
    """Benchmark metrics: per metric the mean over the videos where it is defined (None: none)."""
    out: dict[str, float | None] = {}
    for k in METRIC_KEYS:
        vals = [s.metrics[k] for s in scores if not math.isnan(s.metrics[k])]
        out[k] = float(np.mean(vals)) if vals else None
    return out


def per_video_csv_text(scores: list[VideoScore]) -> str:
    """``video,queries,frames,<METRIC_KEYS>`` rows (fractions, ``nan`` where undefined)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("video", "queries", "frames", *METRIC_KEYS))
    for s in scores:
        w.writerow((s.video, s.queries, s.frames, *(repr(float(s.metrics[k])) for k in METRIC_KEYS)))
    return buf.getvalue()


def read_per_video_csv(text: str) -> list[VideoScore]:
    """The rows of :func:`per_video_csv_text` back (exact floats)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    return [
        VideoScore(r["video"], int(r["queries"]), int(r["frames"]), {k: float(r[k]) for k in METRIC_KEYS})
        for r in rows
    ]
