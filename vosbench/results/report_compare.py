"""The report's paired-difference section: for each compared run, the per-sequence difference
to the main run as a sorted bar chart, with the bootstrap interval and the paired tests of
:mod:`vosbench.results.compare` in the caption."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np

from vosbench.core.errors import VosbenchError
from vosbench.records.reader import RunRecord
from vosbench.records.stats_io import load_clustered
from vosbench.results.compare import PairComparison, apply_holm, compare_pair, default_metric
from vosbench.results.report_media import media_html, require_matplotlib, save_figure


def plot_paired_differences(pair: PairComparison, path: Path) -> Path:
    """Horizontal bars of ``a - b`` per sequence (points), sorted, with the score difference and
    its interval as a line and a band."""
    items = sorted(zip(pair.sequences, pair.diffs), key=lambda t: (t[1], t[0]))
    names = [s for s, _ in items]
    vals = np.array([v for _, v in items])
    Figure = require_matplotlib()
    fig = Figure(figsize=(6.5, max(2.5, 0.28 * len(names) + 1.2)), layout="constrained")
    ax = fig.add_subplot()
    colours = ["#2ca02c" if v > 0 else "#d62728" if v < 0 else "#7f7f7f" for v in vals]
    ax.barh(np.arange(len(names)), vals, color=colours)
    ax.set_yticks(np.arange(len(names)), names, fontsize="small")
    d = pair.difference
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(d.estimate, color="#1f77b4", lw=1.5, label=f"score difference {d.estimate:+.1f}")
    if math.isfinite(d.low) and math.isfinite(d.high):
        ax.axvspan(d.low, d.high, color="#1f77b4", alpha=0.15, label=f"{100 * d.level:g}% CI [{d.low:+.1f}, {d.high:+.1f}]")
    ax.set_xlabel(f"{pair.metric}: {pair.a} minus {pair.b} (points)")
    ax.set_title("Paired difference per sequence")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="x-small", loc="lower right")
    return save_figure(fig, path)


def paired_section(records: list[RunRecord], labels: list[str], out_dir: Path) -> tuple[str, list[Path], list[str]]:
    """HTML, images and notes of the section comparing the main run (first) with each other run."""
    images: list[Path] = []
    notes: list[str] = []
    try:
        main = load_clustered(records[0])
    except VosbenchError as e:
        return "", [], [f"no paired differences: {e}"]
    metric = default_metric(main)
    pairs: list[PairComparison] = []
    for r, label in zip(records[1:], labels[1:]):
        try:
            pairs.append(compare_pair(main, load_clustered(r), metric, labels=(labels[0], label)))
        except VosbenchError as e:
            notes.append(f"no paired differences for {label}: {e}")
    if not pairs:
        return "", [], notes
    apply_holm(pairs)
    parts = []
    for k, pair in enumerate(pairs, start=1):
        img = plot_paired_differences(pair, out_dir / f"paired_diff_{k}.png")
        images.append(img)
        sf = pair.p_sign_flip_holm if len(pairs) > 1 else pair.sign_flip.p_value
        caption = (
            f"{pair.a} minus {pair.b} on {len(pair.sequences)} shared sequences: {pair.difference.estimate:+.1f} points, "
            f"{100 * pair.difference.level:g}% CI [{pair.difference.low:+.1f}, {pair.difference.high:+.1f}]; "
            f"sign-flip p = {sf:.3g}{' (Holm)' if len(pairs) > 1 else ''}, Wilcoxon p = {pair.wilcoxon.p_value:.3g}; "
            f"wins {pair.wins_a}/{pair.wins_b}/{pair.ties} (A/B/ties)."
        )
        parts.append(f"<figure>{media_html(img, out_dir, 'paired differences')}<figcaption>{html.escape(caption)}</figcaption></figure>")
    text = (
        "<h2>Paired differences</h2><p>Per shared sequence, the main run minus each compared run "
        "(green: main run better). Details: <code>vosbench compare</code>.</p><div class=row>" + "".join(parts) + "</div>"
    )
    return text, images, notes
