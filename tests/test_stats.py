"""Bootstrap intervals and paired tests (vosbench.records.stats), checked against values computed
independently here: scipy.stats.bootstrap for a plain mean, brute-force loops over the draws for
the nested (cluster) resampling, all 2^n sign patterns for the permutation test, and
scipy.stats.wilcoxon."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from scipy import stats as sps

from vosbench.core.errors import ConfigError
from vosbench.records.stats import (
    Clustered,
    bootstrap_intervals,
    draw_counts,
    holm,
    paired_difference_interval,
    sign_flip_test,
    wilcoxon_test,
)
from vosbench.records.stats_io import clustered_objects, clustered_videos


def objects(table: dict[str, list[tuple[float, float]]]) -> list[dict]:
    """Per-object rows from sequence -> [(J_mean, F_mean), ...] (other statistics 0)."""
    rows = []
    for seq, objs in table.items():
        for k, (j, f) in enumerate(objs, start=1):
            rows.append({"sequence": seq, "object": str(k), "J_mean": j, "F_mean": f, "J_recall": 0.0,
                         "J_decay": 0.0, "F_recall": 0.0, "F_decay": 0.0})
    return rows


def plain(values) -> Clustered:
    """One value per cluster (a plain mean)."""
    v = np.asarray(values, dtype=float)
    return Clustered([f"s{i}" for i in range(v.size)], ["x"], v[:, None], np.ones((v.size, 1)))


SCORES = np.array([0.61, 0.72, 0.55, 0.90, 0.43, 0.77, 0.68, 0.59, 0.81, 0.35, 0.66, 0.74, 0.52, 0.88, 0.47])


@pytest.mark.parametrize("method, scipy_method", [("percentile", "percentile"), ("bca", "BCa")])
def test_plain_mean_interval_matches_scipy_bootstrap(method, scipy_method):
    ours = bootstrap_intervals(plain(SCORES), level=0.95, n_resamples=20_000, seed=1, method=method)["x"]
    ref = sps.bootstrap((SCORES,), np.mean, confidence_level=0.95, n_resamples=20_000, method=scipy_method,
                        random_state=np.random.default_rng(123)).confidence_interval
    assert ours.estimate == pytest.approx(SCORES.mean())
    width = ref.high - ref.low
    # different draws: the bounds agree to Monte Carlo error (a few % of the width)
    assert ours.low == pytest.approx(ref.low, abs=0.04 * width)
    assert ours.high == pytest.approx(ref.high, abs=0.04 * width)


def test_nested_interval_equals_a_brute_force_cluster_bootstrap():
    """Each replicate: draw sequences with replacement (the same draws as ours), pool all objects
    of the drawn sequences, take their mean; percentiles of those means."""
    table = {"a": [(0.9, 0.8), (0.7, 0.75)], "b": [(0.3, 0.4)], "c": [(0.6, 0.5), (0.65, 0.6), (0.2, 0.3)],
             "d": [(0.8, 0.9)], "e": [(0.5, 0.45), (0.55, 0.5)]}
    data = clustered_objects(objects(table))
    got = bootstrap_intervals(data, ["JF_mean", "J_mean"], level=0.9, n_resamples=2000, seed=5)
    rng = np.random.default_rng(5)
    idx = rng.integers(0, 5, size=(2000, 5))  # documented draw: one (B, n) index matrix
    names = list(table)
    jf, jm = [], []
    for row in idx:
        pooled = [o for i in row for o in table[names[i]]]
        jf.append(np.mean([(j + f) / 2 for j, f in pooled]))
        jm.append(np.mean([j for j, _ in pooled]))
    for key, reps in (("JF_mean", jf), ("J_mean", jm)):
        lo, hi = np.quantile(reps, [0.05, 0.95])
        assert got[key].low == pytest.approx(lo, abs=1e-12)
        assert got[key].high == pytest.approx(hi, abs=1e-12)
    all_objs = [o for objs in table.values() for o in objs]
    assert got["JF_mean"].estimate == pytest.approx(np.mean([(j + f) / 2 for j, f in all_objs]))


def test_draw_counts_are_a_seeded_index_matrix():
    w = draw_counts(7, 500, seed=3)
    assert w.shape == (500, 7) and np.all(w.sum(axis=1) == 7)
    idx = np.random.default_rng(3).integers(0, 7, size=(500, 7))
    assert np.array_equal(w, np.stack([np.bincount(r, minlength=7) for r in idx]))


def test_same_seed_same_interval_other_seed_other_interval():
    data = clustered_objects(objects({f"s{i}": [(v, v - 0.05)] for i, v in enumerate(SCORES)}))
    a = bootstrap_intervals(data, seed=7)
    b = bootstrap_intervals(data, seed=7)
    c = bootstrap_intervals(data, seed=8)
    assert a == b
    assert a["JF_mean"] != c["JF_mean"]


def test_nesting_resampling_objects_alone_gives_a_narrower_different_interval():
    """Six sequences of four objects each; objects of one sequence score nearly alike, sequences
    differ a lot. Treating the 24 objects as independent hides the between-sequence spread."""
    rng = np.random.default_rng(0)
    table = {}
    for s, level in enumerate([0.2, 0.35, 0.5, 0.65, 0.8, 0.95]):
        table[f"seq{s}"] = [(level + e, level + e) for e in rng.normal(0, 0.01, size=4)]
    rows = objects(table)
    nested = bootstrap_intervals(clustered_objects(rows, unit="sequence"), ["JF_mean"])["JF_mean"]
    flat = bootstrap_intervals(clustered_objects(rows, unit="object"), ["JF_mean"])["JF_mean"]
    assert nested.estimate == pytest.approx(flat.estimate)
    assert (flat.high - flat.low) < 0.7 * (nested.high - nested.low)  # about 1/sqrt(4) as wide
    assert (flat.low, flat.high) != (nested.low, nested.high)


def test_youtube_vos_overall_is_the_mean_of_the_group_means():
    rows = objects({"v1": [(0.8, 0.7), (0.4, 0.5)], "v2": [(0.6, 0.6)], "v3": [(0.3, 0.2), (0.9, 0.8)]})
    data = clustered_objects(rows, unseen=["v1/2", "v3/1"])
    got = bootstrap_intervals(data, ["overall", "J_seen", "F_unseen"], n_resamples=500)
    j_seen = np.mean([0.8, 0.6, 0.9])
    f_seen = np.mean([0.7, 0.6, 0.8])
    j_unseen, f_unseen = np.mean([0.4, 0.3]), np.mean([0.5, 0.2])
    assert got["J_seen"].estimate == pytest.approx(j_seen)
    assert got["F_unseen"].estimate == pytest.approx(f_unseen)
    assert got["overall"].estimate == pytest.approx(np.mean([j_seen, f_seen, j_unseen, f_unseen]))
    assert got["overall"].low <= got["overall"].estimate <= got["overall"].high


def test_pck_is_weighted_by_scored_pairs():
    data = clustered_videos({"a": (30.0, {"PCK@0.1": 0.5, "PCK@0.2": 0.8}), "b": (10.0, {"PCK@0.1": 0.9, "PCK@0.2": 1.0})})
    iv = bootstrap_intervals(data, ["PCK@0.1"], n_resamples=200)["PCK@0.1"]
    assert iv.estimate == pytest.approx((30 * 0.5 + 10 * 0.9) / 40)


def _brute_sign_flip(d, w):
    x = np.asarray(w) * np.asarray(d)
    obs = abs(x.sum())
    hits = sum(abs(np.dot(s, x)) >= obs - 1e-12 for s in product((1, -1), repeat=len(x)))
    return hits / 2 ** len(x)


@pytest.mark.parametrize(
    "diffs, weights",
    [
        ([2.0, 1.5, -0.5, 3.0, 0.8, 1.1, -0.2, 2.4], None),
        ([0.3, -0.1, 0.2, 0.25, -0.4, 0.05], [2, 1, 3, 1, 1, 2]),
        ([1.0, 1.0, 1.0, 1.0, 1.0], None),  # ties in |T|: both extremes count
    ],
)
def test_sign_flip_exact_equals_enumerating_every_pattern(diffs, weights):
    res = sign_flip_test(diffs, weights)
    assert res.method.startswith("exact")
    assert res.p_value == pytest.approx(_brute_sign_flip(diffs, weights or [1] * len(diffs)), abs=1e-15)


def test_sign_flip_all_same_sign_has_the_smallest_p():
    assert sign_flip_test([1.0, 2.0, 3.0]).p_value == pytest.approx(2 / 8)


def test_sign_flip_monte_carlo_is_seeded_and_close_to_exact():
    rng = np.random.default_rng(2)
    d = rng.normal(0.4, 1.0, size=14)
    exact = sign_flip_test(d).p_value
    mc = sign_flip_test(d, exact_max=10, n_resamples=40_000, seed=3)
    assert mc.method.startswith("Monte Carlo")
    assert mc.p_value == pytest.approx(exact, abs=0.01)
    assert sign_flip_test(d, exact_max=10, seed=3) == sign_flip_test(d, exact_max=10, seed=3)


def test_wilcoxon_is_scipys():
    d = [2.0, 1.5, -0.5, 3.0, 0.8, 1.1, -0.2, 2.4, 0.0]
    ref = sps.wilcoxon(d)
    got = wilcoxon_test(d)
    assert got.p_value == pytest.approx(ref.pvalue) and got.statistic == pytest.approx(ref.statistic)
    assert wilcoxon_test([0.0, 0.0]).p_value == 1.0


def test_paired_difference_uses_the_same_draws_for_both_runs():
    """A constant shift on every sequence gives a zero-width interval only if both runs are
    resampled together."""
    a = plain(SCORES + 0.05)
    b = plain(SCORES)
    iv = paired_difference_interval(a, b, "x")
    assert iv.estimate == pytest.approx(0.05)
    assert iv.low == pytest.approx(0.05) and iv.high == pytest.approx(0.05)
    with pytest.raises(ConfigError):
        paired_difference_interval(a, plain(SCORES[:-1]), "x")


def test_holm_step_down():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("kwargs, message", [({"level": 1.5}, "between 0 and 1"), ({"n_resamples": 10}, "at least 100"),
                                             ({"method": "magic"}, "unknown interval method")])
def test_bad_options_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        bootstrap_intervals(plain(SCORES), **kwargs)
