"""TAP-Vid metrics and query samplers against a step-by-step restatement of tapnet's
``compute_tapvid_metrics``, ``sample_queries_first`` and ``sample_queries_strided``
(google-deepmind/tapnet, tapnet/tapvid/evaluation_datasets.py), on hand-made tracks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vosbench.scoring.tapvid import (
    METRIC_KEYS,
    VideoScore,
    per_video_csv_text,
    read_per_video_csv,
    sample_queries_first,
    sample_queries_strided,
    summarize,
    tapvid_metrics,
)

# --- naive restatements ------------------------------------------------------------------------


def naive_first(occ, pts):
    """Per track: skip a track with no visible frame; the query is its first visible frame."""
    queries, tracks, occs = [], [], []
    for i in range(occ.shape[0]):
        frames = [t for t in range(occ.shape[1]) if not occ[i, t]]
        if not frames:
            continue
        t = frames[0]
        queries.append([t, pts[i, t, 1], pts[i, t, 0]])
        tracks.append(pts[i])
        occs.append(occ[i])
    return np.array(queries, dtype=np.float64).reshape(-1, 3), np.array(tracks), np.array(occs)


def naive_strided(occ, pts, stride=5):
    queries, tracks, occs = [], [], []
    for t in range(0, occ.shape[1], stride):
        for i in range(occ.shape[0]):
            if not occ[i, t]:
                queries.append([t, pts[i, t, 1], pts[i, t, 0]])
                tracks.append(pts[i])
                occs.append(occ[i])
    return np.array(queries, dtype=np.float64).reshape(-1, 3), np.array(tracks), np.array(occs)


def naive_metrics(query, gt_occ, gt, pred_occ, pred, mode):
    """Counted frame by frame, as tapnet's array expressions read."""
    Q, T = gt_occ.shape
    n_eval = n_agree = 0
    counts = {d: dict(correct=0, visible=0, tp=0, fp=0) for d in (1, 2, 4, 8, 16)}
    for q in range(Q):
        qt = int(round(query[q, 0]))
        for t in range(T):
            if mode == "first" and not t > qt:
                continue
            if mode == "strided" and t == qt:
                continue
            n_eval += 1
            n_agree += bool(pred_occ[q, t]) == bool(gt_occ[q, t])
            dist2 = (pred[q, t, 0] - gt[q, t, 0]) ** 2 + (pred[q, t, 1] - gt[q, t, 1]) ** 2
            for d, c in counts.items():
                within = dist2 < d * d
                if not gt_occ[q, t]:
                    c["visible"] += 1
                    if within:
                        c["correct"] += 1
                        if not pred_occ[q, t]:
                            c["tp"] += 1
                if not pred_occ[q, t] and (gt_occ[q, t] or not within):
                    c["fp"] += 1
    out = {"occlusion_accuracy": n_agree / n_eval}
    for d, c in counts.items():
        out[f"pts_within_{d}"] = c["correct"] / c["visible"]
        out[f"jaccard_{d}"] = c["tp"] / (c["visible"] + c["fp"])
    out["average_jaccard"] = sum(out[f"jaccard_{d}"] for d in counts) / 5
    out["average_pts_within_thresh"] = sum(out[f"pts_within_{d}"] for d in counts) / 5
    return out


# --- hand-made tracks --------------------------------------------------------------------------


def hand_made():
    """5 tracks x 12 frames on a 256 grid: (0) always visible, moving right; (1) occluded in
    frames 0-1 (first visible at 2) and again 6-7; (2) never visible; (3) leaves the frame at 8
    (occluded from there, coordinates outside); (4) visible at 0, occluded at 1 (an occluded
    neighbour of the query frame), visible afterwards."""
    T = 12
    t = np.arange(T, dtype=np.float64)
    pts = np.zeros((5, T, 2))
    occ = np.zeros((5, T), dtype=bool)
    pts[0] = np.stack([10 + 3 * t, 40 + 0 * t], -1)
    pts[1] = np.stack([100 - t, 80 + 2 * t], -1)
    occ[1, :2] = True
    occ[1, 6:8] = True
    pts[2] = 128.0
    occ[2] = True
    pts[3] = np.stack([200 + 9 * t, 30 + t], -1)  # x >= 256 from t = 7 on
    occ[3, 7:] = True
    pts[4] = np.stack([50 + 0.5 * t, 200 - t], -1)
    occ[4, 1] = True
    return occ, pts


def noisy_prediction(tracks, occ, seed=0):
    rng = np.random.default_rng(seed)
    pred = tracks + rng.normal(0, 3.0, tracks.shape)
    pred_occ = occ.copy()
    flip = rng.random(occ.shape) < 0.2
    pred_occ[flip] = ~pred_occ[flip]
    return pred, pred_occ


@pytest.mark.parametrize("sampler,naive", [(sample_queries_first, naive_first), (sample_queries_strided, naive_strided)])
def test_samplers_match_restatement(sampler, naive):
    occ, pts = hand_made()
    got = sampler(occ, pts)
    q, tr, oc = naive(occ, pts)
    np.testing.assert_array_equal(got.points, q)
    np.testing.assert_array_equal(got.tracks, tr)
    np.testing.assert_array_equal(got.occluded, oc)
    for k, i in enumerate(got.track):
        np.testing.assert_array_equal(pts[i], got.tracks[k])


def test_first_drops_never_visible_and_queries_first_visible():
    occ, pts = hand_made()
    q = sample_queries_first(occ, pts)
    assert list(q.track) == [0, 1, 3, 4]
    assert list(q.points[:, 0]) == [0, 2, 0, 0]


def test_strided_is_frame_major():
    occ, pts = hand_made()
    q = sample_queries_strided(occ, pts)
    # frame 0: tracks 0, 3, 4 (1 and 2 occluded); frame 5: 0, 1, 3, 4; frame 10: 0, 1, 4
    assert list(q.points[:, 0]) == [0] * 3 + [5] * 4 + [10] * 3
    assert list(q.track) == [0, 3, 4, 0, 1, 3, 4, 0, 1, 4]


@pytest.mark.parametrize("mode", ["first", "strided"])
@pytest.mark.parametrize("case", ["noisy", "perfect", "constant", "all-visible"])
def test_metrics_match_restatement(mode, case):
    occ, pts = hand_made()
    q = (sample_queries_first if mode == "first" else sample_queries_strided)(occ, pts)
    if case == "noisy":
        pred, pred_occ = noisy_prediction(q.tracks, q.occluded)
    elif case == "perfect":
        pred, pred_occ = q.tracks.copy(), q.occluded.copy()
    elif case == "constant":  # every frame at the query position, all visible
        pred = np.repeat(q.points[:, None, [2, 1]], occ.shape[1], axis=1)
        pred_occ = np.zeros_like(q.occluded)
    else:
        pred, pred_occ = q.tracks + 1.5, np.zeros_like(q.occluded)
    got = tapvid_metrics(q.points, q.occluded, q.tracks, pred_occ, pred, mode)
    want = naive_metrics(q.points, q.occluded, q.tracks, pred_occ, pred, mode)
    assert list(got) == list(METRIC_KEYS)
    for k in METRIC_KEYS:
        assert got[k] == pytest.approx(want[k], abs=1e-12), k
    if case == "perfect":
        assert all(got[k] == 1.0 for k in METRIC_KEYS)


def test_query_frame_not_scored_in_first_mode():
    """A prediction wrong only at the query frame (and before it) scores 1 in first mode; in
    strided mode the frames before the query count."""
    occ, pts = hand_made()
    q = sample_queries_first(occ, pts)
    pred, pred_occ = q.tracks.copy(), q.occluded.copy()
    for k, t in enumerate(q.points[:, 0].astype(int)):
        pred[k, : t + 1] += 50
        pred_occ[k, : t + 1] = ~pred_occ[k, : t + 1]
    m = tapvid_metrics(q.points, q.occluded, q.tracks, pred_occ, pred, "first")
    assert m["average_jaccard"] == 1.0 and m["occlusion_accuracy"] == 1.0
    m = tapvid_metrics(q.points, q.occluded, q.tracks, pred_occ, pred, "strided")
    assert m["occlusion_accuracy"] < 1.0


def test_distance_threshold_is_strict():
    occ = np.zeros((1, 3), dtype=bool)
    gt = np.zeros((1, 3, 2))
    pred = gt.copy()
    pred[0, 1:, 0] = 1.0  # exactly 1 px off: not within 1, within 2
    m = tapvid_metrics(np.array([[0.0, 0, 0]]), occ, gt, occ, pred, "first")
    assert m["pts_within_1"] == 0.0 and m["pts_within_2"] == 1.0


def test_summary_skips_undefined_and_csv_round_trip():
    a = VideoScore("a", 3, 10, {k: 0.5 for k in METRIC_KEYS})
    b = VideoScore("b", 1, 10, {k: (math.nan if k.startswith("pts") else 1.0) for k in METRIC_KEYS})
    s = summarize([a, b])
    assert s["average_jaccard"] == 0.75 and s["pts_within_1"] == 0.5
    back = read_per_video_csv(per_video_csv_text([a, b]))
    assert back[0] == a and back[1].video == "b" and math.isnan(back[1].metrics["pts_within_4"])
