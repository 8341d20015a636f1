"""Statistics of runs: bootstrap confidence intervals and paired tests between runs.

Pure numpy (plus ``scipy.stats`` for the Wilcoxon test and the normal quantiles of BCa), no I/O.
Reading run folders into these structures is :mod:`vosbench.records.stats_io`.

**The resampling unit is the sequence (video), not the object.** The objects of one DAVIS
sequence share its frames, camera and difficulty, so they are not independent samples; treating
them as such makes intervals too narrow. A run's J&F is the mean over *all objects*, so a
bootstrap replicate draws sequences with replacement, keeps every object of each drawn sequence,
and recomputes that mean: a ratio of per-sequence sums, ``sum_s w_s S_s / sum_s w_s N_s`` with
``w_s`` the number of times sequence ``s`` was drawn, ``S_s`` the sum of the object values of
``s`` and ``N_s`` its number of objects (a cluster bootstrap). PCK is resampled over videos the
same way.

Why our own resampler rather than :func:`scipy.stats.bootstrap`: scipy draws a new set of
resamples for every statistic and every call, while here one index matrix (``n_resamples x
n_sequences``, turned into draw counts ``w``) serves all metrics of a row at once as a single
matrix product, so J, F and J&F come from the same replicates, a paired difference of two runs
uses the same draws for both runs, and a 10-run leaderboard takes milliseconds. Derived
statistics such as YouTube-VOS ``overall`` (the mean of four group means, each a ratio over
different objects) are also just functions of the same counts. For a plain mean (one object per
sequence) the intervals agree with ``scipy.stats.bootstrap`` (percentile and BCa; checked in
``tests/test_stats.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import product
from typing import Iterable, Sequence

import numpy as np

from vosbench.core.errors import ConfigError

DEFAULT_LEVEL = 0.95
DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
METHODS = ("percentile", "bca")
# Sign-flip tests enumerate all 2^n sign patterns up to this many non-zero differences.
EXACT_MAX = 16
# YouTube-VOS: ``overall`` is the mean of these group means (those with any object).
GROUP_METRICS = ("J_seen", "F_seen", "J_unseen", "F_unseen")


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval (same unit as the data: fractions or percent).

    Attributes:
        estimate: The statistic on the data as observed.
        low, high: Interval bounds.
        level: Confidence level, e.g. 0.95.
        method: ``percentile`` or ``bca``.
    """

    estimate: float
    low: float
    high: float
    level: float
    method: str

    @property
    def half_width(self) -> float:
        """Half the width, as in ``67.4 ± 2.1``."""
        return (self.high - self.low) / 2

    def scaled(self, factor: float) -> Interval:
        """The interval with every value multiplied by ``factor`` (fractions -> percent)."""
        return Interval(self.estimate * factor, self.low * factor, self.high * factor, self.level, self.method)


@dataclass
class Clustered:
    """Per-object (or per-video) values grouped into the units that are resampled.

    Every metric ``m`` is a ratio ``sum(sums[:, m]) / sum(counts[:, m])`` over clusters: the
    mean of the object values (objects whose value is NaN are not counted). ``derived`` metrics
    are means of other metrics (those that are defined), e.g. YouTube-VOS ``overall``.

    Attributes:
        clusters: Cluster names (sequences or videos), one per row.
        metrics: Metric keys, one per column of ``sums``/``counts``.
        sums: (n_clusters, n_metrics) sum of the values of the cluster's objects.
        counts: (n_clusters, n_metrics) weight of those values (number of objects, or of
            scored keypoints for PCK).
        derived: Metric -> the metrics it is the mean of.
    """

    clusters: list[str]
    metrics: list[str]
    sums: np.ndarray
    counts: np.ndarray
    derived: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sums = np.asarray(self.sums, dtype=np.float64).reshape(len(self.clusters), len(self.metrics))
        self.counts = np.asarray(self.counts, dtype=np.float64).reshape(len(self.clusters), len(self.metrics))

    @property
    def keys(self) -> list[str]:
        """Every metric this data gives: the ratio metrics, then the derived ones."""
        return [*self.metrics, *self.derived]

    def subset(self, clusters: Sequence[str]) -> Clustered:
        """The same data restricted to ``clusters`` (in that order)."""
        index = {c: i for i, c in enumerate(self.clusters)}
        rows = [index[c] for c in clusters]
        return Clustered(list(clusters), list(self.metrics), self.sums[rows], self.counts[rows], dict(self.derived))

    def per_cluster(self, metric: str) -> np.ndarray:
        """Each cluster's own value of ``metric`` (mean over its objects); NaN where it has none."""
        eye = np.eye(len(self.clusters))
        return self.statistic(eye, [metric])[metric]

    def weights(self, metric: str) -> np.ndarray:
        """Each cluster's weight in ``metric`` (its number of objects); derived metrics: the sum of
        the weights of their parts."""
        parts = self.derived.get(metric, (metric,))
        return sum((self.counts[:, self.metrics.index(p)] for p in parts), np.zeros(len(self.clusters)))

    def statistic(self, w: np.ndarray, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """The metrics for each row of the draw-count matrix ``w`` (n_rows, n_clusters).

        ``w`` = a row of ones gives the observed values; a row of draw counts gives one bootstrap
        replicate; ones minus the identity gives the leave-one-cluster-out jackknife.
        """
        w = np.atleast_2d(np.asarray(w, dtype=np.float64))
        wanted = list(self.keys if keys is None else keys)
        need = set(wanted)
        for k in wanted:
            need.update(self.derived.get(k, ()))
        cols = [i for i, m in enumerate(self.metrics) if m in need]
        out: dict[str, np.ndarray] = {}
        if cols:
            num = w @ self.sums[:, cols]
            den = w @ self.counts[:, cols]
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
            for j, i in enumerate(cols):
                out[self.metrics[i]] = ratio[:, j]
        for k, parts in self.derived.items():
            if k in need:
                stack = np.stack([out[p] for p in parts], axis=-1)
                present = ~np.isnan(stack)
                n = present.sum(axis=-1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[k] = np.where(n > 0, np.where(present, stack, 0.0).sum(axis=-1) / np.maximum(n, 1), np.nan)
        return {k: out[k] for k in wanted}


def check_options(level: float, n_resamples: int, method: str) -> None:
    """Raise :class:`ConfigError` for a confidence level outside (0, 1), fewer than 100 resamples
    or an unknown method."""
    if not (0.0 < level < 1.0):
        raise ConfigError(f"confidence level must be between 0 and 1 (e.g. 0.95), got {level}")
    if n_resamples < 100:
        raise ConfigError(f"the bootstrap needs at least 100 resamples, got {n_resamples}")
    if method not in METHODS:
        raise ConfigError(f"unknown interval method {method!r}; choose {', '.join(METHODS)}")


def draw_counts(n: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """(n_resamples, n) matrix: how often each of ``n`` clusters is drawn in each replicate.

    One ``(n_resamples, n)`` index matrix from ``numpy.random.default_rng(seed)``, counted per row
    with one ``bincount``; the same seed always gives the same matrix.
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    flat = idx + (np.arange(n_resamples) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def _mid_rank_fraction(replicates: np.ndarray, estimate: float) -> float:
    """Fraction of replicates below the estimate, ties counted half."""
    below = np.count_nonzero(replicates < estimate)
    equal = np.count_nonzero(replicates == estimate)
    return float((below + 0.5 * equal) / replicates.size)


def _interval(
    estimate: float, replicates: np.ndarray, jackknife: np.ndarray | None, level: float, method: str
) -> Interval:
    reps = replicates[np.isfinite(replicates)]
    if not math.isfinite(estimate) or reps.size == 0:
        return Interval(estimate, math.nan, math.nan, level, method)
    alpha = (1.0 - level) / 2
    lo_q, hi_q = alpha, 1.0 - alpha
    if method == "bca" and jackknife is not None:
        from scipy.special import ndtr, ndtri

        jack = jackknife[np.isfinite(jackknife)]
        frac = _mid_rank_fraction(reps, estimate)
        d = jack.mean() - jack if jack.size else np.zeros(1)
        denom = 6.0 * float(np.sum(d**2)) ** 1.5
        # a degenerate case (all replicates on one side, or a constant jackknife) leaves the
        # percentile interval, which is what BCa tends to as bias and acceleration vanish
        if 0.0 < frac < 1.0 and denom > 0:
            z0 = float(ndtri(frac))
            acc = float(np.sum(d**3)) / denom
            qs = []
            for z in (ndtri(alpha), ndtri(1.0 - alpha)):
                qs.append(float(ndtr(z0 + (z0 + z) / (1.0 - acc * (z0 + z)))))
            lo_q, hi_q = qs
    low, high = np.quantile(reps, [lo_q, hi_q])
    return Interval(float(estimate), float(low), float(high), level, method)


def bootstrap_intervals(
    data: Clustered,
    keys: Iterable[str] | None = None,
    *,
    level: float = DEFAULT_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    method: str = "percentile",
    counts: np.ndarray | None = None,
) -> dict[str, Interval]:
    """Confidence intervals of the metrics of ``data`` by the cluster bootstrap (module docstring).

    Args:
        data: Values nested in clusters (sequences or videos).
        keys: Metrics to give (default: all of ``data.keys``).
        level: Confidence level.
        n_resamples: Bootstrap replicates.
        seed: Seed of the draws; equal seeds give equal intervals.
        method: ``percentile``, or ``bca`` (bias-corrected and accelerated; acceleration from the
            leave-one-cluster-out jackknife).
        counts: A ready draw-count matrix (see :func:`draw_counts`) instead of drawing one.

    Returns:
        Metric -> :class:`Interval`; NaN bounds for a metric without any value, or when there are
        fewer than two clusters.
    """
    check_options(level, n_resamples, method)
    keys = list(data.keys if keys is None else keys)
    n = len(data.clusters)
    if n < 2:  # one sequence says nothing about the spread between sequences
        est = data.statistic(np.ones((1, n)), keys) if n else {k: np.array([math.nan]) for k in keys}
        return {k: Interval(float(est[k][0]), math.nan, math.nan, level, method) for k in keys}
    w = draw_counts(n, n_resamples, seed) if counts is None else counts
    observed = data.statistic(np.ones((1, n)), keys)
    reps = data.statistic(w, keys)
    jack = data.statistic(1.0 - np.eye(n), keys) if method == "bca" and n > 1 else {}
    return {k: _interval(float(observed[k][0]), reps[k], jack.get(k), level, method) for k in keys}


def paired_difference_interval(
    a: Clustered,
    b: Clustered,
    metric: str,
    *,
    level: float = DEFAULT_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    method: str = "percentile",
) -> Interval:
    """Interval of ``metric(a) - metric(b)`` with both runs resampled by the *same* draws of
    sequences (a paired bootstrap). ``a`` and ``b`` must list the same clusters in the same order.
    """
    check_options(level, n_resamples, method)
    if a.clusters != b.clusters:
        raise ConfigError("paired difference: the two runs must list the same sequences in the same order")
    n = len(a.clusters)
    w = draw_counts(n, n_resamples, seed)
    est = float(a.statistic(np.ones((1, n)), [metric])[metric][0] - b.statistic(np.ones((1, n)), [metric])[metric][0])
    reps = a.statistic(w, [metric])[metric] - b.statistic(w, [metric])[metric]
    jack = None
    if method == "bca" and n > 1:
        loo = 1.0 - np.eye(n)
        jack = a.statistic(loo, [metric])[metric] - b.statistic(loo, [metric])[metric]
    return _interval(est, reps, jack, level, method)


# --- tests between two runs ----------------------------------------------------------------------


@dataclass(frozen=True)
class TestResult:
    """A p-value and how it was obtained (``exact (2^n sign flips)``, ``Monte Carlo (N flips)``)."""

    statistic: float
    p_value: float
    method: str


def sign_flip_test(
    diffs: Sequence[float] | np.ndarray,
    weights: Sequence[float] | np.ndarray | None = None,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    exact_max: int = EXACT_MAX,
) -> TestResult:
    """Two-sided paired permutation test: under the null hypothesis that the two runs are
    exchangeable on every sequence, each per-sequence difference is equally likely to have either
    sign. Statistic: ``T = sum_s weights_s * diffs_s`` (with weights = objects per sequence this is
    proportional to the difference of the runs' object-mean scores). The p-value is the fraction of
    sign patterns with ``|T| >= |T_observed|``: all ``2^n`` patterns when at most ``exact_max``
    differences are non-zero, else ``n_resamples`` seeded random patterns, counted as
    ``(1 + hits) / (1 + n_resamples)`` so that it is never 0.
    """
    d = np.asarray(diffs, dtype=np.float64)
    w = np.ones_like(d) if weights is None else np.asarray(weights, dtype=np.float64)
    if d.shape != w.shape:
        raise ConfigError("sign_flip_test: diffs and weights differ in length")
    x = (w * d)[(d != 0) & np.isfinite(d)]
    observed = float(x.sum())
    n = x.size
    if n == 0:
        return TestResult(observed, 1.0, "no non-zero differences")
    # relative tolerance so that float rounding of equal |T| never decides a hit
    tol = 1e-9 * max(1.0, float(np.abs(x).sum()))
    if n <= exact_max:
        signs = np.array(list(product((1.0, -1.0), repeat=n)))
        t = signs @ x
        p = float(np.count_nonzero(np.abs(t) >= abs(observed) - tol)) / signs.shape[0]
        return TestResult(observed, p, f"exact (all 2^{n} sign flips)")
    rng = np.random.default_rng(seed)
    signs = rng.integers(0, 2, size=(n_resamples, n), dtype=np.int8) * 2.0 - 1.0
    t = signs @ x
    hits = int(np.count_nonzero(np.abs(t) >= abs(observed) - tol))
    return TestResult(observed, (1 + hits) / (1 + n_resamples), f"Monte Carlo ({n_resamples} sign flips)")


def wilcoxon_test(diffs: Sequence[float] | np.ndarray) -> TestResult:
    """Two-sided Wilcoxon signed-rank test of the per-sequence differences
    (:func:`scipy.stats.wilcoxon`, zero differences dropped). p = 1 when every difference is 0."""
    from scipy.stats import wilcoxon

    d = np.asarray(diffs, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not np.any(d != 0):
        return TestResult(0.0, 1.0, "no non-zero differences")
    res = wilcoxon(d)
    return TestResult(float(res.statistic), float(res.pvalue), "scipy.stats.wilcoxon")


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (step-down, monotone, capped at 1)."""
    p = list(p_values)
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted
