"""Scoring point tracks (the engine of ``vosbench eval --benchmark tapvid``).

Predictions are ``TRACKS/<video>.npz`` files as a ``vosbench run`` writes them in ``RUN/tracks/``
(:mod:`vosbench.runs.points`): ``tracks`` (Q, T, 2) x/y in pixels of the original frame,
``occluded`` (Q, T) bool, optionally ``query_points`` (Q, 3) and ``query_mode``. The GT is a
TAP-Vid pickle (a file or a folder of ``.pkl`` files: DAVIS, RGB-Stacking, RoboTAP, the synthetic
set), or TAP-Vid-Kinetics' ``tapvid_kinetics.csv`` with its clips (or its folder), read as a run
reads it; the queries are sampled from it with the query mode (``--query-mode``,
else the files' ``query_mode``, else ``first``), so the rows must be in tapnet's order for that
mode. A file's ``query_points``, when present, must equal the sampled queries (to 1e-3 px): a file
made with another query mode or another pickle is refused rather than scored against the wrong
tracks. Every GT video (or every one named with ``--sequences``) needs its file.
"""

from __future__ import annotations

import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from vosbench.core.errors import ConfigError, DatasetLayoutError, InputFileError
from vosbench.core.version import __version__
from vosbench.datasets.factory import load_dataset
from vosbench.datasets.tapvid import TapVidSequence
from vosbench.datasets.tapvid_kinetics import csv_root
from vosbench.evaluate.base import JSON, Evaluation, MetricValue, ProgressHook
from vosbench.scoring.tapvid import QUERY_MODES, VideoScore, per_video_csv_text, sample_queries, score_video, summarize

RULES = ("TAP-Vid (tapnet compute_tapvid_metrics): evaluated at 256x256; thresholds 1/2/4/8/16 px (strict); "
         "query frame not scored (first mode: only frames after it); means over videos")
MAX_NPZ_BYTES = 1 << 30


@dataclass
class TapVidEvaluation:
    """Per-video scores of a tracks folder, the query mode, the folder read and the wall time."""

    scores: list[VideoScore]
    query_mode: str
    tracks_dir: Path
    seconds: float


def tracks_folder(pred: str | os.PathLike[str]) -> Path:
    """``pred`` itself, or ``pred/tracks`` when ``pred`` is a run folder."""
    p = Path(pred)
    if not p.is_dir():
        raise DatasetLayoutError(f"{p}: tracks folder not found (TRACKS/<video>.npz, or a run folder)")
    return p / "tracks" if (p / "tracks").is_dir() else p


def read_tracks(path: Path) -> dict[str, np.ndarray]:
    """The arrays of one ``.npz`` (no pickled objects), checked for size."""
    if not path.is_file():
        raise InputFileError(f"{path}: no tracks for this video; predict every video or choose some with --sequences")
    if path.stat().st_size > MAX_NPZ_BYTES:
        raise InputFileError(f"{path}: larger than {MAX_NPZ_BYTES >> 20} MB; not a tracks file")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise InputFileError(f"{path}: not a readable .npz of tracks ({e})") from None


def _file_mode(arrays: dict[str, np.ndarray], path: Path) -> str | None:
    if "query_mode" not in arrays:
        return None
    mode = str(arrays["query_mode"])
    if mode not in QUERY_MODES:
        raise InputFileError(f"{path}: query_mode {mode!r}; expected first or strided")
    return mode


def _predictions(path: Path, arrays: dict[str, np.ndarray], want_q: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The (Q, T, 2) tracks and (Q, T) occlusion of one file, checked against the sampled queries."""
    if "tracks" not in arrays or "occluded" not in arrays:
        raise InputFileError(f"{path}: expected arrays 'tracks' and 'occluded' (found: {', '.join(arrays) or 'none'})")
    tr, occ = arrays["tracks"], arrays["occluded"]
    q = len(want_q)
    if tr.shape != (q, frames, 2) or tr.dtype.kind != "f" or not np.isfinite(tr).all():
        raise InputFileError(f"{path}: 'tracks' is {list(tr.shape)} {tr.dtype}; expected finite floats [{q}, {frames}, 2] "
                             "(queries x frames x (x, y), one row per query of this query mode)")
    if occ.shape != (q, frames) or occ.dtype.kind not in "bui":
        raise InputFileError(f"{path}: 'occluded' is {list(occ.shape)} {occ.dtype}; expected bool [{q}, {frames}]")
    if "query_points" in arrays:
        got = arrays["query_points"]
        if got.shape != want_q.shape or not np.allclose(got.astype(np.float64), want_q, atol=1e-3, rtol=0):
            raise InputFileError(f"{path}: 'query_points' differ from the queries of this video in this query mode; "
                                 "was it made with another --query-mode or another pickle?")
    return tr.astype(np.float64), occ.astype(bool)


def evaluate(
    gt: str | os.PathLike[str],
    pred: str | os.PathLike[str],
    *,
    query_mode: str | None = None,
    sequences: list[str] | None = None,
    progress: ProgressHook | None = None,
) -> Evaluation[TapVidEvaluation]:
    """TAP-Vid metrics of the tracks in ``pred`` against the pickle ``gt`` (see the module docstring)."""
    start = time.perf_counter()
    if query_mode is not None and query_mode not in QUERY_MODES:
        raise ConfigError(f"query mode {query_mode!r} unknown; expected first or strided")
    tdir = tracks_folder(pred)
    # a TAP-Vid-Kinetics CSV (or its folder, with the clips below it) is read as tapvid-kinetics reads it
    ds = load_dataset("tapvid-kinetics" if csv_root(Path(gt)) is not None else "tapvid-davis", gt)
    names = ds.select(sequences) if sequences else ds.sequence_names()
    files = {n: tdir / f"{n}.npz" for n in names}  # names are checked by the adapter
    arrays = {n: read_tracks(p) for n, p in files.items()}
    modes = {m for n in names if (m := _file_mode(arrays[n], files[n])) is not None}
    if query_mode is None and len(modes) > 1:
        raise InputFileError(f"{tdir}: the files were made with different query modes ({', '.join(sorted(modes))})")
    mode = query_mode or (modes.pop() if modes else "first")
    for n in names:
        made = _file_mode(arrays[n], files[n])
        if made is not None and made != mode:
            raise InputFileError(f"{files[n]}: made with query mode {made!r}, scored here with {mode!r}; "
                                 "tracks of one query mode cannot be scored with the other's queries")
    scores = []
    if progress:
        progress(0, len(names))
    for n in names:
        seq = cast(TapVidSequence, ds.sequence(n))
        pts, occ = seq.gt_tracks()
        queries = sample_queries(mode, occ, pts)
        xy, pocc = _predictions(files[n], arrays.pop(n), queries.points, len(seq))
        scores.append(score_video(n, seq.size, queries, xy, pocc, mode))
        if progress:
            progress(len(scores), len(names))
    ev = TapVidEvaluation(scores, mode, tdir, time.perf_counter() - start)
    facts: dict[str, JSON] = {
        "benchmark": "tapvid",
        "videos": len(scores),
        "frames_per_video": {s.video: s.frames for s in scores},
        "query_mode": mode,
        "gt": str(Path(gt).resolve()),
        "pred": str(tdir.resolve()),
        "rules": RULES,
        "vosbench_version": __version__,
        "seconds": round(ev.seconds, 3),
    }
    metrics = cast("dict[str, MetricValue]", summarize(scores))
    empty = None if any(v is not None for v in metrics.values()) else f"{gt}: nothing to score (no visible GT point)"
    return Evaluation(
        benchmark="tapvid", pred=tdir, metrics=metrics, tables={".csv": per_video_csv_text(scores)}, facts=facts,
        sequences={s.video: s.frames for s in scores}, seconds=ev.seconds, detail=ev, empty=empty,
    )
