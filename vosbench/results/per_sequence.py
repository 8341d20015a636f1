"""The per-sequence view of a leaderboard (``vosbench leaderboard --per-sequence``): J&F per
sequence of one dataset (PCK@0.1 per video for keypoint datasets, mIoU per video for VIP), one
column per leaderboard row."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vosbench.core.errors import ConfigError
from vosbench.records.parsing_files import per_video_miou
from vosbench.records.reader import RunRecord, per_sequence_jf, per_video_pck
from vosbench.records.labels import select_runs
from vosbench.records.stats_io import read_per_video_tapvid
from vosbench.results.formats import render_as
from vosbench.results.leaderboard import build, fmt_value, md_escape, protocol_footnotes
from vosbench.results.rows import Row


@dataclass
class PerSequence:
    """J&F (or, for keypoints, PCK@0.1) per sequence of one dataset, one column per (model,
    checkpoint, protocol[, run])."""

    dataset: str
    columns: list[Row]
    labels: list[str]
    sequences: list[str]
    values: dict[str, dict[str, float]]  # sequence -> label -> percent
    overall: dict[str, float]  # label -> the run's overall value (percent)
    protocols: list[tuple[str, dict[str, Any]]]
    metric: str = "J&F"
    overall_label: str = "J&F (all objects)"
    explanation: str = (
        "Per sequence: mean over the sequence's objects of (J-Mean + F-Mean) / 2. "
        "Last line: the run's J&F-Mean over all objects."
    )


def build_per_sequence(
    records: Iterable[RunRecord], dataset: str | None = None, *, all_runs: bool = False
) -> PerSequence:
    """Per-sequence J&F (mean over the sequence's objects of (J-Mean + F-Mean) / 2) for one dataset;
    for keypoint datasets, PCK@0.1 per video (``per_video_pck.csv``).

    Raises:
        ConfigError: no dataset given while runs cover several, or no runs for it.
        InputFileError: a run lacks a readable ``per_object.csv`` (``per_video_pck.csv``).
    """
    records = list(records)
    names = sorted({r.dataset for r in records})
    if dataset is None:
        if len(names) != 1:
            raise ConfigError(
                "--per-sequence shows one dataset; choose it with --dataset "
                f"(runs cover: {', '.join(names) or 'none'})"
            )
        dataset = names[0]
    chosen = [r for r in select_runs(records, all_runs=all_runs) if r.dataset == dataset]
    if not chosen:
        raise ConfigError(f"no runs for dataset {dataset!r} (runs cover: {', '.join(names) or 'none'})")
    task = chosen[0].task if len({r.task for r in chosen}) == 1 else "vos"
    board = build(chosen, datasets=[dataset], all_runs=all_runs)
    by_folder = {r.run_dir: r for r in chosen}
    cols = board.tables[0].rows
    labels: list[str] = []
    values: dict[str, dict[str, float]] = {}
    overall: dict[str, float] = {}
    seq_order: list[str] = []
    base = [r.model + ("" if r.checkpoint == "-" else f" @ {r.checkpoint}") + f" [{r.ref}]" for r in cols]
    for row, label in zip(cols, base):
        if base.count(label) > 1 and len({c.sequences for c, b in zip(cols, base) if b == label}) > 1:
            label += f" ({row.sequences})"  # same model and protocol on another sequence set
        if all_runs:
            label += f" {row.run_id}"
        labels.append(label)
        assert row.run_dir is not None  # a run row, built from one of ``chosen``
        record = by_folder[row.run_dir]
        per_seq = _per_sequence_scores(record.run_dir, task)
        for seq in [*(record.sequences or []), *per_seq]:
            if seq not in seq_order:
                seq_order.append(seq)
        for seq in per_seq:
            values.setdefault(seq, {})[label] = 100.0 * per_seq[seq]
        key = _VIEWS.get(task, _VIEWS["vos"])[0]
        if key in record.metrics:
            overall[label] = 100.0 * record.metrics[key]
    view = PerSequence(
        dataset=dataset,
        columns=cols,
        labels=labels,
        sequences=seq_order,
        values=values,
        overall=overall,
        protocols=board.protocols,
    )
    if task in ("pose", "parsing", "points"):
        _, view.metric, view.overall_label, view.explanation = _VIEWS[task]
    return view


#: task -> (the record's metric for the last line, the view's metric, its last-line label, explanation)
_VIEWS: dict[str, tuple[str, str, str, str]] = {
    "vos": ("JF_mean", "", "", ""),
    "pose": (
        "PCK@0.1",
        "PCK@0.1",
        "PCK@0.1 (all videos)",
        "Per video: mean over the joints of each joint's PCK@0.1 in that video. "
        "Last line: the run's PCK@0.1 over all videos.",
    ),
    "parsing": (
        "mIoU",
        "mIoU",
        "mIoU (all videos)",
        "Per video: the mIoU of the video's own confusion matrix. Last line: the run's mIoU, of the "
        "matrix summed over all videos (not the mean of the per-video values).",
    ),
    "points": (
        "average_jaccard",
        "AJ",
        "AJ (mean over videos)",
        "Per video: tapnet's Average Jaccard. Last line: the run's AJ, the mean over videos.",
    ),
}


def _per_sequence_scores(run_dir: Path, task: str) -> dict[str, float]:
    """One run's score per sequence (fractions) from the table its task writes."""
    if task == "points":
        return {s.video: s.metrics["average_jaccard"] for s in read_per_video_tapvid(run_dir)}
    if task == "pose":
        return per_video_pck(run_dir)
    if task == "parsing":
        return per_video_miou(run_dir)
    return per_sequence_jf(run_dir)


def per_sequence_markdown(view: PerSequence, decimals: int = 1) -> str:
    """Rows = sequences, columns = runs; best value per sequence in bold."""
    out = [f"### {view.dataset}: {view.metric} per sequence (%)", ""]
    out.append("| Sequence | " + " | ".join(md_escape(lb) for lb in view.labels) + " |")
    out.append("|:--|" + "|".join("--:" for _ in view.labels) + "|")

    def line(name: str, vals: dict[str, float]) -> str:
        texts = [fmt_value(vals.get(lb), decimals) for lb in view.labels]
        nums = [t for t in texts if t != "-"]
        best = max(nums, key=float) if nums else None
        cells = [f"**{t}**" if best is not None and t == best and len(view.labels) > 1 else t for t in texts]
        return f"| {md_escape(name)} | " + " | ".join(cells) + " |"

    for seq in view.sequences:
        out.append(line(seq, view.values.get(seq, {})))
    out.append(line(view.overall_label, view.overall))
    out.append("")
    out.append(view.explanation)
    out.append("")
    out.append("Protocols:")
    out.append("")
    out.extend(f"- {md_escape(line)}" for line in protocol_footnotes(view.protocols))
    return "\n".join(out) + "\n"


def per_sequence_csv(view: PerSequence, decimals: int = 3) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["sequence", *view.labels])
    for seq in view.sequences:
        vals = view.values.get(seq, {})
        writer.writerow([seq] + [repr(round(vals[lb], decimals)) if lb in vals else "" for lb in view.labels])
    writer.writerow(
        [view.overall_label]
        + [repr(round(view.overall[lb], decimals)) if lb in view.overall else "" for lb in view.labels]
    )
    return buf.getvalue()


def per_sequence_json(view: PerSequence, decimals: int = 3) -> str:
    doc = {
        "format": "vosbench-per-sequence",
        "version": 1,
        "units": "percent",
        "dataset": view.dataset,
        "metric": view.metric,
        "columns": [
            {"label": lb, "model": r.model, "checkpoint": r.checkpoint, "protocol": r.protocol,
             "protocol_ref": r.ref, "run_id": r.run_id}
            for lb, r in zip(view.labels, view.columns)
        ],
        "sequences": {
            seq: {lb: round(v, decimals) for lb, v in view.values.get(seq, {}).items()} for seq in view.sequences
        },
        "overall": {lb: round(v, decimals) for lb, v in view.overall.items()},
        "protocols": [{"ref": ref, **p} for ref, p in view.protocols],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_per_sequence(view: PerSequence, fmt: str, decimals: int | None = None) -> str:
    """Render the per-sequence view as ``md``, ``csv`` or ``json``."""
    return render_as(fmt, decimals, md=lambda d: per_sequence_markdown(view, d),
                     csv=lambda d: per_sequence_csv(view, d), json=lambda d: per_sequence_json(view, d))
