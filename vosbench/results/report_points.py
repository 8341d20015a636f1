"""The report's parts for point-tracking runs (TAP-Vid): AJ per video across runs, and overlay
videos of the predicted tracks (filled dots where predicted visible, hollow where predicted
occluded; white rings: the GT position where the GT point is visible)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from vosbench.core.errors import InputFileError
from vosbench.core.labels import PALETTE
from vosbench.records.reader import RunRecord
from vosbench.records.stats_io import read_per_video_tapvid
from vosbench.results.report_media import caption, pick_frames
from vosbench.results.report_plots import plot_jf_bars
from vosbench.scoring.tapvid import sample_queries


def aj_per_video(records: list[RunRecord], labels: list[str], out: Path, notes: list[str]) -> Path | None:
    """Grouped bars of AJ (%) per video, one bar per run (``None``: no run has the table)."""
    per_run = []
    for label, r in zip(labels, records):
        try:
            per_run.append((label, {s.video: s.metrics["average_jaccard"] for s in read_per_video_tapvid(r.run_dir)}))
        except InputFileError as e:
            notes.append(f"no per-video TAP-Vid scores for {label}: {e}")
    videos = list(dict.fromkeys(v for _, scores in per_run for v in scores))
    if not (per_run and videos):
        return None
    return plot_jf_bars(per_run, videos, out, ylabel="AJ (%)", title="Average Jaccard per video")


def points_video(record: RunRecord, seq: Any, max_frames: int | None, width: int) -> list[np.ndarray]:
    """Frames of ``seq`` with the run's tracks (``tracks/<video>.npz``) drawn on them."""
    path = record.run_dir / "tracks" / f"{seq.name}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            xy, occ = z["tracks"].astype(np.float64), z["occluded"].astype(bool)
            mode = str(z["query_mode"]) if "query_mode" in z.files else "first"
    except (OSError, KeyError, ValueError) as e:
        raise InputFileError(f"{path}: cannot read the tracks ({e})") from None
    pts, gocc = seq.gt_tracks()
    q = sample_queries(mode, gocc, pts)
    frames = []
    for t in pick_frames(xy.shape[1], max_frames):
        rgb = seq.read_image(t)
        scale = min(1.0, width / rgb.shape[1]) if width else 1.0
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        im = Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(im)
        r = max(2.0, size[0] / 200)
        for i in range(xy.shape[0]):
            k = 1 + i % 254  # PALETTE is flat: r, g, b of id 0, id 1, ...
            colour = (int(PALETTE[3 * k]), int(PALETTE[3 * k + 1]), int(PALETTE[3 * k + 2]))
            if q.tracks.shape == xy.shape and not q.occluded[i, t]:
                gx, gy = q.tracks[i, t] * scale
                draw.ellipse([gx - r - 1, gy - r - 1, gx + r + 1, gy + r + 1], outline=(255, 255, 255))
            x, y = xy[i, t] * scale
            if math.isfinite(x) and math.isfinite(y):
                box = [x - r, y - r, x + r, y + r]
                draw.ellipse(box, outline=colour) if occ[i, t] else draw.ellipse(box, fill=colour)
        frames.append(caption(np.asarray(im), f"{seq.name}  {seq.frames[t]}"))
    return frames
