"""Hand-worked J/F cases and an independent re-computation of the boundary measure."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from vosbench.core.errors import ConfigError, InputFileError
from vosbench.scoring.jf import (
    SequenceScorer,
    boundary_map,
    boundary_radius,
    decay_bins,
    f_measure,
    j_measure,
    score_frame,
    score_sequence,
    statistics,
    summarize,
    write_per_frame_csv,
    write_per_object_csv,
)


def frame(h: int = 20, w: int = 20) -> np.ndarray:
    return np.zeros((h, w), dtype=np.uint8)


# ---------------------------------------------------------------- an independent reference
def naive_boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary map written from the definition, pixel by pixel (small masks only)."""
    m = mask.astype(bool)
    h, w = m.shape
    b = np.zeros_like(m)
    for y in range(h):
        for x in range(w):
            if y == h - 1 and x == w - 1:
                continue
            if y == h - 1:
                b[y, x] = m[y, x] != m[y, x + 1]
            elif x == w - 1:
                b[y, x] = m[y, x] != m[y + 1, x]
            else:
                b[y, x] = m[y, x] != m[y, x + 1] or m[y, x] != m[y + 1, x] or m[y, x] != m[y + 1, x + 1]
    return b


def naive_f(pred: np.ndarray, gt: np.ndarray) -> float:
    """F via binary dilation with an explicit disk (the textbook formulation)."""
    r = math.ceil(0.008 * math.hypot(*gt.shape))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = yy**2 + xx**2 <= r * r
    pb, gb = naive_boundary(pred), naive_boundary(gt)
    n_p, n_g = pb.sum(), gb.sum()
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    prec = (pb & ndimage.binary_dilation(gb, disk)).sum() / n_p
    rec = (gb & ndimage.binary_dilation(pb, disk)).sum() / n_g
    return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)


@pytest.mark.parametrize("shape", [(1, 7), (7, 1), (23, 31), (60, 90), (130, 210)])
def test_boundary_and_f_match_naive_definition(shape):
    rng = np.random.default_rng(sum(shape))
    h, w = shape
    for _ in range(6):
        blocks = rng.integers(0, 3, size=(h // 5 + 1, w // 5 + 1)).astype(np.uint8)
        gt = np.kron(blocks, np.ones((5, 5), np.uint8))[:h, :w]
        pred = np.roll(gt, tuple(rng.integers(-6, 7, size=2)), axis=(0, 1))
        pred[rng.random(shape) < 0.03] = 1
        for k in (1, 2):
            assert np.array_equal(boundary_map(gt == k), naive_boundary(gt == k))
            j, f = score_frame(gt, pred, [k])
            assert f[0] == pytest.approx(naive_f(pred == k, gt == k), abs=1e-12)
            inter, union = ((gt == k) & (pred == k)).sum(), ((gt == k) | (pred == k)).sum()
            assert j[0] == pytest.approx(1.0 if union == 0 else inter / union, abs=1e-12)


# ---------------------------------------------------------------- hand-worked frames
def test_radius_is_8_px_at_480p_and_1_on_tiny_frames():
    assert boundary_radius((480, 854)) == 8  # 0.008 * 979.6 = 7.84 -> 8
    assert boundary_radius((20, 20)) == 1
    assert boundary_radius((1080, 1920)) == 18


def test_perfect_prediction_scores_one():
    gt = frame()
    gt[3:9, 4:15] = 1
    gt[12:18, 2:6] = 2
    j, f = score_frame(gt, gt.copy(), [1, 2])
    assert j.tolist() == [1.0, 1.0] and f.tolist() == [1.0, 1.0]
    scores = score_sequence("s", [gt] * 5, [gt] * 5)
    for s in scores:
        assert (s.J_mean, s.J_recall, s.J_decay, s.F_mean, s.F_recall, s.F_decay) == (1, 1, 0, 1, 1, 0)


def test_empty_gt_and_empty_prediction_score_one():
    # object 2 is an object (ids 1..max of frame 0 = 1..3) but absent from GT and prediction
    gt = frame()
    gt[2:5, 2:5] = 1
    gt[10:12, 10:12] = 3
    j, f = score_frame(gt, gt, [2])
    assert (j[0], f[0]) == (1.0, 1.0)
    assert [s.object for s in score_sequence("s", [gt] * 3, [gt] * 3)] == [1, 2, 3]


def test_missed_and_spurious_objects_score_zero():
    gt = frame()
    gt[5:10, 5:10] = 1
    j, f = score_frame(gt, frame(), [1])  # GT only: P = 1, R = 0
    assert (j[0], f[0]) == (0.0, 0.0)
    j, f = score_frame(frame(), gt, [1])  # prediction only: P = 0, R = 1
    assert (j[0], f[0]) == (0.0, 0.0)


def test_one_pixel_objects():
    gt, pred = frame(), frame()
    gt[5, 5] = 1
    # a single pixel's boundary: itself, its left, upper and upper-left neighbours
    assert sorted(map(tuple, np.argwhere(boundary_map(gt)))) == [(4, 4), (4, 5), (5, 4), (5, 5)]
    pred[5, 6] = 1  # one column over: J = 0, but every boundary pixel is within 1 px (radius 1)
    j, f = score_frame(gt, pred, [1])
    assert (j[0], f[0]) == (0.0, 1.0)
    pred = frame()
    pred[5, 8] = 1  # three columns over: nothing within 1 px
    j, f = score_frame(gt, pred, [1])
    assert (j[0], f[0]) == (0.0, 0.0)
    # diagonal neighbour: pred boundary {(5,5),(5,6),(6,5),(6,6)}; (6,6) is sqrt(2) > 1 from every
    # GT boundary pixel and (4,4) from every predicted one -> P = R = 3/4
    pred = frame()
    pred[6, 6] = 1
    j, f = score_frame(gt, pred, [1])
    assert f[0] == pytest.approx(0.75)
    assert j_measure(pred, gt) == 0.0


def test_objects_touching_the_border():
    # corners: the bottom-right pixel is never a boundary pixel, the last row/column only look
    # right/down
    m = frame()
    m[19, 19] = 1
    assert sorted(map(tuple, np.argwhere(boundary_map(m)))) == [(18, 18), (18, 19), (19, 18)]
    m = frame()
    m[0, 0] = 1
    assert [tuple(p) for p in np.argwhere(boundary_map(m))] == [(0, 0)]
    # right half of the image: boundary = column 9 only (20 pixels)
    gt = frame()
    gt[:, 10:] = 1
    assert boundary_map(gt).sum() == 20 and boundary_map(gt)[:, 9].all()
    pred = frame()
    pred[:, 11:] = 1  # boundary one column over: all matched
    j, f = score_frame(gt, pred, [1])
    assert (j[0], f[0]) == (pytest.approx(0.9), 1.0)
    pred = frame()
    pred[:, 12:] = 1  # two columns over: none matched
    j, f = score_frame(gt, pred, [1])
    assert (j[0], f[0]) == (pytest.approx(0.8), 0.0)
    # a whole-image object has no boundary at all: an empty prediction gets F = 1 (official quirk)
    full = np.ones((20, 20), np.uint8)
    j, f = score_frame(full, frame(), [1])
    assert (j[0], f[0]) == (0.0, 1.0)
    assert f_measure(full, full) == 1.0


def test_void_is_not_an_object_and_counts_as_background():
    gt = frame()
    gt[0:2, 0:5] = 1  # 10 object pixels
    gt[10:12, 0:5] = 255  # 10 void pixels
    pred = frame()
    pred[0:2, 0:5] = 1
    pred[10:12, 0:5] = 1  # predicting the object over void is a false positive
    scorer = SequenceScorer("v")
    for _ in range(3):
        scorer.add(gt, pred)
    (s,) = scorer.result()
    assert scorer.objects == [1]
    assert s.J_mean == pytest.approx(0.5)
    # ids 1..max of frame 0, void excluded: {2, 255} -> objects 1 and 2
    gt2 = frame()
    gt2[5, 5], gt2[6, 6] = 2, 255
    assert [o.object for o in score_sequence("v2", [gt2] * 3, [np.where(gt2 == 255, 0, gt2)] * 3)] == [1, 2]


# ---------------------------------------------------------------- statistics and frame rules
def test_decay_bins_and_statistics():
    # n = 8: edges round(linspace(1, 8, 5)) - 1 = [0, 2, 4, 5, 7] (2.75 -> 3, 4.5 -> 5, 6.25 -> 6)
    assert decay_bins(8) == [slice(0, 3), slice(2, 5), slice(4, 6), slice(5, 8)]
    assert decay_bins(1) == [slice(0, 1)] * 4
    v = np.array([1.0, 0.9, 0.5, 0.6, 0.4, 0.2, 0.1, 0.0])
    mean, recall, decay = statistics(v)
    assert mean == pytest.approx(v.mean())
    assert recall == pytest.approx(3 / 8)  # 0.5 itself is not > 0.5
    assert decay == pytest.approx((1.0 + 0.9 + 0.5) / 3 - (0.2 + 0.1 + 0.0) / 3)
    assert statistics(np.array([0.7])) == (0.7, 1.0, 0.0)
    assert all(math.isnan(x) for x in statistics(np.array([])))


def test_three_frame_sequence_scores_only_the_middle_frame():
    gt = frame()
    gt[5:10, 5:10] = 1
    half = frame()
    half[5:10, 5:7] = 1  # 10 of 25 pixels
    (s,) = score_sequence("three", [gt, gt, gt], [frame(), half, frame()], frames=["a", "b", "c"])
    assert s.frames == ["b"]
    assert s.J_frames.tolist() == [pytest.approx(0.4)]
    assert (s.J_mean, s.J_recall, s.J_decay) == (pytest.approx(0.4), 0.0, 0.0)


def test_long_sequence_decay_is_right_beyond_256_frames():
    # 320 frames -> 318 scored; perfect on the first 80 scored frames, missed afterwards.
    # Quarter edges [0, 79, 159, 238, 317]: first bin = scored frames 0..79 (all 1), last bin
    # 238..317 (all 0) -> Decay 1. With uint8 edges the last edge would wrap to 61 and the last
    # bin would be empty.
    gt = frame(8, 8)
    gt[2:5, 2:5] = 1
    preds = [gt if 1 <= t <= 80 else frame(8, 8) for t in range(320)]
    preds[0] = gt
    (s,) = score_sequence("long", [gt] * 320, preds)
    assert len(s.J_frames) == 318
    assert s.J_mean == pytest.approx(80 / 318)
    assert s.J_recall == pytest.approx(80 / 318)
    assert s.J_decay == 1.0 and s.F_decay == 1.0
    assert np.array([317]).astype(np.uint8)[0] == 61  # the wrap-around the official code would hit


def test_first_and_last_frames_are_ignored_even_if_wrong():
    gt = frame()
    gt[5:10, 5:10] = 1
    (s,) = score_sequence("s", [gt] * 4, [frame(), gt, gt, frame()])
    assert s.J_mean == 1.0 and s.F_mean == 1.0 and len(s.frames) == 2


def test_objects_appearing_later_are_scored_after_their_first_frame():
    g0 = frame()
    g0[2:6, 2:6] = 1
    g1 = g0.copy()
    g1[10:14, 10:14] = 3  # object 3 appears in frame 2
    gts = [g0, g0, g1, g1, g1, g1]
    preds = [g0, g0, g0, g1, g0, g1]  # frame 3 right, frame 4 misses object 3
    (s1, s3) = score_sequence("yt", gts, preds, first_frames={1: 0, 3: 2})
    assert s3.object == 3 and s3.frames == ["00001", "00002", "00003", "00004"]
    assert np.isnan(s3.J_frames[:2]).all()  # frames 1, 2: not scored (2 is its reference frame)
    assert s3.J_frames[2:].tolist() == [1.0, 0.0]
    assert (s3.J_mean, s3.J_recall, s3.J_decay) == (0.5, 0.5, 1.0)
    assert s1.J_mean == 1.0 and not np.isnan(s1.J_frames).any()
    with pytest.raises(ConfigError, match="not objects"):
        SequenceScorer("x", objects=[1], first_frames={2: 0})


# ---------------------------------------------------------------- errors, aggregation, files
def test_size_mismatch_and_unknown_predicted_ids_raise():
    gt = frame()
    gt[2:5, 2:5] = 1
    sc = SequenceScorer("seq")
    sc.add(gt, None, "00000")
    with pytest.raises(InputFileError, match=r"seq/00001: prediction is 21x20 but the GT is 20x20"):
        sc.add(gt, np.zeros((20, 21), np.uint8), "00001")
    sc = SequenceScorer("seq")
    sc.add(gt, gt)
    bad = gt.copy()
    bad[0, 0] = 4
    msg = r"seq/00001: predicted id 4 is not an object .*objects of this sequence: \[1\]"
    with pytest.raises(InputFileError, match=msg):
        sc.add(gt, bad)
    sc = SequenceScorer("seq", objects=[2, 7])  # non-contiguous ids
    sc.add(gt * 2, gt * 2)
    sc.add(gt * 7, gt * 7)
    with pytest.raises(InputFileError, match="predicted id 255"):
        sc.add(gt, gt * 255)
    sc = SequenceScorer("seq")
    sc.add(gt, None)
    sc.add(gt, None)  # may be the last frame ...
    with pytest.raises(InputFileError, match="no prediction given"):
        sc.add(gt, gt)  # ... but it was not


def test_summary_is_mean_over_objects_and_csvs(tmp_path):
    a, b = frame(), frame()
    a[2:6, 2:6] = 1
    b[2:6, 2:4] = 1  # J = 0.5
    scores = score_sequence("s1", [a] * 3, [a] * 3) + score_sequence("s2", [a] * 3, [a, b, a])
    summ = summarize(scores)
    assert summ["J_mean"] == pytest.approx((1 + 0.5) / 2)
    assert summ["JF_mean"] == pytest.approx((summ["J_mean"] + summ["F_mean"]) / 2)
    write_per_object_csv(tmp_path / "o.csv", scores)
    lines = (tmp_path / "o.csv").read_text().splitlines()
    assert lines[0] == "sequence,object,J_mean,J_recall,J_decay,F_mean,F_recall,F_decay"
    assert lines[2].startswith("s2,1,0.5,0.0,0.0,")
    write_per_frame_csv(tmp_path / "f.csv", scores)
    assert (tmp_path / "f.csv").read_text().splitlines()[:2] == ["sequence,object,frame,J,F", "s1,1,00001,1.0,1.0"]
    assert math.isnan(summarize([])["JF_mean"])
