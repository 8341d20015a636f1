"""PCK (percentage of correct keypoints) for JHMDB keypoint propagation (ajabri/videowalk,
code/eval/eval_pck.py; the README's "JHMDB keypoints and PCK" section).

Rules (``visibility="gt"``, used by the ``crw-jhmdb-centred`` preset):

* A (frame, joint) pair is scored when its GT joint is visible (finite coordinates). A missing
  prediction (NaN: the joint's label map was empty) counts as a miss.
* Normaliser per frame: ``0.6 * sqrt((max_x - min_x)² + (max_y - min_y)²)`` over the frame's
  visible GT joints (0.6 x the diagonal of their bounding box). A frame with a single visible
  joint has normaliser 0, so only an exact hit counts there.
* A pair is correct at threshold α when ``distance <= α * normaliser``; a distance equal to the
  threshold up to float rounding (relative 1e-9) counts as correct.
* Frame 0 (the given frame) is excluded; all other frames of all videos are pooled.
* Reported PCK@α = mean over the 15 joints of the per-joint PCK (joints with no scored pair are
  left out of the mean); ``PCK_pooled@α`` = correct pairs / scored pairs over all joints.

``visibility="prediction"`` is CRW's ``eval_pck.py`` (preset ``crw-jhmdb``): a joint is "visible"
where its *prediction* exists (CRW: x >= 0; here not NaN), and only visible joints are scored and
enter the normaliser (whose box starts from CRW's ``min = 1e6``, ``max = -1``); a pair is correct
when ``distance / normaliser <= α`` exactly (a zero normaliser scores nothing). A GT joint that is
NaN (vosbench's data only; JHMDB has none) is not scored either.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vosbench.core.errors import InputFileError

NORMALISER_FACTOR = 0.6
CURVE = tuple(round(0.05 * i, 2) for i in range(1, 11))  # 0.05, 0.10, ..., 0.50
HEADLINE = (0.1, 0.2)
_REL_TOL = 1e-9


def threshold_key(alpha: float) -> str:
    """``0.1`` -> ``"0.1"``, ``0.05`` -> ``"0.05"`` (keys of ``pck_curve`` and CSV columns)."""
    return f"{alpha:g}"


def normalisers(gt: np.ndarray) -> np.ndarray:
    """Per-frame normaliser: 0.6 x diagonal of the bounding box of the visible GT joints.

    Args:
        gt: (T, J, 2) GT coordinates, NaN for invisible joints.

    Returns:
        (T,) normalisers; NaN for frames without a visible joint.
    """
    g = np.asarray(gt, dtype=np.float64)
    vis = np.asarray(np.isfinite(g).all(axis=2))
    out = np.full(g.shape[0], np.nan)
    for t in range(g.shape[0]):
        pts = g[t][vis[t]]
        if len(pts):
            span = pts.max(axis=0) - pts.min(axis=0)
            out[t] = NORMALISER_FACTOR * math.hypot(float(span[0]), float(span[1]))
    return out


VISIBILITY = ("gt", "prediction")


def crw_normalisers(gt: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """CRW's per-frame normaliser over the joints marked ``visible`` (T, J): 0.6 x the norm of
    (max - min) with the box started at min = 1e6, max = -1, as ``eval_pck.py``."""
    g = np.asarray(gt, dtype=np.float64)
    out = np.empty(g.shape[0])
    for t in range(g.shape[0]):
        pts = g[t][visible[t]]
        lo = np.minimum(pts.min(axis=0, initial=1e6), 1e6)
        hi = np.maximum(pts.max(axis=0, initial=-1.0), -1.0)
        dx, dy = float(hi[0] - lo[0]), float(hi[1] - lo[1])
        out[t] = NORMALISER_FACTOR * math.sqrt(dx * dx + dy * dy)
    return out


def correct_pairs(
    pred: np.ndarray,
    gt: np.ndarray,
    thresholds: tuple[float, ...] = CURVE,
    skip_first: bool = True,
    visibility: str = "gt",
) -> tuple[np.ndarray, np.ndarray]:
    """Correctness of every scored (frame, joint) pair of one video.

    Args:
        pred: (T, J, 2) predicted coordinates (NaN = no prediction).
        gt: (T, J, 2) GT coordinates (NaN = invisible), same pixel frame as ``pred``.
        thresholds: α values.
        skip_first: Leave frame 0 out.
        visibility: ``gt`` (score every visible GT joint) or ``prediction`` (CRW's rule: score
            only joints with a prediction; see the module docstring).

    Returns:
        ``hits`` (A, J) counts of correct pairs per threshold and joint, and ``counts`` (J,) of
        scored pairs per joint.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape or p.ndim != 3 or p.shape[2] != 2:
        raise InputFileError(f"PCK: predictions {p.shape} and GT {g.shape} must both be (T, J, 2)")
    if visibility not in VISIBILITY:
        raise ValueError(f"visibility={visibility!r}: expected one of {', '.join(VISIBILITY)}")
    if skip_first:
        p, g = p[1:], g[1:]
    if visibility == "prediction":
        return _crw_correct_pairs(p, g, thresholds)
    norm = normalisers(g)  # (T,)
    scored = np.isfinite(g).all(axis=2)  # (T, J)
    dist = np.linalg.norm(p - g, axis=2)  # NaN where the prediction is missing
    counts = scored.sum(axis=0).astype(np.int64)
    hits = np.zeros((len(thresholds), g.shape[1]), dtype=np.int64)
    with np.errstate(invalid="ignore"):
        for a, alpha in enumerate(thresholds):
            thr = alpha * norm[:, None]
            ok = scored & (dist <= thr * (1.0 + _REL_TOL))  # NaN distances compare False: misses
            hits[a] = ok.sum(axis=0)
    return hits, counts


def _crw_correct_pairs(p: np.ndarray, g: np.ndarray, thresholds: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    scored = np.isfinite(p).all(axis=2) & np.isfinite(g).all(axis=2)  # (T, J)
    box = crw_normalisers(g, scored)
    d = p - g
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1])
        dnorm = dist / box[:, None]  # a zero box gives inf or NaN: never correct
    counts = scored.sum(axis=0).astype(np.int64)
    hits = np.zeros((len(thresholds), g.shape[1]), dtype=np.int64)
    for a, alpha in enumerate(thresholds):
        with np.errstate(invalid="ignore"):
            hits[a] = (scored & (dnorm <= alpha)).sum(axis=0)
    return hits, counts


@dataclass
class PCKResult:
    """Accumulated PCK over videos.

    Attributes:
        thresholds: α values (columns of ``hits``).
        joints: Joint names.
        hits: (A, J) correct pairs.
        counts: (J,) scored pairs.
        per_video: Video -> (hits (A, J), counts (J,)).
        headline: What ``PCK@a`` reports: ``joints`` (the mean over joints of the per-joint PCK,
            JHMDB) or ``pooled`` (correct pairs / scored pairs, BADJA as FGVC reports it).
    """

    thresholds: tuple[float, ...]
    joints: tuple[str, ...]
    hits: np.ndarray
    counts: np.ndarray
    per_video: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    headline: str = "joints"

    def per_joint(self) -> np.ndarray:
        """(A, J) per-joint PCK; NaN for joints without a scored pair."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.hits / np.maximum(self.counts, 1), np.nan)

    def mean(self) -> np.ndarray:
        """(A,) mean over joints of the per-joint PCK (the reported number)."""
        return _nanmean_rows(self.per_joint())

    def pooled(self) -> np.ndarray:
        """(A,) correct pairs / scored pairs over all joints."""
        n = int(self.counts.sum())
        return self.hits.sum(axis=1) / n if n else np.full(len(self.thresholds), np.nan)

    def reported(self) -> np.ndarray:
        """(A,) the number ``PCK@a`` reports (see ``headline``)."""
        return self.pooled() if self.headline == "pooled" else self.mean()

    def at(self, alpha: float) -> int:
        for i, a in enumerate(self.thresholds):
            if abs(a - alpha) < 1e-12:
                return i
        raise KeyError(f"threshold {alpha} was not evaluated (have {self.thresholds})")

    def metrics(self) -> dict[str, object]:
        """``PCK@0.1``, ``PCK@0.2``, ``PCK_pooled@0.1``, ``PCK_pooled@0.2`` and ``pck_curve`` (fractions)."""
        mean, pooled = self.reported(), self.pooled()
        out: dict[str, object] = {}
        for alpha in HEADLINE:
            out[f"PCK@{threshold_key(alpha)}"] = _num(mean[self.at(alpha)])
        for alpha in HEADLINE:
            out[f"PCK_pooled@{threshold_key(alpha)}"] = _num(pooled[self.at(alpha)])
        out["pck_curve"] = {threshold_key(a): _num(mean[i]) for i, a in enumerate(self.thresholds)}
        return out


def _num(v: float) -> float | None:
    return None if v != v else float(v)


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    out = np.full(a.shape[0], np.nan)
    for i, row in enumerate(a):
        row = row[~np.isnan(row)]
        if row.size:
            out[i] = float(row.mean())
    return out


class PCKAccumulator:
    """Adds videos one at a time; :meth:`result` gives the pooled :class:`PCKResult`."""

    def __init__(
        self,
        joints: tuple[str, ...],
        thresholds: tuple[float, ...] = CURVE,
        skip_first: bool = True,
        visibility: str = "gt",
        headline: str = "joints",
    ):
        if visibility not in VISIBILITY:
            raise ValueError(f"visibility={visibility!r}: expected one of {', '.join(VISIBILITY)}")
        self.joints = tuple(joints)
        self.thresholds = tuple(thresholds)
        self.skip_first = skip_first
        self.visibility = visibility
        self.headline = headline
        self.hits = np.zeros((len(self.thresholds), len(self.joints)), dtype=np.int64)
        self.counts = np.zeros(len(self.joints), dtype=np.int64)
        self.per_video: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def add(self, video: str, pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if np.asarray(gt).shape[1] != len(self.joints):
            raise InputFileError(f"{video}: {np.asarray(gt).shape[1]} joints, expected {len(self.joints)}")
        hits, counts = correct_pairs(pred, gt, self.thresholds, self.skip_first, self.visibility)
        self.hits += hits
        self.counts += counts
        self.per_video[video] = (hits, counts)
        return hits, counts

    def add_counts(self, video: str, hits: np.ndarray, counts: np.ndarray) -> None:
        """Add a video already scored by :meth:`add` elsewhere (its ``hits`` and ``counts``), e.g.
        by another process of a sharded run."""
        if hits.shape != self.hits.shape or counts.shape != self.counts.shape:
            raise InputFileError(
                f"{video}: PCK counts of shape {hits.shape}/{counts.shape}, expected {self.hits.shape}/{self.counts.shape}"
            )
        self.hits += hits
        self.counts += counts
        self.per_video[video] = (hits, counts)

    def result(self) -> PCKResult:
        return PCKResult(
            self.thresholds, self.joints, self.hits.copy(), self.counts.copy(), dict(self.per_video), self.headline
        )


def per_joint_csv_text(result: PCKResult) -> str:
    """``joint,n,PCK@0.05,...,PCK@0.5``: one row per joint, fractions (empty where no pair was scored)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["joint", "n", *(f"PCK@{threshold_key(a)}" for a in result.thresholds)])
    pj = result.per_joint()
    for j, name in enumerate(result.joints):
        w.writerow([name, int(result.counts[j]), *("" if v != v else repr(float(v)) for v in pj[:, j])])
    return buf.getvalue()


def per_video_csv_text(result: PCKResult) -> str:
    """``video,n,PCK@0.1,PCK@0.2,PCK_pooled@0.1,PCK_pooled@0.2`` for each video."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = [threshold_key(a) for a in HEADLINE]
    w.writerow(["video", "n", *(f"PCK@{k}" for k in keys), *(f"PCK_pooled@{k}" for k in keys)])
    for video, (hits, counts) in result.per_video.items():
        r = PCKResult(result.thresholds, result.joints, hits, counts, headline=result.headline)
        mean, pooled = r.reported(), r.pooled()
        row = [video, int(counts.sum())]
        row += ["" if mean[r.at(a)] != mean[r.at(a)] else repr(float(mean[r.at(a)])) for a in HEADLINE]
        row += ["" if pooled[r.at(a)] != pooled[r.at(a)] else repr(float(pooled[r.at(a)])) for a in HEADLINE]
        w.writerow(row)
    return buf.getvalue()


def write_pck_csvs(run_dir: Path, result: PCKResult) -> None:
    """``per_joint_pck.csv`` and ``per_video_pck.csv`` in ``run_dir``, atomically."""
    from vosbench.core.io import atomic_write_text

    atomic_write_text(Path(run_dir) / "per_joint_pck.csv", per_joint_csv_text(result))
    atomic_write_text(Path(run_dir) / "per_video_pck.csv", per_video_csv_text(result))
