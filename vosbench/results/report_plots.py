"""The report's plots (matplotlib, the ``report`` extra): J&F per sequence, J per frame, PCK
curves and PCK per joint."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vosbench.results.report_media import RUN_COLOURS, require_matplotlib, save_figure


def plot_jf_bars(
    per_run: list[tuple[str, dict[str, float]]], sequences: list[str], path: Path,
    ylabel: str = "J&F (%)", title: str = "J&F per sequence",
) -> Path:
    """Grouped bars: J&F (%) (or another fraction, ``ylabel``) per sequence, one bar per run."""
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
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper right")
    return save_figure(fig, path)


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
    return save_figure(fig, path)


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
    return save_figure(fig, path)


def plot_joint_bars(
    joints: list[str], columns: dict[str, list[float]], title: str, path: Path, ylabel: str = "PCK (%)"
) -> Path:
    """Grouped bars of per-joint PCK, or any per-item score (values as stored; fractions are shown in %)."""
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
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return save_figure(fig, path)
