"""`vosbench run --dataset synthetic-jhmdb` end to end: the JHMDB loader on the generated layout,
keypoint propagation, the run folder, and PCK recomputed here from the written files."""

from __future__ import annotations

import csv
import json
import math
from functools import partial

import numpy as np
import pytest
import scipy.io

from tests.support import cli as support_cli

N_FRAMES = 5


invoke = partial(support_cli.invoke, code=0, catch_exceptions=False)


@pytest.fixture(scope="module")
def jhmdb_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("data") / "jhmdb"
    # one video with N_FRAMES annotated frames and N_FRAMES + 2 PNGs (the generator's video 0)
    invoke("data", "synth", "jhmdb", "--out", str(data), "--videos", "1", "--frames", str(N_FRAMES))
    return data


def _run(data, runs, model):
    res = invoke(
        "run", "--model", model, "--dataset", "synthetic-jhmdb", "--data-root", str(data), "--out", str(runs), "--device", "cpu"
    )
    (run_dir,) = list((runs / "synthetic-jhmdb" / model).iterdir())
    return run_dir, res.output


def _gt(data):
    (mat,) = list((data / "joint_positions").glob("*/*/joint_positions.mat"))
    pos = scipy.io.loadmat(str(mat))["pos_img"]  # [2, 15, T], 1-based
    return mat.parent.name, [[(pos[0, j, t] - 1, pos[1, j, t] - 1) for j in range(15)] for t in range(pos.shape[2])]


def _pred(run_dir, video):
    rows = list(csv.DictReader((run_dir / "keypoints" / f"{video}.csv").open()))
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for r in rows:
        out.setdefault(r["frame"], {})[int(r["joint"])] = (float(r["x"]), float(r["y"]))
    return [[out[f][j] for j in range(15)] for f in sorted(out)]


def _pck(pred, gt, alpha):
    hits, n = [0] * 15, [0] * 15
    for t in range(1, len(gt)):
        xs, ys = [p[0] for p in gt[t]], [p[1] for p in gt[t]]
        thr = alpha * 0.6 * math.hypot(max(xs) - min(xs), max(ys) - min(ys))
        for j in range(15):
            n[j] += 1
            hits[j] += math.dist(pred[t][j], gt[t][j]) <= thr * (1 + 1e-9)
    return sum(h / c for h, c in zip(hits, n)) / 15


def test_end_to_end_lab(jhmdb_data, tmp_path):
    run_dir, output = _run(jhmdb_data, tmp_path, "lab")
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["status"] == "complete" and rec["task"] == "pose"
    assert rec["protocol"]["name"] == "crw-jhmdb" and rec["protocol"]["size"] == 320 and rec["protocol"]["context"] == 7
    assert rec["protocol"]["keypoint_sigma"] == 0.5 and rec["protocol"]["keypoint_readout_topk"] == 3
    assert rec["protocol"]["keypoints"] == "crw" and rec["protocol"]["version"] == 2
    assert [r["frame"] for r in csv.DictReader((run_dir / "keypoints" / f"{_gt(jhmdb_data)[0]}.csv").open())][0] == "00001"
    m = rec["metrics"]
    assert set(m) == {"PCK@0.1", "PCK@0.2", "PCK_pooled@0.1", "PCK_pooled@0.2", "pck_curve"}
    assert list(m["pck_curve"]) == ["0.05", "0.1", "0.15", "0.2", "0.25", "0.3", "0.35", "0.4", "0.45", "0.5"]
    video, gt = _gt(jhmdb_data)
    pred = _pred(run_dir, video)
    assert len(pred) == N_FRAMES  # 2 extra PNGs without annotation are not propagated
    assert rec["timings"]["frames"] == N_FRAMES
    # frame 0 is CRW's read-out of its own GT maps: the GT up to the rounding to a cell (8 x 6 px)
    assert np.abs(np.asarray(pred[0]) - np.asarray(gt[0])).max(axis=0) == pytest.approx([4.0, 3.0], abs=1.6)
    assert not np.allclose(np.asarray(pred[0]), np.asarray(gt[0]), atol=1e-3)
    for alpha in (0.1, 0.2):
        assert m[f"PCK@{alpha}"] == pytest.approx(_pck(pred, gt, alpha), abs=1e-9)
        assert m["pck_curve"][str(alpha)] == m[f"PCK@{alpha}"]
    # every joint is visible in every frame here: the mean over joints equals the pooled ratio
    assert m["PCK_pooled@0.1"] == pytest.approx(m["PCK@0.1"])
    rows = list(csv.DictReader((run_dir / "per_joint_pck.csv").open()))
    assert [r["joint"] for r in rows][:3] == ["neck", "belly", "face"] and len(rows) == 15
    assert np.mean([float(r["PCK@0.1"]) for r in rows]) == pytest.approx(m["PCK@0.1"])
    assert {int(r["n"]) for r in rows} == {N_FRAMES - 1}  # frame 0 excluded
    assert "PCK@0.1" in output and str(run_dir) in output.replace("\n", "")


def test_identity_copies_frame_zero(jhmdb_data, tmp_path):
    run_dir, _ = _run(jhmdb_data, tmp_path, "identity")
    video, gt = _gt(jhmdb_data)
    pred = _pred(run_dir, video)
    for t in range(N_FRAMES):
        assert np.asarray(pred[t]) == pytest.approx(np.asarray(gt[0]), abs=1e-3)
    m = json.loads((run_dir / "summary.json").read_text())["metrics"]
    assert m["PCK@0.2"] == pytest.approx(_pck(pred, gt, 0.2), abs=1e-9)


@pytest.mark.parametrize("protocol", ["crw-jhmdb", "crw"])
def test_keypoint_runs_on_the_batched_path_equal_the_windowed_path(jhmdb_data, tmp_path, monkeypatch, protocol):
    """Keypoint runs take the batched (GPU) path on CUDA; forced here on CPU, it predicts the same
    keypoints as the windowed path and the record names the path that ran."""
    got = {}
    for path in ("windowed", "batched"):
        monkeypatch.setenv("VOSBENCH_PROPAGATION", path)
        runs = tmp_path / path
        invoke("run", "--model", "resnet18", "--dataset", "synthetic-jhmdb", "--data-root", str(jhmdb_data),
               "--out", str(runs), "--device", "cpu", "--protocol", protocol)
        (run_dir,) = list((runs / "synthetic-jhmdb" / "resnet18").iterdir())
        rec = json.loads((run_dir / "summary.json").read_text())
        assert rec["environment"]["propagation"] == path
        video, _ = _gt(jhmdb_data)
        got[path] = (np.array(_pred(run_dir, video)), rec["metrics"])
    assert np.allclose(got["windowed"][0], got["batched"][0], atol=1e-3)
    assert got["windowed"][1] == got["batched"][1]
