"""Per-object statistics (Mean, Recall, Decay), the overall summary, and the per-object and
per-frame CSV files, by the conventions stated in :mod:`vosbench.scoring.jf`."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vosbench.core.io import atomic_write_text

METRIC_KEYS = ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")
SUMMARY_KEYS = ("JF_mean",) + METRIC_KEYS


def decay_bins(n: int) -> list[slice]:
    """The four (overlapping) quarter bins used for Decay over ``n`` frames.

    Edges are ``round(linspace(1, n, 5) + 1e-10) - 1`` and bin i spans edges i..i+1 inclusive, as in
    the official code, but the edges are kept as integers (the official uint8 edges wrap beyond 256
    frames).
    """
    edges = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.int64)
    return [slice(int(edges[i]), int(edges[i + 1]) + 1) for i in range(4)]


def statistics(values: np.ndarray) -> tuple[float, float, float]:
    """Mean, Recall (> 0.5) and Decay of one object's per-frame scores; NaN entries are skipped.

    Returns NaNs when no frame is scored.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(v))
    recall = float(np.mean(v > 0.5))
    bins = [v[s] for s in decay_bins(v.size)]
    decay = float(np.mean(bins[0]) - np.mean(bins[3]))
    return mean, recall, decay


@dataclass
class ObjectScore:
    """Scores of one object of one sequence (fractions in [0, 1]; Decay may be negative)."""

    sequence: str
    object: int
    J_mean: float
    J_recall: float
    J_decay: float
    F_mean: float
    F_recall: float
    F_decay: float
    J_frames: np.ndarray = field(repr=False)  # per scored frame; NaN where the object is not scored
    F_frames: np.ndarray = field(repr=False)
    frames: list[str] = field(repr=False)  # names of the scored frames, same length as J_frames

    def metrics(self) -> dict[str, float]:
        """The six per-object statistics keyed like the CSV columns."""
        return {k: getattr(self, k) for k in METRIC_KEYS}


# --- aggregation and files ------------------------------------------------------------------------


def summarize(scores: list[ObjectScore]) -> dict[str, float]:
    """Overall statistics: mean over objects of each per-object statistic, and J&F-Mean.

    Objects without any scored frame (all-NaN statistics, e.g. 2-frame sequences) are left out.
    Returns NaNs when no object is left.
    """
    rows = [s for s in scores if not math.isnan(s.J_mean)]
    if not rows:
        return dict.fromkeys(SUMMARY_KEYS, math.nan)
    out = {k: float(np.mean([getattr(s, k) for s in rows])) for k in METRIC_KEYS}
    return {"JF_mean": (out["J_mean"] + out["F_mean"]) / 2, **out}


def group_metrics(scores: list[ObjectScore], group_of: Callable[[str, int], str | None]) -> dict[str, float | None]:
    """J and F means over the ``seen`` and ``unseen`` objects and their mean ``overall`` (YouTube-VOS).

    ``group_of(sequence, object)`` names an object's group; when it has none (``None``) for any
    object, nothing is added. Objects without a scored frame are left out. A group without
    objects gives ``None`` and ``overall`` is then the mean of the groups present.
    """
    groups: dict[str, list[ObjectScore]] = {"seen": [], "unseen": []}
    for s in scores:
        g = group_of(s.sequence, int(s.object))
        if g is None:
            return {}
        if g not in groups:
            raise ValueError(f"object group {g!r} of {s.sequence}/{s.object}: expected 'seen' or 'unseen'")
        if not math.isnan(s.J_mean):
            groups[g].append(s)
    out: dict[str, float | None] = {}
    for g, rows in groups.items():
        out[f"J_{g}"] = float(np.mean([r.J_mean for r in rows])) if rows else None
        out[f"F_{g}"] = float(np.mean([r.F_mean for r in rows])) if rows else None
    present = [v for v in out.values() if v is not None]
    out["overall"] = float(np.mean(present)) if present else None
    return out


def _fmt(v: float) -> str:
    return repr(float(v))  # shortest text that reads back to the same float


def per_object_csv_text(scores: list[ObjectScore]) -> str:
    """The per-object CSV as text (columns ``sequence,object,J_mean,...,F_decay``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("sequence", "object") + METRIC_KEYS)
    for s in scores:
        w.writerow([s.sequence, s.object] + [_fmt(getattr(s, k)) for k in METRIC_KEYS])
    return buf.getvalue()


def write_per_object_csv(path: str | os.PathLike[str], scores: list[ObjectScore]) -> None:
    """Write ``sequence,object,J_mean,J_recall,J_decay,F_mean,F_recall,F_decay`` (fractions), atomically.

    Values are written at full precision (shortest round-trip text); an object without any scored
    frame gets ``nan``.
    """
    atomic_write_text(Path(path), per_object_csv_text(scores))


def write_per_frame_csv(path: str | os.PathLike[str], scores: list[ObjectScore]) -> None:
    """Write ``sequence,object,frame,J,F`` for every scored (object, frame), atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("sequence", "object", "frame", "J", "F"))
    for s in scores:
        for name, j, f in zip(s.frames, s.J_frames, s.F_frames):
            if not math.isnan(j):
                w.writerow((s.sequence, s.object, name, _fmt(j), _fmt(f)))
    atomic_write_text(Path(path), buf.getvalue())
