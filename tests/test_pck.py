"""PCK on hand-made keypoint sets whose answers are worked out here."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from vosbench.scoring.pck import (
    CURVE,
    PCKAccumulator,
    correct_pairs,
    normalisers,
    per_joint_csv_text,
    per_video_csv_text,
)

NAN = np.nan
JOINTS = ("a", "b", "c")


def video(*frames):
    """frames of [(x, y), ...] per joint -> (T, J, 2)."""
    return np.array(frames, dtype=np.float64)


# GT: frame 0 is never scored; frames 1, 2 have joints spanning a 30 x 40 box (diagonal 50,
# normaliser 0.6 * 50 = 30, so PCK@0.1 tolerates 3 px and PCK@0.2 6 px).
GT = video(
    [(0, 0), (30, 40), (10, 10)],
    [(0, 0), (30, 40), (10, 10)],
    [(100, 100), (130, 140), (110, 110)],
)


def test_normaliser_is_0_6_times_box_diagonal():
    assert normalisers(GT) == pytest.approx([30.0, 30.0, 30.0])
    one = video([(5, 5), (NAN, NAN), (NAN, NAN)])
    none = video([(NAN, NAN)] * 3)
    assert normalisers(one)[0] == 0.0
    assert math.isnan(normalisers(none)[0])


def test_exact_hits():
    acc = PCKAccumulator(JOINTS)
    acc.add("v", GT.copy(), GT)
    r = acc.result()
    assert r.counts.tolist() == [2, 2, 2]  # frame 0 excluded
    assert np.all(r.mean() == 1.0) and np.all(r.pooled() == 1.0)
    m = r.metrics()
    assert m["PCK@0.1"] == m["PCK@0.2"] == m["PCK_pooled@0.1"] == m["PCK_pooled@0.2"] == 1.0
    assert list(m["pck_curve"]) == ["0.05", "0.1", "0.15", "0.2", "0.25", "0.3", "0.35", "0.4", "0.45", "0.5"]


def test_off_by_exactly_the_threshold_counts_as_correct():
    pred = GT.copy()
    pred[1, 0] += (3.0, 0.0)  # exactly 0.1 * 30
    pred[2, 0] += (0.0, 3.0 + 1e-6)  # just beyond 0.1, within 0.2
    pred[1, 1] += (3.6, 4.8)  # distance 6 = exactly 0.2 * 30 (3-4-5 triangle)
    pred[2, 2] += (100.0, 0.0)  # far off: wrong at every threshold up to 0.5 (15 px)
    hits, counts = correct_pairs(pred, GT, (0.1, 0.2, 0.5))
    assert counts.tolist() == [2, 2, 2]
    assert hits.tolist() == [[1, 1, 1], [2, 2, 1], [2, 2, 1]]


def test_frame_zero_is_excluded():
    pred = GT.copy()
    pred[0] += 1000.0
    hits, counts = correct_pairs(pred, GT, (0.1,))
    assert hits.tolist() == [[2, 2, 2]] and counts.tolist() == [2, 2, 2]
    hits, counts = correct_pairs(pred, GT, (0.1,), skip_first=False)
    assert hits.tolist() == [[2, 2, 2]] and counts.tolist() == [3, 3, 3]


def test_invisible_joints_are_not_scored_and_do_not_shape_the_box():
    gt = GT.copy()
    gt[1, 1] = NAN  # frame 1: only joints a (0,0) and c (10,10) visible: diagonal 10*sqrt(2)
    gt[:, 2] = NAN  # joint c never visible
    gt[1, 2] = (10, 10)
    pred = gt.copy()
    pred[1, 1] = (999, 999)  # prediction of an invisible GT joint: ignored
    pred[1, 0] = (0.0, 0.6 * math.sqrt(200) * 0.1)  # exactly on the PCK@0.1 threshold of frame 1
    acc = PCKAccumulator(JOINTS, thresholds=(0.1, 0.2))
    acc.add("v", pred, gt)
    r = acc.result()
    assert r.counts.tolist() == [2, 1, 1]
    assert r.hits.tolist() == [[2, 1, 1], [2, 1, 1]]
    # a joint with no scored pair at all is left out of the mean (not counted as 0)
    gt2 = GT.copy()
    gt2[:, 2] = NAN
    r2 = PCKAccumulator(JOINTS, thresholds=(0.1,))
    r2.add("v", GT.copy(), gt2)
    res = r2.result()
    assert math.isnan(res.per_joint()[0, 2]) and res.mean()[0] == 1.0


def test_one_joint_frames_need_an_exact_hit():
    gt = video([(5, 5), (NAN, NAN)], [(5, 5), (NAN, NAN)], [(7, 7), (NAN, NAN)])
    pred = video([(0, 0), (0, 0)], [(5, 5), (0, 0)], [(7.01, 7), (0, 0)])
    hits, counts = correct_pairs(pred, gt, (0.5,))
    assert counts.tolist() == [2, 0] and hits.tolist() == [[1, 0]]


def test_missing_predictions_are_misses():
    pred = GT.copy()
    pred[1, 0] = NAN
    hits, counts = correct_pairs(pred, GT, (0.5,))
    assert hits.tolist() == [[1, 2, 2]] and counts.tolist() == [2, 2, 2]


def _reference(preds, gts, alpha):
    """Plain-loop restatement: per-joint PCK mean and pooled ratio."""
    hit = [0, 0, 0]
    n = [0, 0, 0]
    for p, g in zip(preds, gts):
        for t in range(1, len(g)):
            vis = [j for j in range(3) if not math.isnan(g[t][j][0])]
            if not vis:
                continue
            xs = [g[t][j][0] for j in vis]
            ys = [g[t][j][1] for j in vis]
            norm = 0.6 * math.sqrt((max(xs) - min(xs)) ** 2 + (max(ys) - min(ys)) ** 2)
            for j in vis:
                n[j] += 1
                d = math.dist(p[t][j], g[t][j]) if not math.isnan(p[t][j][0]) else math.inf
                hit[j] += d <= alpha * norm
    per = [h / c for h, c in zip(hit, n) if c]
    return sum(per) / len(per), sum(hit) / sum(n)


def test_mean_of_joints_and_pooled_against_a_plain_loop():
    rng = np.random.default_rng(3)
    acc = PCKAccumulator(JOINTS)
    preds, gts = [], []
    for v in range(4):
        T = 3 + v
        g = rng.uniform(0, 100, (T, 3, 2))
        g[rng.uniform(size=(T, 3)) < 0.3] = NAN
        p = g + rng.normal(0, 6, g.shape)
        p[rng.uniform(size=(T, 3)) < 0.1] = NAN
        acc.add(f"v{v}", p, g)
        preds.append(p.tolist())
        gts.append(g.tolist())
    r = acc.result()
    for i, alpha in enumerate(CURVE):
        mean, pooled = _reference(preds, gts, alpha)
        assert r.mean()[i] == pytest.approx(mean, abs=1e-12)
        assert r.pooled()[i] == pytest.approx(pooled, abs=1e-12)
    assert r.mean()[r.at(0.1)] != r.pooled()[r.at(0.1)]  # the two aggregations really differ here
    rows = list(csv.DictReader(io.StringIO(per_joint_csv_text(r))))
    assert [row["joint"] for row in rows] == list(JOINTS)
    assert float(rows[1]["PCK@0.2"]) == pytest.approx(r.per_joint()[r.at(0.2), 1])
    vrows = list(csv.DictReader(io.StringIO(per_video_csv_text(r))))
    assert [row["video"] for row in vrows] == ["v0", "v1", "v2", "v3"]
    assert list(vrows[0]) == ["video", "n", "PCK@0.1", "PCK@0.2", "PCK_pooled@0.1", "PCK_pooled@0.2"]
