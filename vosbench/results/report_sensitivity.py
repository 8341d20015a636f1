"""Sensitivity plots: how a score moves with each swept protocol setting.

For a sweep (a run folder with a ``sweep`` block: every grid point is a sibling folder
``<sweep id>-p<i>``) or a tuned run (a record with a ``tuning`` block, which holds every grid
point's score on the tuning split), one PNG per swept setting: the setting's values on the x axis
(in grid order, as categories, so ``none`` and names plot like numbers), the score in % on the y
axis with its confidence interval as a band, one line per combination of the other settings.
The numbers drawn are the records' own (:func:`sensitivity_series` is what goes to matplotlib).
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vosbench.core.errors import VosbenchError
from vosbench.records.reader import RunRecord, load_record
from vosbench.records.schema import METRIC_BY_KEY, PRIMARY
from vosbench.results.report_media import RUN_COLOURS, media_html, require_matplotlib, save_figure

#: most lines (combinations of the other settings) one plot draws; the rest are named in a note
MAX_LINES = len(RUN_COLOURS)


@dataclass(frozen=True)
class GridScore:
    """One grid point: its settings and its score with the interval bounds (fractions; ``None``
    where undefined)."""

    point: dict[str, str]
    score: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Series:
    """One line of a sensitivity plot: the other settings' values (``fixed``, as text in
    ``label``), and per value of the plotted setting (``x``) the score and its bounds in percent
    (NaN where undefined)."""

    label: str
    fixed: dict[str, str]
    x: list[str]
    y: list[float]
    low: list[float]
    high: list[float]


@dataclass(frozen=True)
class Sensitivity:
    """A grid's scores: the grid (setting -> values in order), the points, the metric, where
    they were measured, and the marked points (``best``/``chosen`` -> settings) of a tune."""

    grid: dict[str, list[str]]
    points: list[GridScore]
    metric: str
    dataset: str
    marks: dict[str, dict[str, str]]


def _pct(v: float | None) -> float:
    return math.nan if v is None or not math.isfinite(v) else 100.0 * v


def sensitivity_series(grid: Mapping[str, Sequence[str]], points: Sequence[GridScore]) -> dict[str, list[Series]]:
    """Per swept setting, one :class:`Series` per combination of the other settings' values."""
    by_point = {tuple(sorted(p.point.items())): p for p in points}
    out: dict[str, list[Series]] = {}
    for setting, values in grid.items():
        others = [k for k in grid if k != setting]
        lines = []
        for combo in itertools.product(*(grid[k] for k in others)):
            fixed = dict(zip(others, combo))
            row = [by_point.get(tuple(sorted({**fixed, setting: v}.items()))) for v in values]
            lines.append(Series(
                label=", ".join(f"{k}={v}" for k, v in fixed.items()),
                fixed=fixed,
                x=list(values),
                y=[_pct(p.score if p else None) for p in row],
                low=[_pct(p.low if p else None) for p in row],
                high=[_pct(p.high if p else None) for p in row],
            ))
        out[setting] = lines
    return out


def plot_sensitivity(setting: str, series: list[Series], sens: Sensitivity, path: Path) -> Path:
    """The score (%) against the values of ``setting``, a band for each line's interval; a tune's
    best and chosen points are marked."""
    Figure = require_matplotlib()
    header = METRIC_BY_KEY[sens.metric].header if sens.metric in METRIC_BY_KEY else sens.metric
    fig = Figure(figsize=(max(4.5, 0.8 * len(series[0].x) + 3), 3.6), layout="constrained")
    ax = fig.add_subplot()
    for i, line in enumerate(series[:MAX_LINES]):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        xs = list(range(len(line.x)))
        ax.fill_between(xs, line.low, line.high, color=colour, alpha=0.18, linewidth=0)
        ax.plot(xs, line.y, marker="o", color=colour, label=line.label or header)
    for name, marker in (("best", "*"), ("chosen", "D")):
        point = sens.marks.get(name)
        for line in series[:MAX_LINES]:
            if point and {k: v for k, v in point.items() if k != setting} == line.fixed and point.get(setting) in line.x:
                k = line.x.index(point[setting])
                ax.plot([k], [line.y[k]], marker=marker, markersize=13, markerfacecolor="none", color="black",
                        linestyle="none", label=name)
    ax.set_xticks(list(range(len(series[0].x))), series[0].x)
    ax.set_xlabel(setting)
    ax.set_ylabel(f"{header} (%)")
    ax.set_title(f"{header} against {setting} on {sens.dataset}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="best")
    return save_figure(fig, path)


def _metric(record: RunRecord) -> str:
    return next((k for k in PRIMARY if k in record.metrics), next(iter(record.metrics), "JF_mean"))


def _score(record: RunRecord, point: dict[str, str], metric: str) -> GridScore:
    ci = record.summary.get("ci", {}).get("metrics", {}).get(metric)
    return GridScore(point, record.metrics.get(metric), ci["low"] if ci else None, ci["high"] if ci else None)


def from_sweep(record: RunRecord) -> tuple[Sensitivity, list[str]]:
    """The scores of every grid point of ``record``'s sweep (its sibling folders), and notes on
    the points that cannot be read."""
    sweep = record.summary["sweep"]
    metric = _metric(record)
    points, notes = [], []
    for i in range(sweep["size"]):
        folder = record.run_dir.parent / f"{sweep['id']}-p{i}"
        try:
            other = record if i == sweep["index"] else load_record(folder)
        except VosbenchError as e:
            notes.append(f"sensitivity: grid point {i} left out ({e})")
            continue
        if other.complete and other.summary.get("sweep", {}).get("id") == sweep["id"]:
            points.append(_score(other, dict(other.summary["sweep"]["point"]), metric))
        else:
            notes.append(f"sensitivity: grid point {i} ({folder.name}) left out: not a finished run of this sweep")
    return Sensitivity(dict(sweep["settings"]), points, metric, record.dataset, {}), notes


def from_tuning(record: RunRecord) -> Sensitivity:
    """The tuning-split scores a tuned run's record keeps, with the best and chosen points marked."""
    t = record.tuning
    assert t is not None
    points = [GridScore(dict(p["point"]), p["score"], p["low"], p["high"]) for p in t["points"]]
    marks = {"best": dict(t["points"][t["best"]]["point"]), "chosen": dict(t["choice"])}
    return Sensitivity(dict(t["grid"]), points, t["metric"], t["tuned_on"]["dataset"], marks)


def sensitivity_section(record: RunRecord, out_dir: Path) -> tuple[str, list[Path], list[str]]:
    """HTML, images and notes of the report's sensitivity section ("" for a run that is neither
    a sweep point nor tuned)."""
    if record.tuning is not None:
        sens, notes = from_tuning(record), list[str]()
        intro = (f"Scores on the tuning split {html.escape(sens.dataset)} that chose this run's settings "
                 f"(rule {html.escape(record.tuning['rule'])}); bands: {100 * record.tuning['ci_level']:g}% intervals.")
        if record.tuning["allow_test_tuning"]:
            intro += " <strong>Chosen on evaluation data (--allow-test-tuning).</strong>"
    elif "sweep" in record.summary:
        sens, notes = from_sweep(record)
        intro = "Scores of every point of this run's sweep; bands: each run's bootstrap interval."
    else:
        return "", [], []
    if not sens.points:
        return "", [], notes
    images, parts = [], []
    for setting, series in sensitivity_series(sens.grid, sens.points).items():
        if len(series) > MAX_LINES:
            notes.append(f"sensitivity to {setting}: {len(series)} combinations of the other settings, "
                         f"the first {MAX_LINES} drawn")
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in setting)
        img = plot_sensitivity(setting, series, sens, out_dir / f"sensitivity_{safe}.png")
        images.append(img)
        parts.append(f"<figure>{media_html(img, out_dir, 'sensitivity to ' + setting)}</figure>")
    text = f"<h2>Sensitivity</h2><p>{intro}</p><div class=row>{''.join(parts)}</div>"
    return text, images, notes
