"""The report sections of a human-part parsing run (VIP): mIoU per video and IoU per class."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vosbench.core.errors import InputFileError
from vosbench.records.parsing_files import CONFUSION, PER_CLASS, PER_VIDEO, per_video_miou, read_confusion
from vosbench.records.reader import RunRecord
from vosbench.results.report_media import media_html
from vosbench.results.report_plots import plot_joint_bars
from vosbench.scoring.parsing import CLASSES, N_CLASSES, scores_of

#: a parsing run's tables, linked from the report
PARSING_FILES = (PER_VIDEO, PER_CLASS, CONFUSION)


def parsing_sections(
    records: list[RunRecord], labels: list[str], out_dir: Path, sequences: Sequence[str] | None = None
) -> tuple[list[str], list[Path], list[str]]:
    """HTML sections, images written and notes: per-video mIoU of every run, per-class IoU of
    every run over the classes any of them scored."""
    notes: list[str] = []
    per_video: dict[str, dict[str, float]] = {}
    per_class: dict[str, list[float]] = {}
    for label, r in zip(labels, records):
        try:
            per_video[label] = per_video_miou(r.run_dir)
            hists = read_confusion(r.run_dir)
        except InputFileError as e:
            notes.append(f"no per-video scores for {label}: {e}")
            continue
        if hists:
            total = np.sum(list(hists.values()), axis=0)
            per_class[label] = [float(v) for v in scores_of(total).class_iou]
    images: list[Path] = []
    sections: list[str] = []
    videos = [v for v in dict.fromkeys(v for vals in per_video.values() for v in vals) if not sequences or v in sequences]
    if videos:
        cols = {label: [vals.get(v, math.nan) for v in videos] for label, vals in per_video.items()}
        img = plot_joint_bars(videos, cols, "mIoU per video", out_dir / "miou_per_video.png", ylabel="mIoU (%)")
        images.append(img)
        sections.append("<h2>mIoU per video</h2><p>Each video's own confusion matrix; the run's mIoU is that "
                        "of the matrix summed over all videos.</p>" + media_html(img, out_dir, "mIoU per video"))
    shown = [c for c in range(N_CLASSES) if any(not math.isnan(v[c]) for v in per_class.values())]
    if shown:
        cols = {label: [v[c] for c in shown] for label, v in per_class.items()}
        img = plot_joint_bars([CLASSES[c] for c in shown], cols, "IoU per class", out_dir / "iou_per_class.png",
                              ylabel="IoU (%)")
        images.append(img)
        sections.append("<h2>IoU per class</h2>" + media_html(img, out_dir, "IoU per class"))
    return sections, images, notes
