"""Paired comparison of runs (``vosbench compare``): on the sequences two runs share, the
difference per sequence, the bootstrap interval of the difference of their scores, a sign-flip
permutation test and the Wilcoxon signed-rank test, wins per model and the sequences that differ
most. With more than two runs every pair is compared and the p-values are Holm-corrected.

The difference of a metric is the difference of the runs' scores as the leaderboard computes
them (mean over all objects of the shared sequences), so a sequence weighs with its number of
objects; the sign-flip test uses the same weights, the Wilcoxon test the plain per-sequence
differences. See :mod:`vosbench.records.stats` for the resampling.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vosbench.core.errors import ConfigError, InputFileError
from vosbench.records.reader import RunRecord, load_record
from vosbench.records.labels import checkpoint_label, fmt_setting, model_label
from vosbench.records.stats import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Clustered,
    Interval,
    TestResult,
    holm,
    paired_difference_interval,
    sign_flip_test,
    wilcoxon_test,
)
from vosbench.records.stats_io import load_clustered
from vosbench.results.formats import render_as

# Differences smaller than this (in percent points) count as a tie when counting wins.
TIE = 1e-9
# Below this many shared sequences the output says how little the data can show.
SMALL_N = 10


@dataclass
class PairComparison:
    """Run ``a`` against run ``b`` on their shared sequences (values in percent).

    Attributes:
        a, b: Labels of the two runs.
        metric: Metric key compared.
        sequences: The shared sequences, in run ``a``'s order.
        values_a, values_b: Each run's value per shared sequence.
        score_a, score_b: Each run's score over the shared sequences (mean over objects).
        difference: Interval of ``score_a - score_b`` (paired cluster bootstrap).
        sign_flip, wilcoxon: The two tests (two-sided).
        p_sign_flip_holm, p_wilcoxon_holm: Holm-adjusted p-values over all pairs compared together.
        wins_a, wins_b, ties: Sequences on which each run is better, or equal.
        warnings: Differences between the runs that the reader should know about.
    """

    a: str
    b: str
    metric: str
    sequences: list[str]
    values_a: list[float]
    values_b: list[float]
    score_a: float
    score_b: float
    difference: Interval
    sign_flip: TestResult
    wilcoxon: TestResult
    wins_a: int
    wins_b: int
    ties: int
    p_sign_flip_holm: float = math.nan
    p_wilcoxon_holm: float = math.nan
    warnings: list[str] = field(default_factory=list)

    @property
    def diffs(self) -> list[float]:
        return [x - y for x, y in zip(self.values_a, self.values_b)]

    def largest(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` sequences with the largest absolute difference (a - b), largest first."""
        pairs = sorted(zip(self.sequences, self.diffs), key=lambda p: (-abs(p[1]), p[0]))
        return pairs[:k]

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the (Holm-adjusted) sign-flip p-value is below ``alpha``."""
        p = self.p_sign_flip_holm if not math.isnan(self.p_sign_flip_holm) else self.sign_flip.p_value
        return p < alpha


@dataclass
class CompareReport:
    """Every pair compared, with the settings used."""

    labels: list[str]
    run_ids: list[str]
    run_dirs: list[str]
    metric: str
    pairs: list[PairComparison]
    level: float
    method: str
    resamples: int
    seed: int
    alpha: float
    warnings: list[str] = field(default_factory=list)


def run_labels(records: Sequence[RunRecord]) -> list[str]:
    """Short unique labels: model (and checkpoint), with protocol and run id where needed, and the
    run folder where even those are shared (one run id used for two runs folders)."""
    base = []
    for r in records:
        ck = checkpoint_label(r)
        base.append(model_label(r) + ("" if ck == "-" else f" @ {ck}"))
    labels = [
        f"{b} ({r.protocol_name} v{r.protocol_version}, {r.run_id})" if base.count(b) > 1 else b
        for b, r in zip(base, records)
    ]
    return [f"{b} ({r.run_dir})" if labels.count(lb) > 1 else lb for lb, b, r in zip(labels, base, records)]


def _run_names(a: RunRecord, b: RunRecord) -> tuple[str, str]:
    """How messages name two runs: their run ids, or their folders when the ids are the same."""
    if a.run_id != b.run_id:
        return a.run_id, b.run_id
    return str(a.run_dir), str(b.run_dir)


def _protocol_difference(a: RunRecord, b: RunRecord) -> list[str]:
    pa, pb = a.protocol, b.protocol
    out = []
    for k in dict.fromkeys([*pa, *pb]):
        va, vb = pa.get(k, "unset"), pb.get(k, "unset")
        if va != vb:
            out.append(f"{k}: {fmt_setting(va)} vs {fmt_setting(vb)}")
    return out


def comparability(a: RunRecord, b: RunRecord, sa: Sequence[str], sb: Sequence[str], *, strict: bool = False) -> list[str]:
    """Warnings about two runs' differences (protocol, sequence sets).

    Raises:
        ConfigError: different datasets or tasks, fewer than two shared sequences, or (with
            ``strict``) any difference at all.
    """
    where = f"{a.run_dir} vs {b.run_dir}"
    if a.benchmark != b.benchmark:  # a run scored against resized GT is on a benchmark of its own
        raise ConfigError(f"{where}: different datasets ({a.benchmark} vs {b.benchmark}); only runs on one dataset can be paired")
    if a.task != b.task:
        raise ConfigError(f"{where}: different tasks ({a.task} vs {b.task})")
    warnings = []
    diff = _protocol_difference(a, b)
    if diff:
        warnings.append(f"protocols differ ({'; '.join(diff)})")
    name_a, name_b = _run_names(a, b)
    only_a = [s for s in sa if s not in set(sb)]
    only_b = [s for s in sb if s not in set(sa)]
    if only_a or only_b:
        parts = []
        if only_a:
            parts.append(f"only in {name_a}: {', '.join(only_a)}")
        if only_b:
            parts.append(f"only in {name_b}: {', '.join(only_b)}")
        warnings.append("sequence sets differ, compared on the shared ones (" + "; ".join(parts) + ")")
    shared = [s for s in sa if s in set(sb)]
    if len(shared) < 2:
        raise ConfigError(
            f"{where}: {len(shared)} shared sequence(s) with scores; a paired comparison needs at least 2"
        )
    if strict and warnings:
        raise ConfigError(f"{where}: {'; '.join(warnings)} (drop --strict to compare anyway)")
    return warnings


def default_metric(data: Clustered) -> str:
    """J&F for VOS runs, PCK@0.1 for keypoint runs, mIoU for parsing runs."""
    for key in ("JF_mean", "PCK@0.1", "mIoU"):
        if key in data.keys:
            return key
    return data.keys[0]


def compare_pair(
    a: Clustered,
    b: Clustered,
    metric: str,
    *,
    labels: tuple[str, str] = ("A", "B"),
    level: float = DEFAULT_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    method: str = "percentile",
) -> PairComparison:
    """Compare two runs' per-sequence data on the sequences both have a value for.

    Raises:
        ConfigError: ``metric`` missing from a run, or fewer than two shared sequences.
    """
    for name, d in zip(labels, (a, b)):
        if metric not in d.keys:
            raise ConfigError(f"run {name} has no per-sequence {metric!r}; it has: {', '.join(d.keys)}")
    va_all = dict(zip(a.clusters, a.per_cluster(metric)))
    vb_all = dict(zip(b.clusters, b.per_cluster(metric)))
    shared = [s for s in a.clusters if s in vb_all and not math.isnan(va_all[s]) and not math.isnan(vb_all[s])]
    if len(shared) < 2:
        raise ConfigError(f"{labels[0]} vs {labels[1]}: {len(shared)} shared sequence(s); a paired comparison needs at least 2")
    sa, sb = a.subset(shared), b.subset(shared)
    iv = paired_difference_interval(sa, sb, metric, level=level, n_resamples=n_resamples, seed=seed, method=method)
    values_a = [100.0 * va_all[s] for s in shared]
    values_b = [100.0 * vb_all[s] for s in shared]
    diffs = np.subtract(values_a, values_b)
    # the weight of a sequence in the score: its objects (the mean of both runs', normally equal)
    weights = (sa.weights(metric) + sb.weights(metric)) / 2
    ones = np.ones((1, len(shared)))
    return PairComparison(
        a=labels[0],
        b=labels[1],
        metric=metric,
        sequences=shared,
        values_a=values_a,
        values_b=values_b,
        score_a=100.0 * float(sa.statistic(ones, [metric])[metric][0]),
        score_b=100.0 * float(sb.statistic(ones, [metric])[metric][0]),
        difference=iv.scaled(100.0),
        sign_flip=sign_flip_test(diffs, weights, n_resamples=n_resamples, seed=seed),
        wilcoxon=wilcoxon_test(diffs),
        wins_a=int(np.count_nonzero(diffs > TIE)),
        wins_b=int(np.count_nonzero(diffs < -TIE)),
        ties=int(np.count_nonzero(np.abs(diffs) <= TIE)),
    )


def apply_holm(pairs: Sequence[PairComparison]) -> None:
    """Set the Holm-adjusted p-values of ``pairs`` (one family)."""
    for p, adj in zip(pairs, holm([p.sign_flip.p_value for p in pairs])):
        p.p_sign_flip_holm = adj
    for p, adj in zip(pairs, holm([p.wilcoxon.p_value for p in pairs])):
        p.p_wilcoxon_holm = adj


def compare_runs(
    run_dirs: Sequence[str | Path],
    *,
    metric: str = "auto",
    level: float = DEFAULT_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    method: str = "percentile",
    alpha: float = 0.05,
    strict: bool = False,
) -> CompareReport:
    """Compare every pair of the given run folders (see the module docstring).

    Raises:
        ConfigError: fewer than two runs, the same run twice, runs that cannot be paired, or an
            unknown metric.
        InputFileError: a run folder without a readable ``summary.json`` and per-sequence file.
    """
    if len(run_dirs) < 2:
        raise ConfigError("vosbench compare needs at least two run folders")
    if not (0.0 < alpha < 1.0):
        raise ConfigError(f"--alpha must be between 0 and 1, got {alpha}")
    records = [load_record(d) for d in run_dirs]
    seen: set[Path] = set()  # a run is its folder: two models' runs may share a run id
    for r in records:
        if r.run_dir.resolve() in seen:
            raise ConfigError(f"{r.run_dir} is given twice")
        seen.add(r.run_dir.resolve())
        if not r.complete:
            raise InputFileError(f"{r.run_dir / 'summary.json'}: the run did not finish (status {r.status}); its scores are partial")
    data = [load_clustered(r) for r in records]
    labels = run_labels(records)
    key = default_metric(data[0]) if metric == "auto" else metric
    report = CompareReport(labels=labels, run_ids=[r.run_id for r in records],
                           run_dirs=[str(r.run_dir) for r in records], metric=key, pairs=[], level=level,
                           method=method, resamples=n_resamples, seed=seed, alpha=alpha)
    for i, j in combinations(range(len(records)), 2):
        warnings = comparability(records[i], records[j], data[i].clusters, data[j].clusters, strict=strict)
        pair = compare_pair(data[i], data[j], key, labels=(labels[i], labels[j]), level=level,
                            n_resamples=n_resamples, seed=seed, method=method)
        pair.warnings = warnings
        report.pairs.append(pair)
        report.warnings.extend(f"{labels[i]} vs {labels[j]}: {w}" for w in warnings)
    apply_holm(report.pairs)
    return report


# --- rendering ------------------------------------------------------------------------------------


def _p(p: float) -> str:
    if math.isnan(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def verdict(pair: PairComparison, alpha: float, holm_corrected: bool) -> str:
    """One sentence: is the difference significant at ``alpha``?"""
    p = pair.p_sign_flip_holm if holm_corrected else pair.sign_flip.p_value
    pct = f"{100 * alpha:g} %"
    d = pair.difference
    lead = pair.a if d.estimate > 0 else pair.b
    if p < alpha:
        return f"{lead} is better by {abs(d.estimate):.1f} points: the difference is significant at {pct} (p = {_p(p)})"
    return f"the difference ({d.estimate:+.1f} points) is not significant at {pct} (p = {_p(p)})"


def summary_rows(report: CompareReport, decimals: int = 1) -> list[dict[str, Any]]:
    """One flat row per pair, for tables (values as text)."""
    holm_used = len(report.pairs) > 1
    rows = []
    for p in report.pairs:
        d = p.difference
        rows.append({
            "A": p.a,
            "B": p.b,
            "sequences": str(len(p.sequences)),
            "A score": f"{p.score_a:.{decimals}f}",
            "B score": f"{p.score_b:.{decimals}f}",
            "A - B": f"{d.estimate:+.{decimals}f}",
            f"{100 * report.level:g}% CI": f"[{d.low:+.{decimals}f}, {d.high:+.{decimals}f}]",
            "p sign-flip": _p(p.sign_flip.p_value) + (f" (Holm {_p(p.p_sign_flip_holm)})" if holm_used else ""),
            "p Wilcoxon": _p(p.wilcoxon.p_value) + (f" (Holm {_p(p.p_wilcoxon_holm)})" if holm_used else ""),
            "wins A/B/ties": f"{p.wins_a}/{p.wins_b}/{p.ties}",
            "largest differences": ", ".join(f"{s} {v:+.{decimals}f}" for s, v in p.largest(3)),
        })
    return rows


def explanation(report: CompareReport) -> list[str]:
    """The lines under the table: what was computed, and the verdicts."""
    pair0 = report.pairs[0]
    unit = "video" if report.metric.startswith("PCK") else "sequence"
    lines = [
        f"Metric {report.metric} in %. A - B: difference of the scores on the shared {unit}s; "
        f"CI: {100 * report.level:g}% {report.method} bootstrap over {unit}s ({report.resamples} resamples, seed "
        f"{report.seed}); p sign-flip: paired permutation test ({pair0.sign_flip.method}); "
        "p Wilcoxon: signed-rank test on the per-sequence differences."
        + (" p-values Holm-corrected over all pairs in brackets." if len(report.pairs) > 1 else ""),
    ]
    for p in report.pairs:
        lines.append(f"{p.a} vs {p.b}: {verdict(p, report.alpha, len(report.pairs) > 1)}.")
    n = min(len(p.sequences) for p in report.pairs)
    if n < SMALL_N:
        lines.append(
            f"note: only {n} shared {unit}s. The smallest p-value a sign-flip test can reach is 2/2^{n} = "
            f"{min(1.0, 2 / 2**n):.3g}, and a bootstrap over so few {unit}s gives too narrow an interval "
            "(it cannot see the spread between sequences it never drew); go by the p-values."
        )
    lines.extend(f"warning: {w}" for w in report.warnings)
    return lines


def to_markdown(report: CompareReport, decimals: int = 1) -> str:
    rows = summary_rows(report, decimals)
    heads = list(rows[0])
    out = ["| " + " | ".join(heads) + " |", "|" + "|".join(":--" if h in ("A", "B", "largest differences") else "--:" for h in heads) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(r[h]).replace("|", "\\|") for h in heads) + " |")
    out.append("")
    out.extend(explanation(report))
    for p in report.pairs:
        out.append("")
        out.append(f"Per {('video' if report.metric.startswith('PCK') else 'sequence')}, {p.a} vs {p.b} (sorted by A - B):")
        out.append("")
        out.append("| sequence | A | B | A - B |")
        out.append("|:--|--:|--:|--:|")
        for s, x, y in sorted(zip(p.sequences, p.values_a, p.values_b), key=lambda t: (-(t[1] - t[2]), t[0])):
            out.append(f"| {s} | {x:.{decimals}f} | {y:.{decimals}f} | {x - y:+.{decimals}f} |")
    return "\n".join(out) + "\n"


def to_csv(report: CompareReport, decimals: int = 3) -> str:
    """One line per (pair, sequence): the per-sequence differences, each line repeating the pair's
    summary (score difference, CI, p-values), so the file is both the table and its data."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["run_a", "run_b", "metric", "sequence", "a", "b", "a_minus_b", "score_a", "score_b", "difference",
                "difference_ci_low", "difference_ci_high", "p_sign_flip", "p_sign_flip_holm", "p_wilcoxon",
                "p_wilcoxon_holm", "wins_a", "wins_b", "ties"])
    r = lambda v: repr(round(float(v), decimals))  # noqa: E731
    for p in report.pairs:
        for s, x, y in zip(p.sequences, p.values_a, p.values_b):
            w.writerow([p.a, p.b, p.metric, s, r(x), r(y), r(x - y), r(p.score_a), r(p.score_b),
                        r(p.difference.estimate), r(p.difference.low), r(p.difference.high),
                        repr(p.sign_flip.p_value), repr(p.p_sign_flip_holm), repr(p.wilcoxon.p_value),
                        repr(p.p_wilcoxon_holm), p.wins_a, p.wins_b, p.ties])
    return buf.getvalue()


def to_json(report: CompareReport, decimals: int = 3) -> str:
    def rd(v: float) -> float | None:
        return None if math.isnan(v) else round(float(v), decimals)

    doc = {
        "format": "vosbench-compare",
        "version": 1,
        "units": "percent",
        "metric": report.metric,
        "level": report.level,
        "method": report.method,
        "resamples": report.resamples,
        "seed": report.seed,
        "alpha": report.alpha,
        "runs": [{"label": lb, "run_id": rid, "run_dir": d}
                 for lb, rid, d in zip(report.labels, report.run_ids, report.run_dirs)],
        "pairs": [
            {
                "a": p.a, "b": p.b,
                "sequences": len(p.sequences),
                "score_a": rd(p.score_a), "score_b": rd(p.score_b),
                "difference": rd(p.difference.estimate),
                "difference_ci_low": rd(p.difference.low), "difference_ci_high": rd(p.difference.high),
                "sign_flip": {"p": p.sign_flip.p_value, "p_holm": p.p_sign_flip_holm, "method": p.sign_flip.method},
                "wilcoxon": {"p": p.wilcoxon.p_value, "p_holm": p.p_wilcoxon_holm, "statistic": p.wilcoxon.statistic},
                "wins_a": p.wins_a, "wins_b": p.wins_b, "ties": p.ties,
                "significant": p.significant(report.alpha),
                "per_sequence": {s: {"a": rd(x), "b": rd(y), "a_minus_b": rd(x - y)}
                                 for s, x, y in zip(p.sequences, p.values_a, p.values_b)},
                "warnings": p.warnings,
            }
            for p in report.pairs
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render(report: CompareReport, fmt: str, decimals: int | None = None) -> str:
    """``md``, ``csv`` or ``json`` (default decimals: 1 for md, 3 otherwise)."""
    return render_as(fmt, decimals, md=lambda d: to_markdown(report, d), csv=lambda d: to_csv(report, d),
                     json=lambda d: to_json(report, d))
