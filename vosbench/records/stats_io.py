"""Run folders -> the per-sequence data that :mod:`vosbench.records.stats` resamples, and the
confidence-interval block that ``vosbench run`` writes into ``summary.json``.

VOS runs: ``per_object.csv`` gives each object's J/F statistics; an object's J&F is
(J-Mean + F-Mean) / 2, and a metric of the run is the mean over all objects, so each sequence
contributes the sum of its objects' values and its number of objects (objects without a scored
frame, NaN, are left out as in the run's own summary). YouTube-VOS seen/unseen groups need each
object's category, which only the run knows: the run writes the unseen objects into
``summary.json`` (``ci.unseen_objects``), and ``overall`` gets an interval only for runs that have
it.

Keypoint runs: ``per_video_pck.csv`` gives each video's PCK (mean over its joints) and its number
of scored (frame, joint) pairs ``n``; a video contributes ``n * PCK`` and ``n``. The run's PCK is
the mean over joints of each joint's PCK pooled over videos; the ``n``-weighted mean of the
per-video values equals it when every joint is scored in the same frames of a video (JHMDB
annotates all 15 joints in every frame), and is the value the interval is built around otherwise.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from vosbench.core.errors import InputFileError
from vosbench.scoring.jf import ObjectScore
from vosbench.records.parsing_files import clustered_confusion, read_confusion
from vosbench.scoring.tapvid import METRIC_KEYS as TAPVID_METRICS
from vosbench.scoring.tapvid import VideoScore, read_per_video_csv
from vosbench.records.reader import RunRecord
from vosbench.records.stats import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    GROUP_METRICS,
    Clustered,
    bootstrap_intervals,
)
from vosbench.records.tables import OBJECT_STATS, ObjectRow, read_per_object, read_videos
from vosbench.records.types import CiBlock

VOS_METRICS = ("JF_mean", *OBJECT_STATS)
PCK_METRICS = ("PCK@0.1", "PCK@0.2")
#: how far a run's recorded metric may lie from the same mean recomputed from its per-object
#: file (both hold the values at full precision; only the order of the additions differs)
POINT_TOLERANCE = 1e-6


def object_key(sequence: str, obj: object) -> str:
    """How an object is named in ``ci.unseen_objects``: ``<sequence>/<object id>``."""
    return f"{sequence}/{obj}"


def clustered_objects(
    rows: Iterable[ObjectRow], unseen: Iterable[str] | None = None, *, unit: str = "sequence"
) -> Clustered:
    """Per-object statistics grouped by sequence.

    Args:
        rows: Dicts with ``sequence``, ``object`` and the per-object statistics (fractions), as
            :func:`~vosbench.records.reader.read_per_object` gives them.
        unseen: Objects (``<sequence>/<object>``) of unseen categories; when given, the
            YouTube-VOS groups ``J_seen`` ... and ``overall`` are added.
        unit: ``sequence`` (resample sequences with all their objects: the right unit) or
            ``object`` (every object on its own; only to show what ignoring the nesting does).
    """
    if unit not in ("sequence", "object"):
        raise ValueError(f"unit must be 'sequence' or 'object', got {unit!r}")
    unseen_set = None if unseen is None else set(unseen)
    metrics = list(VOS_METRICS) + (list(GROUP_METRICS) if unseen_set is not None else [])
    col = {m: i for i, m in enumerate(metrics)}
    clusters: list[str] = []
    index: dict[str, int] = {}
    sums: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    for row in rows:
        if math.isnan(row["J_mean"]):  # an object without any scored frame (as metrics.summarize)
            continue
        name = row["sequence"] if unit == "sequence" else object_key(row["sequence"], row["object"])
        if name not in index:
            index[name] = len(clusters)
            clusters.append(name)
            sums.append(np.zeros(len(metrics)))
            counts.append(np.zeros(len(metrics)))
        i = index[name]
        values: dict[str, float] = {k: row[k] for k in OBJECT_STATS}
        values["JF_mean"] = (row["J_mean"] + row["F_mean"]) / 2
        if unseen_set is not None:
            group = "unseen" if object_key(row["sequence"], row["object"]) in unseen_set else "seen"
            values[f"J_{group}"] = row["J_mean"]
            values[f"F_{group}"] = row["F_mean"]
        for k, v in values.items():
            if not math.isnan(v):
                sums[i][col[k]] += v
                counts[i][col[k]] += 1
    shape = (len(clusters), len(metrics))
    data = Clustered(
        clusters,
        metrics,
        np.array(sums).reshape(shape),
        np.array(counts).reshape(shape),
    )
    if unseen_set is not None:
        data.derived["overall"] = GROUP_METRICS
    return data


def clustered_videos(videos: dict[str, tuple[float, dict[str, float]]]) -> Clustered:
    """Per-video PCK: video -> (number of scored pairs ``n``, {metric: PCK fraction})."""
    names = list(videos)
    sums = np.zeros((len(names), len(PCK_METRICS)))
    counts = np.zeros_like(sums)
    for i, name in enumerate(names):
        n, values = videos[name]
        for j, m in enumerate(PCK_METRICS):
            v = values.get(m, math.nan)
            if n > 0 and not math.isnan(v):
                sums[i, j] = n * v
                counts[i, j] = n
    return Clustered(names, list(PCK_METRICS), sums, counts)


def read_per_video_pck(run_dir: str | Path) -> dict[str, tuple[float, dict[str, float]]]:
    """``per_video_pck.csv`` as video -> (n, {PCK@0.1, PCK@0.2})."""
    return read_videos(Path(run_dir) / "per_video_pck.csv", PCK_METRICS, counts=True)


def unseen_objects(record: RunRecord) -> list[str] | None:
    """The unseen objects a YouTube-VOS run recorded (``summary.json`` ``ci.unseen_objects``)."""
    block = record.summary.get("ci")
    if not isinstance(block, dict) or not isinstance(block.get("unseen_objects"), list):
        return None
    return [str(x) for x in block["unseen_objects"]]


def _check_point(record: RunRecord, data: Clustered, path: Path) -> None:
    """Refuse a segmentation run whose recorded metrics are not the means of its per-object file
    (``path``): its point and the intervals made from that file would describe different runs.
    (A keypoint run's PCK is the mean over joints, which the per-video file does not give.)"""
    observed = data.statistic(np.ones(len(data.clusters)))
    for key, values in observed.items():
        point, mean = record.metrics.get(key), float(values[0])
        if point is not None and math.isfinite(mean) and abs(point - mean) > POINT_TOLERANCE:
            raise InputFileError(
                f"{path}: the objects' mean {key} is {mean!r} but {record.run_dir / 'summary.json'} records "
                f"{point!r}; expected both from the same run (re-run, or delete this run folder)"
            )


def load_clustered(record: RunRecord) -> Clustered:
    """The per-sequence data of a run folder: ``per_video_pck.csv`` for keypoint runs,
    ``confusion.csv`` for parsing runs, else
    ``per_object.csv`` (whose means must be the run's recorded metrics).

    Raises:
        InputFileError: the file is missing or malformed (the message names it).
    """
    if record.task == "pose":
        return clustered_videos(read_per_video_pck(record.run_dir))
    if record.task == "parsing":
        return clustered_confusion(read_confusion(record.run_dir))
    if record.task == "points":
        return clustered_tapvid(read_per_video_tapvid(record.run_dir))
    data = clustered_objects(read_per_object(record.run_dir), unseen_objects(record))
    _check_point(record, data, record.run_dir / "per_object.csv")
    return data


# --- the summary.json block ------------------------------------------------------------------------


def ci_block(
    data: Clustered,
    *,
    unseen: Iterable[str] | None = None,
    level: float = DEFAULT_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    method: str = "percentile",
) -> CiBlock:
    """The ``ci`` object of ``summary.json``: how the intervals were made and, per metric, its
    ``low`` and ``high`` bound (fractions, like ``metrics``)."""
    intervals = bootstrap_intervals(data, level=level, n_resamples=n_resamples, seed=seed, method=method)
    block: CiBlock = {
        "level": level,
        "method": method,
        "resamples": n_resamples,
        "seed": seed,
        "unit": "video" if all(m in PCK_METRICS for m in data.metrics) else "sequence",
        "metrics": {
            k: {"low": iv.low, "high": iv.high}
            for k, iv in intervals.items()
            if math.isfinite(iv.low) and math.isfinite(iv.high)
        },
    }
    if unseen is not None:
        block["unseen_objects"] = sorted(unseen)
    return block


def ci_for_scores(scores: list[ObjectScore], group_of: Callable[[str, int], str | None]) -> CiBlock:
    """``summary.json`` ``ci`` block of a VOS run from its :class:`ObjectScore` list;
    ``group_of`` is the dataset's :meth:`~vosbench.datasets.base.VideoDataset.object_group`: when it
    names groups (YouTube-VOS seen/unseen), the block also covers the groups and ``overall``."""
    rows: list[ObjectRow] = [
        {"sequence": s.sequence, "object": str(s.object), "J_mean": float(s.J_mean), "J_recall": float(s.J_recall),
         "J_decay": float(s.J_decay), "F_mean": float(s.F_mean), "F_recall": float(s.F_recall),
         "F_decay": float(s.F_decay)}
        for s in scores
    ]
    groups = {object_key(s.sequence, s.object): group_of(s.sequence, int(s.object)) for s in scores}
    unseen = None
    if scores and all(g is not None for g in groups.values()):
        unseen = [k for k, g in groups.items() if g == "unseen"]
    return ci_block(clustered_objects(rows, unseen), unseen=unseen)


def ci_for_pck(per_video_csv: str) -> CiBlock:
    """``summary.json`` ``ci`` block of a keypoint run from its ``per_video_pck.csv`` text (so the
    interval is built from exactly what the file holds)."""
    videos = {}
    for row in csv.DictReader(io.StringIO(per_video_csv)):
        values = {m: float(row[m]) if row.get(m) not in (None, "") else math.nan for m in PCK_METRICS}
        videos[row["video"]] = (float(row["n"]), values)
    return ci_block(clustered_videos(videos))


# --- point tracking (TAP-Vid) ------------------------------------------------------------------


def clustered_tapvid(scores: list[VideoScore]) -> Clustered:
    """Per-video TAP-Vid metrics: each video one cluster of weight 1 (the benchmark's numbers are
    plain means over videos); a metric undefined for a video (NaN) does not count."""
    vals = np.array([[s.metrics[k] for k in TAPVID_METRICS] for s in scores], dtype=np.float64).reshape(-1, len(TAPVID_METRICS))
    defined = ~np.isnan(vals)
    return Clustered([s.video for s in scores], list(TAPVID_METRICS), np.where(defined, vals, 0.0), defined.astype(np.float64))


def read_per_video_tapvid(run_dir: str | Path) -> list[VideoScore]:
    """``per_video_tapvid.csv`` of a point-tracking run."""
    path = Path(run_dir) / "per_video_tapvid.csv"
    try:
        return read_per_video_csv(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputFileError(f"{path}: cannot read ({e.strerror or e})") from None
    except (KeyError, ValueError, TypeError) as e:
        raise InputFileError(f"{path}: not a per-video TAP-Vid table ({e})") from None


def ci_for_tapvid(scores: list[VideoScore]) -> CiBlock:
    """``summary.json`` ``ci`` block of a point-tracking run: the cluster bootstrap over videos."""
    block = ci_block(clustered_tapvid(scores))
    block["unit"] = "video"
    return block

