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
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import quote

import numpy as np

from vosbench.core.errors import ConfigError, InputFileError, VosbenchError
from vosbench.results.leaderboard import fmt_value, protocol_footnotes
from vosbench.records.schema import METRICS
from vosbench.records.reader import (
    RunRecord,
    checkpoint_label,
    load_record,
    model_label,
    per_sequence_jf,
    read_keypoints,
    read_per_frame,
    read_per_joint_pck,
)


class ReportDependencyError(VosbenchError):
    """matplotlib (or an MP4 writer) is not installed."""


VIDEO_FORMATS = ("gif", "mp4", "none")
# JHMDB joint order (SPEC §3): 0 neck, 1 belly, 2 face, 3/4 r/l shoulder, 5/6 r/l hip,
# 7/8 r/l elbow, 9/10 r/l knee, 11/12 r/l wrist, 13/14 r/l ankle.
SKELETON: tuple[tuple[int, int], ...] = (
    (0, 2), (0, 1), (0, 3), (0, 4), (3, 7), (7, 11), (4, 8), (8, 12),
    (1, 5), (1, 6), (5, 9), (9, 13), (6, 10), (10, 14),
)  # fmt: skip
RUN_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


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


# --- dependencies ---------------------------------------------------------------------------------


def require_matplotlib() -> Any:
    """Import matplotlib with the Agg backend, or explain how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportDependencyError(
            "vosbench report needs matplotlib for its plots, which is not installed. "
            "Install the report extra: pip install 'vosbench[report]' (matplotlib and imageio)."
        ) from None
    return Figure


def _mp4_plugin() -> str:
    try:
        import imageio.v3  # noqa: F401
    except ImportError:
        raise ReportDependencyError(
            "MP4 videos need imageio, which is not installed. Install the report extra "
            "(pip install 'vosbench[report]') plus an encoder (pip install imageio-ffmpeg), or use --video gif."
        ) from None
    try:
        import imageio_ffmpeg  # noqa: F401

        return "FFMPEG"
    except ImportError:
        pass
    try:
        import av  # noqa: F401

        return "pyav"
    except ImportError:
        raise ReportDependencyError(
            "MP4 videos need an ffmpeg backend for imageio: pip install imageio-ffmpeg (or av), "
            "or use --video gif (Pillow only)."
        ) from None


# --- frame rendering ------------------------------------------------------------------------------


def _palette_lut() -> np.ndarray:
    from vosbench.core.labels import PALETTE

    return np.frombuffer(PALETTE, dtype=np.uint8).reshape(256, 3)


def _edges(ids: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another id (a 2-pixel band along every boundary)."""
    edge = np.zeros(ids.shape, dtype=bool)
    h = ids[:, :-1] != ids[:, 1:]
    v = ids[:-1, :] != ids[1:, :]
    edge[:, :-1] |= h
    edge[:, 1:] |= h
    edge[:-1, :] |= v
    edge[1:, :] |= v
    return edge


def _resize(arr: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    from PIL import Image

    if (arr.shape[1], arr.shape[0]) == size:
        return arr
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(arr).resize(size, resample))


def _target_size(shape: tuple[int, ...], width: int) -> tuple[int, int]:
    h, w = shape[:2]
    scale = min(1.0, width / w) if width > 0 else 1.0
    return max(1, round(w * scale)), max(1, round(h * scale))


def overlay_masks(
    rgb: np.ndarray,
    pred: np.ndarray | None,
    gt: np.ndarray | None = None,
    *,
    alpha: float = 0.5,
    width: int = 0,
) -> np.ndarray:
    """Blend predicted ids into a frame with the DAVIS palette colours, outline them, and draw
    the ground-truth outline in white.

    Args:
        rgb: (H, W, 3) uint8 frame.
        pred: (H', W') uint8 predicted ids (resized to the frame if needed); ``None`` = none.
        gt: (H', W') uint8 ground-truth ids for the outline, or ``None``.
        alpha: Opacity of the mask colours.
        width: Scale the result down to at most this width (0 = keep).

    Returns:
        (h, w, 3) uint8 image.
    """
    size = _target_size(rgb.shape, width)
    out = _resize(rgb, size, nearest=False).astype(np.float32)
    lut = _palette_lut()
    if pred is not None:
        ids = _resize(pred, size, nearest=True)
        fg = (ids > 0) & (ids != 255)
        colour = lut[ids].astype(np.float32)
        out[fg] = (1 - alpha) * out[fg] + alpha * colour[fg]
        rim = _edges(ids) & fg  # the object's own outermost pixels, in its full colour
        out[rim] = colour[rim]
    if gt is not None:
        g = _resize(gt, size, nearest=True)
        out[_edges(g) & (g > 0) & (g != 255)] = 255.0
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def draw_skeleton(
    rgb: np.ndarray,
    joints: dict[int, tuple[float, float]],
    gt: np.ndarray | None = None,
    *,
    width: int = 0,
) -> np.ndarray:
    """Draw predicted keypoints and the JHMDB skeleton (and ground-truth joints as white rings).

    Args:
        rgb: (H, W, 3) uint8 frame.
        joints: Joint index (0..14, SPEC §3 order) -> (x, y) in pixels of ``rgb``; negative or NaN
            coordinates mean "not visible".
        gt: (15, 2) ground-truth (x, y), NaN where unannotated, or ``None``.
        width: Scale the result down to at most this width (0 = keep).
    """
    from PIL import Image, ImageDraw

    size = _target_size(rgb.shape, width)
    sx, sy = size[0] / rgb.shape[1], size[1] / rgb.shape[0]
    im = Image.fromarray(_resize(rgb, size, nearest=False))
    draw = ImageDraw.Draw(im)
    lut = _palette_lut()

    def visible(p: tuple[float, float] | None) -> bool:
        return p is not None and all(math.isfinite(c) and c >= 0 for c in p)

    pts = {j: (x * sx, y * sy) for j, (x, y) in joints.items() if visible((x, y))}
    for a, b in SKELETON:
        if a in pts and b in pts:
            draw.line([pts[a], pts[b]], fill=(255, 255, 0), width=2)
    r = max(2.0, size[0] / 160)
    for j, (x, y) in pts.items():
        c = tuple(int(v) for v in lut[1 + j % 20])
        draw.ellipse([x - r, y - r, x + r, y + r], fill=c, outline=(0, 0, 0))
    if gt is not None:
        for x, y in np.asarray(gt, dtype=float).reshape(-1, 2):
            if visible((x, y)):
                x, y = x * sx, y * sy
                draw.ellipse([x - r - 1.5, y - r - 1.5, x + r + 1.5, y + r + 1.5], outline=(255, 255, 255))
    return np.asarray(im)


def _caption(frame: np.ndarray, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.fromarray(frame)
    draw = ImageDraw.Draw(im)
    x0, y0, x1, y1 = draw.textbbox((4, 3), text)
    draw.rectangle([x0 - 3, y0 - 2, x1 + 3, y1 + 2], fill=(0, 0, 0))
    draw.text((4, 3), text, fill=(255, 255, 255))
    return np.asarray(im)


def write_video(frames: list[np.ndarray], path: Path, fps: float) -> Path:
    """Write frames as an animated GIF (Pillow) or an MP4 (imageio), by ``path``'s suffix."""
    if not frames:
        raise ConfigError(f"{path}: no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    if path.suffix == ".gif":
        from PIL import Image

        ims = [Image.fromarray(f) for f in frames]
        ims[0].save(tmp, save_all=True, append_images=ims[1:], duration=max(20, round(1000 / fps)), loop=0)
    elif path.suffix == ".mp4":
        plugin = _mp4_plugin()
        import imageio.v3 as iio

        h, w = frames[0].shape[:2]
        # H.264 players want sizes in whole 16-pixel macro blocks: pad with black, never resample
        ph, pw = -h % 16, -w % 16
        stack = np.stack([np.pad(f, ((0, ph), (0, pw), (0, 0))) for f in frames])
        iio.imwrite(tmp, stack, fps=fps, plugin=plugin, codec="libx264")
    else:
        raise ConfigError(f"{path}: unknown video format (use .gif or .mp4)")
    os.replace(tmp, path)
    return path


def _pick(n: int, max_frames: int | None) -> list[int]:
    if max_frames is None or n <= max_frames:
        return list(range(n))
    return sorted({round(i * (n - 1) / (max_frames - 1)) for i in range(max_frames)}) if max_frames > 1 else [0]


# --- plots ----------------------------------------------------------------------------------------


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100, format="png")
    os.replace(tmp, path)
    return path


def plot_jf_bars(per_run: list[tuple[str, dict[str, float]]], sequences: list[str], path: Path) -> Path:
    """Grouped bars: J&F (%) per sequence, one bar per run."""
    Figure = require_matplotlib()
    n = max(1, len(per_run))
    fig = Figure(figsize=(max(6.0, 0.35 * len(sequences) * n + 2), 4.0), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(sequences))
    w = 0.8 / n
    for i, (label, values) in enumerate(per_run):
        ys = [100 * values.get(s, math.nan) for s in sequences]
        ax.bar(x + (i - (n - 1) / 2) * w, ys, w, label=label, color=RUN_COLOURS[i % len(RUN_COLOURS)])
    ax.set_xticks(x, sequences, rotation=45 if len(sequences) > 6 else 0, ha="right" if len(sequences) > 6 else "center")
    ax.set_ylim(0, 100)
    ax.set_ylabel("J&F (%)")
    ax.set_title("J&F per sequence")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper right")
    return _save(fig, path)


def _frame_x(frames: list[str]) -> list[float]:
    try:
        return [float(int(f)) for f in frames]
    except ValueError:
        return [float(i) for i in range(len(frames))]


def plot_j_curve(
    seq: str, per_run: list[tuple[str, dict[str, list[tuple[str, float, float]]]]], path: Path
) -> Path:
    """J (%) per frame for one sequence: every object of the first run (thin) and each run's mean
    over objects (thick), to show where propagation drifts."""
    Figure = require_matplotlib()
    fig = Figure(figsize=(6.0, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, objects) in enumerate(per_run):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        if not objects:
            continue
        frames = list(dict.fromkeys(f for rows in objects.values() for f, _, _ in rows))
        xs = _frame_x(frames)
        pos = {f: k for k, f in enumerate(frames)}
        table = np.full((len(objects), len(frames)), np.nan)
        for o, rows in enumerate(objects.values()):
            for f, j, _ in rows:
                table[o, pos[f]] = j
        if i == 0 and len(objects) > 1:
            for o, name in enumerate(objects):
                ax.plot(xs, 100 * table[o], lw=0.8, alpha=0.6, label=f"{label}: object {name}")
        with np.errstate(invalid="ignore"):
            counts = np.sum(~np.isnan(table), axis=0)
            mean = np.where(counts > 0, np.nansum(table, axis=0) / np.maximum(counts, 1), np.nan)
        ax.plot(xs, 100 * mean, lw=2.0, color=colour, label=f"{label}: mean")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, 100)
    ax.set_xlabel("frame")
    ax.set_ylabel("J (%)")
    ax.set_title(f"{seq}: J per frame")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="lower left")
    return _save(fig, path)


def plot_pck_curve(per_run: list[tuple[str, dict[float, float]]], path: Path) -> Path:
    """PCK (%) against the threshold alpha, one line per run."""
    Figure = require_matplotlib()
    fig = Figure(figsize=(5.0, 3.5), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, curve) in enumerate(per_run):
        if curve:
            xs = sorted(curve)
            ax.plot(xs, [100 * curve[x] for x in xs], marker="o", color=RUN_COLOURS[i % len(RUN_COLOURS)], label=label)
    ax.set_ylim(0, 100)
    ax.set_xlabel("threshold alpha (fraction of 0.6 x GT box diagonal)")
    ax.set_ylabel("PCK (%)")
    ax.set_title("PCK curve")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return _save(fig, path)


def plot_joint_bars(joints: list[str], columns: dict[str, list[float]], title: str, path: Path) -> Path:
    """Grouped bars of per-joint PCK (values as stored; fractions are shown in %)."""
    Figure = require_matplotlib()
    fig = Figure(figsize=(max(6.0, 0.45 * len(joints) + 2), 3.8), layout="constrained")
    ax = fig.add_subplot()
    n = max(1, len(columns))
    x = np.arange(len(joints))
    for i, (name, vals) in enumerate(columns.items()):
        arr = np.asarray(vals, dtype=float)
        if np.nanmax(arr, initial=0) <= 1.0:
            arr = arr * 100
        ax.bar(x + (i - (n - 1) / 2) * 0.8 / n, arr, 0.8 / n, label=name, color=RUN_COLOURS[i % len(RUN_COLOURS)])
    ax.set_xticks(x, joints, rotation=45, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel("PCK (%)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


# --- videos from a run ----------------------------------------------------------------------------


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "_"


def _open_dataset(record: RunRecord, data_root: Path | None) -> Any:
    from vosbench.datasets.factory import load_dataset

    root = data_root if data_root is not None else record.dataset_root
    return load_dataset(record.dataset, root)


def _mask_video(record: RunRecord, seq: Any, opts: ReportOptions) -> list[np.ndarray]:
    from vosbench.core.labels import read_label_png

    pred_dir = record.run_dir / "predictions" / seq.name
    index = {name: i for i, name in enumerate(seq.frames)}
    preds = sorted((index[p.stem], p) for p in pred_dir.glob("*.png") if p.stem in index)
    frames = []
    for k in _pick(len(preds), opts.max_frames):
        t, png = preds[k]
        rgb = seq.read_image(t)
        gt = seq.read_gt(t) if opts.gt_contour and t in seq.gt else None
        img = overlay_masks(rgb, read_label_png(png), gt, alpha=opts.alpha, width=opts.width)
        frames.append(_caption(img, f"{seq.name}  {seq.frames[t]}"))
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
    frames = []
    for k in _pick(len(ts), opts.max_frames):
        t = ts[k]
        gt = gt_all[t] if gt_all is not None and t < len(gt_all) else None
        img = draw_skeleton(seq.read_image(t), by_t[t], gt, width=opts.width)
        frames.append(_caption(img, f"{seq.name}  {seq.frames[t]}"))
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


def _rel(path: Path, out_dir: Path) -> str:
    return quote(Path(os.path.relpath(path, out_dir)).as_posix())


def _media(path: Path, out_dir: Path, alt: str) -> str:
    src = _rel(path, out_dir)
    if path.suffix == ".mp4":
        return f'<video src="{src}" controls loop muted playsinline title="{html.escape(alt)}"></video>'
    return f'<img src="{src}" alt="{html.escape(alt)}" loading="lazy">'


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
    if opts.video not in VIDEO_FORMATS:
        raise ConfigError(f"unknown video format {opts.video!r}; choose {', '.join(VIDEO_FORMATS)}")
    if opts.max_frames is not None and opts.max_frames < 1:
        raise ConfigError("--max-frames must be at least 1")
    if not opts.fps > 0:
        raise ConfigError("--fps must be > 0")
    require_matplotlib()
    if opts.video == "mp4":
        _mp4_plugin()  # fail before any work rather than after the plots
    main = load_record(run_dir)
    records = [main] + [load_record(c) for c in compare]
    labels = run_labels(records)
    out_dir = Path(opts.out) if opts.out is not None else main.run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    rep = Report(html=out_dir / "report.html", out_dir=out_dir)
    notes = rep.notes
    for r in records:
        if not r.complete:
            notes.append(f"run {r.run_id} did not finish (status: {r.status}); its numbers may be partial")
    if len({r.dataset for r in records}) > 1:
        notes.append("the compared runs are on different datasets: " + ", ".join(sorted({r.dataset for r in records})))

    sections: list[str] = []
    pose = main.task == "pose"

    # Per-sequence J&F bars across runs.
    if not pose:
        per_run = []
        for label, r in zip(labels, records):
            try:
                per_run.append((label, per_sequence_jf(r.run_dir)))
            except InputFileError as e:
                notes.append(f"no per-sequence scores for {label}: {e}")
        seqs = list(dict.fromkeys([*main.sequences, *(s for _, v in per_run for s in v)]))
        seqs = [s for s in seqs if any(s in v for _, v in per_run)]
        if opts.sequences:
            seqs = [s for s in seqs if s in set(opts.sequences)]
        if per_run and seqs:
            img = plot_jf_bars(per_run, seqs, out_dir / "jf_per_sequence.png")
            rep.images.append(img)
            sections.append(
                "<h2>J&amp;F per sequence</h2><p>Mean over each sequence's objects of (J-Mean + F-Mean) / 2.</p>"
                + _media(img, out_dir, "J&F per sequence")
            )
    else:
        curves = [(label, r.pck_curve) for label, r in zip(labels, records) if r.pck_curve]
        if curves:
            img = plot_pck_curve(curves, out_dir / "pck_curve.png")
            rep.images.append(img)
            sections.append("<h2>PCK curve</h2>" + _media(img, out_dir, "PCK curve"))
        else:
            notes.append("no pck_curve in the run records; PCK curve left out")
        if (main.run_dir / "per_joint_pck.csv").is_file():
            try:
                joints, cols = read_per_joint_pck(main.run_dir)
                # the two thresholds papers report, when the file has a whole curve
                cols = {k: v for k, v in cols.items() if k in ("PCK@0.1", "PCK@0.2")} or cols
                if joints and cols:
                    img = plot_joint_bars(joints, cols, f"PCK per joint ({labels[0]})", out_dir / "pck_per_joint.png")
                    rep.images.append(img)
                    sections.append("<h2>PCK per joint</h2>" + _media(img, out_dir, "PCK per joint"))
            except InputFileError as e:
                notes.append(str(e))

    if len(records) > 1:  # sorted bars of the per-sequence differences to each compared run
        from vosbench.results.report_compare import paired_section

        text, imgs, more = paired_section(records, labels, out_dir, require_matplotlib(), _save, _media)
        if text:
            sections.append(text)
        rep.images.extend(imgs)
        notes.extend(more)

    # Per-sequence: overlay video and J-per-frame curve.
    frames_by_run: list[dict[str, Any]] = []
    if not pose:
        for label, r in zip(labels, records):
            try:
                frames_by_run.append(read_per_frame(r.run_dir))
            except InputFileError as e:
                frames_by_run.append({})
                notes.append(f"no per-frame scores for {label}: {e}")
    dataset = None
    if opts.video != "none":
        try:
            dataset = _open_dataset(main, opts.data_root)
        except VosbenchError as e:
            notes.append(
                f"frames not available, so no videos ({e}). Pass --data-root to point at the dataset."
            )
    seq_names = list(dict.fromkeys(main.sequences or (frames_by_run[0] if frames_by_run else {})))
    if not seq_names and (main.run_dir / "predictions").is_dir():
        seq_names = sorted(p.name for p in (main.run_dir / "predictions").iterdir() if p.is_dir())
    if not seq_names and (main.run_dir / "keypoints").is_dir():
        seq_names = sorted(p.stem for p in (main.run_dir / "keypoints").glob("*.csv"))
    if opts.sequences:
        unknown = [s for s in opts.sequences if s not in seq_names]
        if unknown:
            raise ConfigError(f"sequence(s) {', '.join(unknown)} not in run {main.run_id}; it has: {', '.join(seq_names)}")
        seq_names = [s for s in seq_names if s in set(opts.sequences)]
    seq_blocks = []
    no_pred = False
    for name in seq_names:
        parts = []
        if dataset is not None:
            try:
                seq = dataset.sequence(name)
                if pose:
                    frames = _pose_video(main, seq, opts)
                elif (main.run_dir / "predictions" / name).is_dir():
                    frames = _mask_video(main, seq, opts)
                else:
                    frames, no_pred = [], True
                if frames and opts.scale != 1.0:
                    from vosbench.results.report_size import scale_frames

                    frames = scale_frames(frames, opts.scale)
                if frames:
                    video = write_video(frames, out_dir / f"video_{_safe(name)}.{opts.video}", opts.fps)
                    rep.videos.append(video)
                    parts.append(f"<figure>{_media(video, out_dir, name + ' overlay')}<figcaption>"
                                 + ("predicted keypoints; white rings: ground truth" if pose else
                                    "predicted masks; white outline: ground truth" if opts.gt_contour else
                                    "predicted masks") + "</figcaption></figure>")
            except VosbenchError as e:
                notes.append(f"{name}: no video ({e})")
        if not pose:
            j_curves = [(label, fr.get(name, {})) for label, fr in zip(labels, frames_by_run)]
            if any(obj for _, obj in j_curves):
                img = plot_j_curve(name, j_curves, out_dir / f"j_curve_{_safe(name)}.png")
                rep.images.append(img)
                parts.append(f"<figure>{_media(img, out_dir, name + ' J per frame')}</figure>")
        if parts:
            seq_blocks.append(f'<h3 id="{html.escape(_safe(name))}">{html.escape(name)}</h3><div class=row>{"".join(parts)}</div>')
    if no_pred:
        notes.append("the run saved no predictions (--no-save-predictions), so there are no mask videos")
    if seq_blocks:
        sections.append("<h2>Sequences</h2>" + "".join(seq_blocks))

    # Files of the run, linked relatively.
    links = []
    for r, label in zip(records, labels):
        for fname in ("summary.json", "per_object.csv", "per_frame.csv", "per_joint_pck.csv"):
            p = r.run_dir / fname
            if p.is_file():
                links.append(f'<a href="{_rel(p, out_dir)}">{html.escape(label)}: {fname}</a>')
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
    if notes:
        body.append('<h2>Notes</h2><ul class=notes>' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    from vosbench.core.version import __version__
    from vosbench.results.report_size import human_size, media_bytes

    media = media_bytes(rep.videos + rep.images)
    body.append(f"<p class=sub>Report size: {human_size(media)} in {len(rep.videos)} video(s) "
                f"({html.escape(opts.video)}) and {len(rep.images)} plot(s), plus this page.</p>")
    stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    body.append(f"<footer>Made by vosbench {html.escape(__version__)} on {stamp}. Works offline: every link is relative.</footer>")
    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>vosbench report: {html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    from vosbench.core.io import atomic_write_text

    atomic_write_text(rep.html, doc)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(rep.html, 0o666 & ~umask)  # the temp-file writer creates 0600; a report is for sharing
    rep.total_bytes = media + rep.html.stat().st_size
    return rep
