"""Visual reports of runs: overlay videos, per-sequence J&F bars, J-per-frame drift curves, PCK
curves, and one offline ``report.html`` that links them with relative paths only.

Plots use matplotlib (the ``report`` extra); GIF videos use Pillow only, MP4 needs imageio with an
ffmpeg or PyAV backend. Frames come from the dataset root recorded in the run's ``summary.json``
(or ``data_root``); when they cannot be found the report still has its plots and says why the
videos are missing.
"""

from __future__ import annotations

import datetime as _dt
import html
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vosbench.core.errors import ConfigError, InputFileError, VosbenchError
from vosbench.core.io import atomic_write_text
from vosbench.core.labels import read_label_png
from vosbench.core.version import __version__
from vosbench.datasets.badja_joints import BADJA_SKELETON
from vosbench.datasets.factory import load_dataset
from vosbench.records.labels import checkpoint_label, model_label
from vosbench.records.reader import (
    RunRecord,
    load_record,
    per_sequence_jf,
    read_keypoints,
    read_per_frame,
    read_per_joint_pck,
)
from vosbench.records.schema import METRICS
from vosbench.results.leaderboard import fmt_value, protocol_footnotes
from vosbench.results.report_compare import paired_section
from vosbench.results.report_media import (
    SKELETON,
    ReportDependencyError,
    caption,
    draw_skeleton,
    media_html,
    mp4_plugin,
    overlay_masks,
    pick_frames,
    rel_link,
    require_matplotlib,
    write_video,
)
from vosbench.results.report_parsing import PARSING_FILES, parsing_sections
from vosbench.results.report_points import aj_per_video, points_video
from vosbench.results.report_sensitivity import sensitivity_section
from vosbench.results.report_plots import plot_j_curve, plot_jf_bars, plot_joint_bars, plot_pck_curve
from vosbench.results.report_size import human_size, media_bytes, scale_frames

__all__ = ["Report", "ReportDependencyError", "ReportOptions", "make_report", "run_labels"]

VIDEO_FORMATS = ("gif", "mp4", "none")


@dataclass
class ReportOptions:
    """How to build a report.

    Attributes:
        out: Output folder (default ``RUN_DIR/report``).
        video: ``gif`` (Pillow), ``mp4`` (imageio + ffmpeg/PyAV) or ``none``.
        gt_contour: Draw the ground-truth outline (masks) or joints (keypoints) on the videos.
        data_root: Dataset root to read frames from instead of the recorded one.
        sequences: Only these sequences (default: all of the main run).
        max_frames: At most this many frames per video (evenly spaced); ``None`` = all.
        width: Videos are scaled down to at most this width in pixels.
        scale: Then scaled by this factor (0 < scale <= 1).
        fps: Video frame rate.
        alpha: Opacity of the predicted mask colours.
    """

    out: Path | None = None
    video: str = "gif"
    gt_contour: bool = True
    data_root: Path | None = None
    sequences: Sequence[str] | None = None
    max_frames: int | None = None
    width: int = 480
    fps: float = 8.0
    alpha: float = 0.5
    scale: float = 1.0


@dataclass
class Report:
    """What :func:`make_report` wrote."""

    html: Path
    out_dir: Path
    images: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total_bytes: int = 0  # report.html plus every video and plot it links


# --- videos from a run ----------------------------------------------------------------------------


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "_"


def _open_dataset(record: RunRecord, data_root: Path | None) -> Any:
    root = data_root if data_root is not None else record.dataset_root
    return load_dataset(record.dataset, root)


def _mask_video(record: RunRecord, seq: Any, opts: ReportOptions) -> list[np.ndarray]:
    pred_dir = record.run_dir / "predictions" / seq.name
    index = {name: i for i, name in enumerate(seq.frames)}
    preds = sorted((index[p.stem], p) for p in pred_dir.glob("*.png") if p.stem in index)
    frames = []
    for k in pick_frames(len(preds), opts.max_frames):
        t, png = preds[k]
        rgb = seq.read_image(t)
        gt = seq.read_gt(t) if opts.gt_contour and t in seq.gt else None
        pred = read_label_png(png)
        if pred.shape != rgb.shape[:2]:  # a run scored against resized GT (gt_size): shown on the native frame
            pred = np.asarray(Image.fromarray(pred).resize(rgb.shape[1::-1], Image.Resampling.NEAREST))
        img = overlay_masks(rgb, pred, gt, alpha=opts.alpha, width=opts.width)
        frames.append(caption(img, f"{seq.name}  {seq.frames[t]}"))
    return frames


def _pose_video(record: RunRecord, seq: Any, opts: ReportOptions) -> list[np.ndarray]:
    path = record.run_dir / "keypoints" / f"{seq.name}.csv"
    kps = read_keypoints(path)
    joint_ids = {j for frame in kps.values() for j in frame}
    shift = 1 if joint_ids and min(joint_ids) == 1 and max(joint_ids) == 15 else 0  # 1-based files
    index = {name: i for i, name in enumerate(seq.frames)}
    by_t: dict[int, dict[int, tuple[float, float]]] = {}
    for key, joints in kps.items():
        t = index.get(key)
        if t is None and key.isdigit() and int(key) < len(seq.frames):
            t = int(key)
        if t is not None:
            by_t[t] = {j - shift: xy for j, xy in joints.items()}
    ts = sorted(by_t)
    gt_all = seq.keypoints if opts.gt_contour else None
    bones = BADJA_SKELETON if (record.summary.get("dataset") or {}).get("pck") == "badja" else SKELETON
    frames = []
    for k in pick_frames(len(ts), opts.max_frames):
        t = ts[k]
        gt = gt_all[t] if gt_all is not None and t < len(gt_all) else None
        img = draw_skeleton(seq.read_image(t), by_t[t], gt, width=opts.width, skeleton=bones)
        frames.append(caption(img, f"{seq.name}  {seq.frames[t]}"))
    return frames


# --- the report -----------------------------------------------------------------------------------


def run_labels(records: list[RunRecord]) -> list[str]:
    """Short unique labels: model (and checkpoint), then the run id where needed to tell runs apart."""
    base = []
    for r in records:
        ck = checkpoint_label(r)
        base.append(model_label(r) + ("" if ck == "-" else f" @ {ck}"))
    labels = []
    for b, r in zip(base, records):
        clash = base.count(b) > 1
        labels.append(f"{b} ({r.protocol_name} v{r.protocol_version}, {r.run_id})" if clash else b)
    return labels


def _summary_table(records: list[RunRecord], labels: list[str]) -> str:
    keys = [m for m in METRICS if any(m.key in r.metrics for r in records)]
    head = "".join(f"<th>{html.escape(m.header)}</th>" for m in keys)
    rows = []
    for label, r in zip(labels, records):
        cells = "".join(
            f"<td class=num>{fmt_value(100 * r.metrics[m.key] if m.key in r.metrics else None, 1)}</td>" for m in keys
        )
        fps = r.summary.get("timings", {}).get("frames_per_s")
        rows.append(
            f"<tr><td>{html.escape(label)}</td><td>{html.escape(r.dataset)}</td>"
            f"<td>{html.escape(r.protocol_name)} v{r.protocol_version}</td><td>{html.escape(r.run_id)}</td>"
            f"{cells}<td class=num>{'-' if not isinstance(fps, (int, float)) else f'{fps:.1f}'}</td></tr>"
        )
    return (
        "<table><thead><tr><th>run</th><th>dataset</th><th>protocol</th><th>run id</th>"
        f"{head}<th>frames/s</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{margin-bottom:4px} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:8px 0;font-size:14px} th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums} th{background:#f3f3f3}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start} .row img,.row video{max-width:100%;border:1px solid #ddd}
figure{margin:0} figcaption{font-size:12px;color:#666} .notes li{color:#a15c00}
code{background:#f6f6f6;padding:1px 3px} footer{margin-top:32px;color:#888;font-size:12px}
"""

def _check_options(opts: ReportOptions) -> None:
    """Refuse bad options and missing libraries before any work."""
    if opts.video not in VIDEO_FORMATS:
        raise ConfigError(f"unknown video format {opts.video!r}; choose {', '.join(VIDEO_FORMATS)}")
    if opts.max_frames is not None and opts.max_frames < 1:
        raise ConfigError("--max-frames must be at least 1")
    if not opts.fps > 0:
        raise ConfigError("--fps must be > 0")
    require_matplotlib()
    if opts.video == "mp4":
        mp4_plugin()  # fail before any work rather than after the plots


@dataclass
class _Page:
    """What the sections of one report share: the runs (main run first), their labels, the
    options, and the :class:`Report` being filled (images, videos, notes)."""

    records: list[RunRecord]
    labels: list[str]
    opts: ReportOptions
    rep: Report

    @property
    def main(self) -> RunRecord:
        return self.records[0]

    @property
    def out_dir(self) -> Path:
        return self.rep.out_dir

    @property
    def pose(self) -> bool:
        return self.main.task == "pose"

    @property
    def parsing(self) -> bool:
        return self.main.task == "parsing"

    @property
    def points(self) -> bool:
        return self.main.task == "points"

    def figure(self, img: Path, heading: str, alt: str) -> str:
        """A plot that was written: recorded, and as a section with its heading."""
        self.rep.images.append(img)
        return heading + media_html(img, self.out_dir, alt)


def _jf_section(page: _Page) -> list[str]:
    """Per-sequence J&F bars across runs."""
    per_run = []
    for label, r in zip(page.labels, page.records):
        try:
            per_run.append((label, per_sequence_jf(r.run_dir)))
        except InputFileError as e:
            page.rep.notes.append(f"no per-sequence scores for {label}: {e}")
    seqs = list(dict.fromkeys([*page.main.sequences, *(s for _, v in per_run for s in v)]))
    seqs = [s for s in seqs if any(s in v for _, v in per_run)]
    if page.opts.sequences:
        seqs = [s for s in seqs if s in set(page.opts.sequences)]
    if not (per_run and seqs):
        return []
    img = plot_jf_bars(per_run, seqs, page.out_dir / "jf_per_sequence.png")
    heading = "<h2>J&amp;F per sequence</h2><p>Mean over each sequence's objects of (J-Mean + F-Mean) / 2.</p>"
    return [page.figure(img, heading, "J&F per sequence")]


def _pose_sections(page: _Page) -> list[str]:
    """The PCK curve across runs and the main run's PCK per joint."""
    sections = []
    curves = [(label, r.pck_curve) for label, r in zip(page.labels, page.records) if r.pck_curve]
    if curves:
        img = plot_pck_curve(curves, page.out_dir / "pck_curve.png")
        sections.append(page.figure(img, "<h2>PCK curve</h2>", "PCK curve"))
    else:
        page.rep.notes.append("no pck_curve in the run records; PCK curve left out")
    if (page.main.run_dir / "per_joint_pck.csv").is_file():
        try:
            joints, cols = read_per_joint_pck(page.main.run_dir)
            # the two thresholds papers report, when the file has a whole curve
            cols = {k: v for k, v in cols.items() if k in ("PCK@0.1", "PCK@0.2")} or cols
            if joints and cols:
                img = plot_joint_bars(joints, cols, f"PCK per joint ({page.labels[0]})", page.out_dir / "pck_per_joint.png")
                sections.append(page.figure(img, "<h2>PCK per joint</h2>", "PCK per joint"))
        except InputFileError as e:
            page.rep.notes.append(str(e))
    return sections


def _points_sections(page: _Page) -> list[str]:
    """AJ per video across runs."""
    img = aj_per_video(page.records, page.labels, page.out_dir / "aj_per_video.png", page.rep.notes)
    return [page.figure(img, "<h2>AJ per video</h2>", "AJ per video")] if img is not None else []


def _paired_sections(page: _Page) -> list[str]:
    """Sorted bars of the per-sequence differences to each compared run."""
    text, imgs, more = paired_section(page.records, page.labels, page.out_dir)
    page.rep.images.extend(imgs)
    page.rep.notes.extend(more)
    return [text] if text else []


def _sensitivity_sections(page: _Page) -> list[str]:
    """The main run's score against each swept setting (a sweep point or a tuned run)."""
    text, imgs, more = sensitivity_section(page.main, page.out_dir)
    page.rep.images.extend(imgs)
    page.rep.notes.extend(more)
    return [text] if text else []


def _sequence_names(page: _Page, frames_by_run: list[dict[str, Any]]) -> list[str]:
    """The main run's sequences (from its record, else its per-frame scores, predictions or
    keypoint files), limited to ``--sequences``."""
    main = page.main
    seq_names = list(dict.fromkeys(main.sequences or (frames_by_run[0] if frames_by_run else {})))
    if not seq_names and (main.run_dir / "predictions").is_dir():
        seq_names = sorted(p.name for p in (main.run_dir / "predictions").iterdir() if p.is_dir())
    if not seq_names and (main.run_dir / "keypoints").is_dir():
        seq_names = sorted(p.stem for p in (main.run_dir / "keypoints").glob("*.csv"))
    wanted = page.opts.sequences
    if wanted:
        unknown = [s for s in wanted if s not in seq_names]
        if unknown:
            raise ConfigError(f"sequence(s) {', '.join(unknown)} not in run {main.run_id}; it has: {', '.join(seq_names)}")
        seq_names = [s for s in seq_names if s in set(wanted)]
    return seq_names


def _video_figure(page: _Page, dataset: Any, name: str) -> tuple[str | None, bool]:
    """The overlay video of sequence ``name`` as a figure (``None``: none), and whether it is
    missing because the run saved no predictions."""
    main, opts = page.main, page.opts
    seq = dataset.sequence(name)
    no_pred = False
    if page.pose:
        frames = _pose_video(main, seq, opts)
    elif page.points:
        frames = points_video(main, seq, opts.max_frames, opts.width)
    elif (main.run_dir / "predictions" / name).is_dir():
        frames = _mask_video(main, seq, opts)
    else:
        frames, no_pred = [], True
    if frames and opts.scale != 1.0:
        frames = scale_frames(frames, opts.scale)
    if not frames:
        return None, no_pred
    video = write_video(frames, page.out_dir / f"video_{_safe(name)}.{opts.video}", opts.fps)
    page.rep.videos.append(video)
    what = (
        "predicted keypoints; white rings: ground truth" if page.pose
        else "predicted points (hollow: predicted occluded); white rings: ground truth where visible" if page.points
        else "predicted masks; white outline: ground truth" if opts.gt_contour
        else "predicted masks"
    )  # fmt: skip
    return f"<figure>{media_html(video, page.out_dir, name + ' overlay')}<figcaption>{what}</figcaption></figure>", no_pred


def _sequence_sections(page: _Page) -> list[str]:
    """Per sequence: overlay video and J-per-frame curve."""
    notes = page.rep.notes
    frames_by_run: list[dict[str, Any]] = []
    if not (page.pose or page.parsing or page.points):
        for label, r in zip(page.labels, page.records):
            try:
                frames_by_run.append(read_per_frame(r.run_dir))
            except InputFileError as e:
                frames_by_run.append({})
                notes.append(f"no per-frame scores for {label}: {e}")
    dataset = None
    if page.opts.video != "none":
        try:
            dataset = _open_dataset(page.main, page.opts.data_root)
        except VosbenchError as e:
            notes.append(f"frames not available, so no videos ({e}). Pass --data-root to point at the dataset.")
    seq_blocks = []
    no_pred = False
    for name in _sequence_names(page, frames_by_run):
        parts = []
        if dataset is not None:
            try:
                fig, missing = _video_figure(page, dataset, name)
                no_pred = no_pred or missing
                if fig is not None:
                    parts.append(fig)
            except VosbenchError as e:
                notes.append(f"{name}: no video ({e})")
        if not (page.pose or page.parsing or page.points):
            j_curves = [(label, fr.get(name, {})) for label, fr in zip(page.labels, frames_by_run)]
            if any(obj for _, obj in j_curves):
                img = plot_j_curve(name, j_curves, page.out_dir / f"j_curve_{_safe(name)}.png")
                parts.append(f"<figure>{page.figure(img, '', name + ' J per frame')}</figure>")
        if parts:
            seq_blocks.append(f'<h3 id="{html.escape(_safe(name))}">{html.escape(name)}</h3><div class=row>{"".join(parts)}</div>')
    if no_pred:
        notes.append("the run saved no predictions (--no-save-predictions), so there are no mask videos")
    return ["<h2>Sequences</h2>" + "".join(seq_blocks)] if seq_blocks else []


def _file_links(page: _Page) -> list[str]:
    """Links to each run's files, relative to the page."""
    links = []
    for r, label in zip(page.records, page.labels):
        for fname in ("summary.json", "per_object.csv", "per_frame.csv", "per_joint_pck.csv", *PARSING_FILES,
                      "per_video_tapvid.csv"):
            p = r.run_dir / fname
            if p.is_file():
                links.append(f'<a href="{rel_link(p, page.out_dir)}">{html.escape(label)}: {fname}</a>')
    return links


def _write_page(page: _Page, sections: list[str]) -> None:
    """``report.html``: summary, protocols, the sections, files, notes and the report's size."""
    records, labels, rep, main = page.records, page.labels, page.rep, page.main
    links = _file_links(page)
    seen: list[dict[str, Any]] = []
    for r in records:
        if r.protocol not in seen:
            seen.append(r.protocol)
    protos = protocol_footnotes([(str(i + 1), p) for i, p in enumerate(seen)])
    title = f"{labels[0]} on {main.dataset}"
    body = [
        f"<h1>vosbench report</h1><p class=sub>{html.escape(title)} &middot; run {html.escape(main.run_id)}"
        f" &middot; {html.escape(main.created)}</p>",
        "<h2>Summary</h2><p>Values in %.</p>" + _summary_table(records, labels),
        "<h2>Protocol</h2><ul>" + "".join(f"<li><code>{html.escape(p)}</code></li>" for p in protos) + "</ul>",
        *sections,
    ]
    if links:
        body.append("<h2>Files</h2><ul>" + "".join(f"<li>{a}</li>" for a in links) + "</ul>")
    if rep.notes:
        body.append('<h2>Notes</h2><ul class=notes>' + "".join(f"<li>{html.escape(n)}</li>" for n in rep.notes) + "</ul>")
    media = media_bytes(rep.videos + rep.images)
    body.append(f"<p class=sub>Report size: {human_size(media)} in {len(rep.videos)} video(s) "
                f"({html.escape(page.opts.video)}) and {len(rep.images)} plot(s), plus this page.</p>")
    stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    body.append(f"<footer>Made by vosbench {html.escape(__version__)} on {stamp}. Works offline: every link is relative.</footer>")
    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>vosbench report: {html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    atomic_write_text(rep.html, doc)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(rep.html, 0o666 & ~umask)  # the temp-file writer creates 0600; a report is for sharing
    rep.total_bytes = media + rep.html.stat().st_size


def make_report(
    run_dir: str | Path, compare: Iterable[str | Path] = (), options: ReportOptions | None = None
) -> Report:
    """Write overlay videos, plots and ``report.html`` for a run (compared with other runs).

    Args:
        run_dir: The main run folder.
        compare: Other run folders, shown beside it in the bar chart, curves and summary.
        options: See :class:`ReportOptions`.

    Returns:
        What was written, with notes about anything left out (e.g. frames not found).

    Raises:
        ReportDependencyError: matplotlib (or the MP4 writer) missing.
        InputFileError: a run folder without a readable ``summary.json``.
        ConfigError: bad options.
    """
    opts = options or ReportOptions()
    _check_options(opts)
    main = load_record(run_dir)
    records = [main] + [load_record(c) for c in compare]
    out_dir = Path(opts.out) if opts.out is not None else main.run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    page = _Page(records, run_labels(records), opts, Report(html=out_dir / "report.html", out_dir=out_dir))
    for r in records:
        if not r.complete:
            page.rep.notes.append(f"run {r.run_id} did not finish (status: {r.status}); its numbers may be partial")
    if len({r.dataset for r in records}) > 1:
        page.rep.notes.append("the compared runs are on different datasets: " + ", ".join(sorted({r.dataset for r in records})))
    if page.parsing:
        sections, images, notes = parsing_sections(records, page.labels, out_dir, page.opts.sequences)
        page.rep.images.extend(images)
        page.rep.notes.extend(notes)
    else:
        sections = _pose_sections(page) if page.pose else _points_sections(page) if page.points else _jf_section(page)
    if len(records) > 1:
        sections += _paired_sections(page)
    sections += _sensitivity_sections(page)
    sections += _sequence_sections(page)
    _write_page(page, sections)
    return page.rep
