"""Point-tracking runs on the synthetic TAP-Vid set: tracks, tables, record, intervals, leaderboard,
`vosbench eval --benchmark tapvid` equal to the run, resume and shards, and a true-correspondence
encoder scoring AJ = 1 with `nn`."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import vosbench
from tests.support.cli import invoke
from vosbench.datasets.synthetic.scenarios import davis_scene
from vosbench.datasets.synthetic.tapvid import PICKLE, correspondence_features, ensure_synthetic_tapvid, rigid
from vosbench.scoring.tapvid import METRIC_KEYS, read_per_video_csv, sample_queries

W, H, T, VIDEOS = 112, 80, 8, 2


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """The synthetic set (2 videos x 8 frames, 112x80) written once; returns its folder."""
    root = tmp_path_factory.mktemp("synthetic-tapvid")
    ensure_synthetic_tapvid(root, videos=VIDEOS, frames=T, size=(W, H), seed=0)
    return root


def _run(synth: Path, out: Path, *extra: str) -> Path:
    invoke("run", "--model", "lab", "--dataset", "synthetic-tapvid", "--data-root", synth / PICKLE, "--out", out,
           "--device", "cpu", *extra, code=0, catch_exceptions=False)
    (run_dir,) = (out / "synthetic-tapvid" / "lab").iterdir()
    return run_dir


@pytest.fixture(scope="module")
def nn_run(synth, tmp_path_factory) -> Path:
    return _run(synth, tmp_path_factory.mktemp("nn"), "--protocol", "nn")


def test_synthetic_pickle_has_occlusions_and_points_leaving(synth):
    with open(synth / PICKLE, "rb") as f:
        data = pickle.load(f)
    assert list(data) == ["video0", "video1"]
    occ = np.concatenate([v["occluded"] for v in data.values()])
    pts = np.concatenate([v["points"] for v in data.values()])
    assert occ.any(axis=1).sum() >= 3 and (~occ).any()
    outside = ((pts < 0) | (pts > 1)).any(axis=2)
    assert (outside & occ).any() and not (outside & ~occ).any()  # a point outside the frame is occluded
    for v in data.values():
        assert v["video"].shape == (T, H, W, 3) and v["video"].dtype == np.uint8
        assert v["points"].dtype == np.float32 and v["occluded"].dtype == bool


def test_nn_run_writes_tracks_tables_and_record(synth, nn_run):
    summary = json.loads((nn_run / "summary.json").read_text())
    assert summary["task"] == "points" and summary["status"] == "complete"
    assert summary["protocol"]["name"] == "nn" and summary["protocol"]["tracker"] == "nn"
    assert set(METRIC_KEYS) <= set(summary["metrics"])
    assert summary["ci"]["unit"] == "video" and "average_jaccard" in summary["ci"]["metrics"]
    scores = read_per_video_csv((nn_run / "per_video_tapvid.csv").read_text())
    assert [s.video for s in scores] == ["video0", "video1"]
    assert summary["metrics"]["average_jaccard"] == pytest.approx(np.mean([s.metrics["average_jaccard"] for s in scores]))
    with open(synth / PICKLE, "rb") as f:
        data = pickle.load(f)
    for name, v in data.items():
        with np.load(nn_run / "tracks" / f"{name}.npz", allow_pickle=False) as z:
            q = sample_queries("first", v["occluded"], v["points"].astype(np.float64) * [W, H])
            assert z["tracks"].dtype == np.float32 and z["tracks"].shape == (len(q.points), T, 2)
            assert z["occluded"].dtype == bool and not z["occluded"].any()  # nn: every point visible
            assert len(q.points) == (~v["occluded"]).any(axis=1).sum()  # one row per track visible somewhere
            np.testing.assert_allclose(z["query_points"], q.points, atol=1e-4)
            assert str(z["query_mode"]) == "first"


def test_eval_equals_the_run(synth, nn_run, tmp_path):
    out = tmp_path / "scores.csv"
    invoke("eval", "--benchmark", "tapvid", "--gt", synth / PICKLE, "--pred", nn_run, "--out", out, code=0)
    assert out.read_text() == (nn_run / "per_video_tapvid.csv").read_text()
    summary = json.loads((nn_run / "summary.json").read_text())
    ev = json.loads(out.with_name("scores.summary.json").read_text())
    for k in METRIC_KEYS:
        assert ev[k] == summary["metrics"][k]


def test_eval_refuses_a_file_of_another_query_mode(synth, nn_run):
    res = invoke("eval", "--benchmark", "tapvid", "--gt", synth / PICKLE, "--pred", nn_run, "--query-mode", "strided", code=2)
    assert "query" in res.output and "Traceback" not in res.output


def test_leaderboard_has_tapvid_columns(nn_run):
    res = invoke("leaderboard", "--runs", nn_run.parent.parent.parent, "--ci", code=0)
    assert "| AJ | <δ_avg | OA |" in res.output and "±" in res.output


def test_propagate_strided_shards_and_resume(synth, nn_run, tmp_path):
    args = ("--protocol", "propagate", "--dataset-option", "query_mode=strided")
    for i in (0, 1):  # two shards into one run folder
        invoke("run", "--model", "lab", "--dataset", "synthetic-tapvid", "--data-root", synth / PICKLE, "--out",
               tmp_path / "sh", "--device", "cpu", "--run-id", "two", "--shard", f"{i}/2", *args, code=0)
    run_dir = tmp_path / "sh" / "synthetic-tapvid" / "lab" / "two"
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["status"] == "complete" and rec["protocol"]["tracker"] == "propagate"
    assert rec["dataset"]["query_mode"] == "strided"
    with np.load(run_dir / "tracks" / "video0.npz") as z:
        assert z["occluded"].any() and np.isfinite(z["tracks"]).all() and str(z["query_mode"]) == "strided"
    table = (run_dir / "per_video_tapvid.csv").read_text()
    assert [s.video for s in read_per_video_csv(table)] == ["video0", "video1"]
    # resume after losing one committed video: it is redone, the table is the same
    shutil.rmtree(run_dir / "sequences" / "video1")
    (run_dir / "tracks" / "video1.npz").unlink()
    invoke("run", "--resume", run_dir, code=0)
    assert (run_dir / "per_video_tapvid.csv").read_text() == table
    assert (run_dir / "tracks" / "video1.npz").is_file()
    # paired comparison and the per-video leaderboard read the per-video table
    res = invoke("compare", nn_run, run_dir, code=0)
    assert "average_jaccard" in res.output
    res = invoke("leaderboard", "--runs", tmp_path / "sh", "--per-sequence", "--dataset", "synthetic-tapvid", code=0)
    assert "AJ per sequence" in res.output and "video1" in res.output


class TrueCorrespondence(nn.Module):
    """A test-only encoder with the renderer's own correspondences as features (stride 1): each
    frame is recognised by its bytes and mapped to :func:`correspondence_features`."""

    stride = 1

    def __init__(self, frames: dict[bytes, np.ndarray], channels: int):
        super().__init__()
        self.frames = frames
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros((x.shape[0], self.channels, x.shape[2], x.shape[3]))
        for i in range(x.shape[0]):
            img = (x[i].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
            f = self.frames.get(hashlib.sha256(img.tobytes()).digest())
            if f is not None:
                out[i] = torch.from_numpy(f)
        return out


def test_true_correspondence_scores_aj_1_with_nn(synth, tmp_path):
    frames, layers = {}, 5
    for i in range(VIDEOS):
        scene = rigid(davis_scene(np.random.default_rng([0, i, 7]), i, W, H, T))
        for t in range(T):
            r = scene.render(t, coords=True)
            assert r.image is not None and r.coords is not None and len(scene.layers) < layers
            frames[hashlib.sha256(r.image.tobytes()).digest()] = correspondence_features(r.coords, layers - 1)
    channels = next(iter(frames.values())).shape[0]
    for mode in ("first", "strided"):
        out = vosbench.run(
            TrueCorrespondence(frames, channels), "synthetic-tapvid", name="truth", data_root=str(synth / PICKLE),
            out=str(tmp_path / mode), device="cpu", protocol="nn", resize="native", occlusion_threshold=0.95,
            temperature=0.01, dataset_options={"query_mode": mode},
        )
        m = out.record["metrics"]
        assert m["average_jaccard"] == 1.0 and m["occlusion_accuracy"] == 1.0, (mode, m)


def test_python_evaluate(synth, nn_run):
    out = vosbench.evaluate(synth / PICKLE, nn_run, benchmark="tapvid", query_mode="first")
    summary = json.loads((nn_run / "summary.json").read_text())
    assert out.metrics["average_jaccard"] == summary["metrics"]["average_jaccard"]
    assert list(out.per_sequence["video"]) == ["video0", "video1"]


def test_report_of_a_point_run(synth, nn_run, tmp_path):
    out = tmp_path / "report"
    invoke("report", nn_run, "--video", "gif", "--max-frames", "2", "--out", out, "--data-root", synth / PICKLE, code=0)
    assert (out / "aj_per_video.png").is_file() and (out / "video_video0.gif").is_file()
    assert "per_video_tapvid.csv" in (out / "report.html").read_text()
