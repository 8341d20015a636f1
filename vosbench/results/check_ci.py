"""``vosbench check --tolerance ci``: a metric fails only when the new score falls outside the
baseline's confidence interval on the bad side (below ``<metric>_ci_low``; for the decays, which
are better low, above ``<metric>_ci_high``). Metrics the baseline has no interval for are not
checked. Write such a baseline with ``vosbench leaderboard --ci --format csv --out FILE``.

This is an option, not the default: an interval over sequences says how much a score could move
with another draw of sequences, not how much a code change may move it on the same sequences, so
the default point tolerance stays the stricter regression guard.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

from vosbench.results.check import (
    _EPS,
    BaselineRow,
    CheckResult,
    Comparison,
    RunsFolders,
    current_value,
    find_runs,
    folders_label,
    load_baseline,
    pair_rows,
)
from vosbench.core.errors import InputFileError
from vosbench.results.leaderboard import build
from vosbench.results.rows import Row
from vosbench.records.schema import METRIC_BY_KEY


def compare_ci(baseline: Iterable[BaselineRow], current: Iterable[Row], *, both_ways: bool = False) -> CheckResult:
    """Compare current rows with the baseline's confidence bounds (both in percent).

    Args:
        both_ways: Also fail (as ``changed``) when a score leaves the interval on the good side.
    """
    pairs, missing, extra = pair_rows(baseline, current)
    comparisons: list[Comparison] = []
    for b, row in pairs:
        for metric, (low, high) in b.ci.items():
            base = b.metrics.get(metric, (low + high) / 2)
            now = current_value(b, row, metric)
            if now is None:
                comparisons.append(Comparison(b, metric, base, None, "missing"))
                continue
            higher_better = METRIC_BY_KEY[metric].higher_is_better
            bad = now < low - _EPS if higher_better else now > high + _EPS
            good = now > high + _EPS if higher_better else now < low - _EPS
            status = "fail" if bad else "changed" if both_ways and good else "pass"
            comparisons.append(Comparison(b, metric, base, now, status))
    return CheckResult(comparisons=comparisons, missing=missing, extra=extra, tolerance=math.nan,
                       both_ways=both_ways, ci=True)


def run_ci_check(baseline_path: str | Path, runs_dir: RunsFolders, *, both_ways: bool = False) -> CheckResult:
    """Load the baseline (which must carry ``_ci_low``/``_ci_high`` columns) and the latest runs,
    and compare them with :func:`compare_ci`.

    Raises:
        InputFileError: the baseline has no confidence bounds at all (exit code 2).
    """
    baseline = load_baseline(baseline_path)
    if not any(b.ci for b in baseline):
        raise InputFileError(
            f"{baseline_path}: --tolerance ci needs confidence bounds in the baseline (columns such as "
            f"JF_mean_ci_low, JF_mean_ci_high), and it has none. Write one with "
            f"`vosbench leaderboard --runs RUNS --ci --format csv --out {baseline_path}`, or give a number of points."
        )
    records = find_runs(runs_dir)
    result = compare_ci(baseline, build(records).rows, both_ways=both_ways)
    result.baseline_path = Path(baseline_path)
    unchecked = sum(1 for b in baseline for m in b.metrics if m not in b.ci)
    if unchecked:
        result.notes.append(
            f"{unchecked} baseline value(s) without an interval (rows of one sequence, metrics with no "
            "per-sequence data) were not checked"
        )
    if not records:
        result.notes.append(f"no run records under {folders_label(runs_dir)}")
    return result
