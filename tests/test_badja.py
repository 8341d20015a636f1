"""BADJA: the PCK of FGVC's ``pck_evaluate`` restated naively and matched to 1e-12, the loader on
hand-made BADJA JSON, hostile inputs (one-line errors, exit 2), and synthetic-badja end to end
(run, records, CIs, leaderboard, resume, and `vosbench eval --benchmark badja` equal to the run)."""

from __future__ import annotations

import json
import math
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.cli import invoke
from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.core.labels import write_label_png
from vosbench.datasets import download as dl
from vosbench.datasets.badja import read_badja_json
from vosbench.datasets.badja_joints import BADJA_JOINTS, SMAL_INDEX
from vosbench.datasets.factory import load_dataset
from vosbench.datasets.synthetic import generate_badja
from vosbench.evaluate.dispatch import evaluate_benchmark
from vosbench.scoring.pck import PCKAccumulator
from vosbench.scoring.pck_badja import badja_correct_pairs, segmented_area

THRESHOLDS = (0.1, 0.2, 0.3, 0.4)


# --- FGVC's PCK, restated step by step -------------------------------------------------------------


def fgvc_nearest(seg: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """OpenCV INTER_NEAREST as mmcv.imresize calls it: source index floor(i * in / out)."""
    h, w = seg.shape
    rows = [min(int(math.floor(i * h / out_h)), h - 1) for i in range(out_h)]
    cols = [min(int(math.floor(j * w / out_w)), w - 1) for j in range(out_w)]
    return np.array([[seg[r, c] for c in cols] for r in rows], seg.dtype)


def fgvc_pck(videos, thresholds=THRESHOLDS):
    """FGVC badja_dataset.py pck_evaluate: joints [row, col] scaled by sy/sx to 320x512, every frame
    (frame 0 too), a pair counted when visible, correct when dist < ratio * sqrt(area of seg > 0),
    pooled over all videos. ``videos``: (pred (T, J, 2) x/y, joints (T, J, 2) row/col or None per
    frame, visibles (T, J) or None, segs (T, H, W) or None, (H, W))."""
    pooled = {r: [] for r in thresholds}
    for pred, joints, visibles, segs, (H, W) in videos:
        sy, sx = 320 / H, 512 / W
        for idx in range(len(joints)):
            if joints[idx] is None:
                continue
            seg = fgvc_nearest(segs[idx], 320, 512)
            area = float((seg > 0).sum())
            for t in range(len(joints[idx])):
                gtx = joints[idx][t][1] * sx
                gty = joints[idx][t][0] * sy
                predx, predy = pred[idx][t][0] * sx, pred[idx][t][1] * sy
                dist = math.sqrt((gtx - predx) ** 2 + (gty - predy) ** 2)
                if visibles[idx][t] > 0:
                    for r in thresholds:
                        pooled[r].append(dist < r * math.sqrt(area))
    return {r: float(np.mean(v)) for r, v in pooled.items()}


def vosbench_pck(videos, thresholds=THRESHOLDS):
    acc = PCKAccumulator(tuple(f"j{j}" for j in range(videos[0][0].shape[1])), thresholds, headline="pooled")
    for k, (pred, joints, visibles, segs, hw) in enumerate(videos):
        T, J = pred.shape[:2]
        gt = np.full((T, J, 2), np.nan)
        areas = np.full(T, np.nan)
        for t in range(T):
            if joints[t] is not None:
                xy = np.asarray(joints[t], float)[:, ::-1]
                gt[t] = np.where(np.asarray(visibles[t], bool)[:, None], xy, np.nan)
                areas[t] = segmented_area(segs[t])
        acc.add_counts(f"v{k}", *badja_correct_pairs(pred, gt, areas, hw, thresholds))
    return dict(zip(thresholds, acc.result().reported()))


def _video(rng, T, J, hw, annotated, noise):
    H, W = hw
    joints = [None] * T
    visibles = [None] * T
    segs = [None] * T
    pred = np.zeros((T, J, 2))
    for t in range(T):
        rc = np.column_stack([rng.integers(0, H, J), rng.integers(0, W, J)]).astype(float)
        pred[t] = rc[:, ::-1] + rng.normal(0, noise, (J, 2))
        if t in annotated:
            joints[t] = rc
            visibles[t] = rng.random(J) > 0.25
            seg = np.zeros(hw, np.uint8)
            y0, x0 = rng.integers(0, H // 2), rng.integers(0, W // 2)
            seg[y0 : y0 + H // 3, x0 : x0 + W // 3] = rng.integers(1, 3)
            segs[t] = seg
    return pred, joints, visibles, segs, hw


def test_pck_equals_fgvc_restatement_to_1e12():
    rng = np.random.default_rng(0)
    videos = [
        _video(rng, 7, 20, (108, 192), {0, 3, 5, 6}, 8.0),  # 16:9 as DAVIS full resolution, scaled down
        _video(rng, 5, 20, (90, 100), {0, 4}, 3.0),  # anisotropic scaling to 320x512
    ]
    want, got = fgvc_pck(videos), vosbench_pck(videos)
    assert 0 < want[0.2] < 1
    for r in THRESHOLDS:
        assert got[r] == pytest.approx(want[r], abs=1e-12)


def test_pck_threshold_is_strict_invisible_joints_and_perfect_prediction():
    hw = (320, 512)  # the evaluation frame itself: no scaling
    seg = np.zeros(hw, np.uint8)
    seg[:10, :10] = 1  # area 100: the 0.2 threshold is exactly 2 px, the 0.5 threshold 5 px
    joints = [np.array([[100.0, 100.0], [50.0, 60.0], [70.0, 80.0]]), None]
    visibles = [np.array([True, True, False]), None]
    pred = np.array([[[102.0, 100.0], [63.0, 54.0], [0.0, 0.0]], [[0.0, 0.0]] * 3])
    # joint 0: 2 px off (equal to the 0.2 threshold: a miss); joint 1: 3-4-5 px (at 0.5: a miss);
    # joint 2: invisible, not counted; frame 1: no annotation
    video = (pred, joints, visibles, [seg, None], hw)
    want = fgvc_pck([video], (0.2, 0.21, 0.5, 0.51))
    got = vosbench_pck([video], (0.2, 0.21, 0.5, 0.51))
    assert want == {0.2: 0.0, 0.21: 0.5, 0.5: 0.5, 0.51: 1.0}
    assert got == pytest.approx(want, abs=1e-12)
    perfect = (np.array([joints[0][:, ::-1], np.zeros((3, 2))]), joints, visibles, [seg, None], hw)
    assert vosbench_pck([perfect], (0.05,)) == {0.05: 1.0}
    nan_pred = (np.full((2, 3, 2), np.nan), joints, visibles, [seg, None], hw)
    assert vosbench_pck([nan_pred], (0.5,)) == {0.5: 0.0}  # a missing prediction is a miss


def test_segmented_area_is_opencv_nearest():
    rng = np.random.default_rng(1)
    seg = rng.integers(0, 3, (37, 61)).astype(np.uint8)
    assert segmented_area(seg) == int((fgvc_nearest(seg, 320, 512) > 0).sum())
    assert segmented_area(np.ones((1080, 1920), np.uint8)) == 320 * 512


# --- the loader on hand-made BADJA files -----------------------------------------------------------


def _entry(seq: str, frame: int, joints: list, vis: list) -> dict:
    return {
        "image_path": f"DAVIS/JPEGImages/Full-Resolution/{seq}/{frame:05d}.jpg",
        "segmentation_path": f"DAVIS/Annotations/Full-Resolution/{seq}/{frame:05d}.png",
        "joints": joints,
        "visibility": vis,
    }


def write_badja(root: Path, seq: str = "bear", frames: range = range(0, 6), annotated=(1, 4)) -> Path:
    for f in frames:
        img = root / "DAVIS" / "JPEGImages" / "Full-Resolution" / seq / f"{f:05d}.jpg"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 36), (f * 20, 90, 30)).save(img)
        lab = np.zeros((36, 64), np.uint8)
        lab[5:20, 10:40] = 1
        write_label_png(root / "DAVIS" / "Annotations" / "Full-Resolution" / seq / f"{f:05d}.png", lab)
    entries = []
    for k, f in enumerate(annotated):
        joints = [[0, 0] for _ in range(37)]
        vis = [False] * 37
        for j, s in enumerate(SMAL_INDEX):
            joints[s] = [10 + j, 20 + j + k]
            vis[s] = j != 5
        entries.append(_entry(seq, f, joints, vis))
    (root / "joint_annotations").mkdir(parents=True, exist_ok=True)
    (root / "joint_annotations" / f"{seq}.json").write_text(json.dumps(entries))
    extra = [{"image_path": "extra_videos/tiger/rgb/0007.png", "segmentation_path": "extra_videos/tiger/segmentations/0007.png",
              "joints": [[0, 0]] * 37, "visibility": [False] * 37}]
    (root / "joint_annotations" / "tiger.json").write_text(json.dumps(extra))
    return root


def test_loader_reads_badja_json(tmp_path):
    ds = load_dataset("badja", write_badja(tmp_path / "BADJA"))
    assert ds.sequence_names() == ["bear"]  # tiger (extra_videos, no frames) is left out
    seq = ds.sequence("bear")
    assert seq.frames == ["00001", "00002", "00003", "00004"]  # first to last annotated frame
    assert sorted(seq.gt) == [0, 3] and seq.gt[3].name == "00004.png"
    kps = seq.keypoints
    assert kps.shape == (4, 20, 2)
    assert kps[0, 0].tolist() == [20.0, 10.0]  # (x, y) = (col, row)
    assert kps[0, 5].tolist() == [25.0, 15.0]  # invisible in frame 0, kept as propagation input
    assert np.isnan(kps[3, 5]).all() and kps[3, 6].tolist() == [27.0, 16.0]
    assert np.isnan(kps[1:3]).all()
    assert seq.meta["first_frame_visible"][5] is False


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not a readable JSON file"),
        ("[]", "expected a non-empty JSON list"),
        (json.dumps([_entry("bear", 1, [[0, 0]] * 36, [False] * 37)]), "'joints' has 36 entries, expected 37"),
        (json.dumps([_entry("bear", 1, [[0, 0]] * 37, [False] * 36)]), "'visibility' must be a list of 37 booleans"),
        (json.dumps([_entry("bear", 1, [["a", 0]] * 37, [False] * 37)]), "pair of finite numbers"),
        (json.dumps([_entry("..", 1, [[0, 0]] * 37, [False] * 37)]), "not a single safe folder/file name"),
        (json.dumps([{**_entry("bear", 1, [[0, 0]] * 37, [False] * 37), "image_path": "/etc/passwd"}]),
         "name different videos"),
    ],
)
def test_hostile_json_is_refused_in_one_line(tmp_path, content, message):
    root = write_badja(tmp_path / "BADJA")
    (root / "joint_annotations" / "bear.json").write_text(content)
    with pytest.raises((InputFileError, DatasetLayoutError), match=message):
        read_badja_json(root / "joint_annotations" / "bear.json")
    res = invoke("data", "check", "badja", "--data-root", root, code=2)
    assert message.replace("\\", "") in res.output
    res = invoke("eval", "--benchmark", "badja", "--gt", root, "--pred", tmp_path, code=2)
    assert res.output.count("\n") <= 2 and "Traceback" not in res.output


def test_missing_frames_and_segmentations_are_named(tmp_path):
    root = write_badja(tmp_path / "BADJA")
    (root / "DAVIS/JPEGImages/Full-Resolution/bear/00002.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match="00002.jpg is missing"):
        load_dataset("badja", root).sequence("bear")
    root = write_badja(tmp_path / "B2")
    (root / "DAVIS/Annotations/Full-Resolution/bear/00004.png").unlink()
    res = invoke("data", "check", "badja", "--data-root", root, code=2)
    assert "00004.png is missing" in res.output
    shutil.rmtree(root / "joint_annotations")
    res = invoke("eval", "--benchmark", "badja", "--gt", root, "--pred", tmp_path, code=2)
    assert "joint_annotations" in res.output


# --- synthetic-badja end to end --------------------------------------------------------------------


@pytest.fixture(scope="module")
def badja_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("badja")
    data = generate_badja(base / "data", videos=2, frames=8, size=(192, 108))
    runs = base / "runs"
    invoke("run", "--model", "lab", "--dataset", "synthetic-badja", "--data-root", data, "--out", runs,
           "--device", "cpu", code=0)
    (run_dir,) = list((runs / "synthetic-badja" / "lab").iterdir())
    return data, runs, run_dir


def test_run_scores_equal_eval_on_its_predictions(badja_run, tmp_path):
    data, runs, run_dir = badja_run
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["status"] == "complete" and rec["protocol"]["name"] == "fgvc-badja"
    assert rec["dataset"]["joints"] == list(BADJA_JOINTS) and rec["dataset"]["pck"] == "badja"
    ev = evaluate_benchmark("badja", data, run_dir)
    for key in ("PCK@0.1", "PCK@0.2", "PCK_pooled@0.2"):
        assert ev.metrics[key] == pytest.approx(rec["metrics"][key], abs=1e-12)
    assert rec["metrics"]["PCK@0.2"] == rec["metrics"]["PCK_pooled@0.2"]  # BADJA reports the pooled PCK
    assert ev.tables[".csv"] == (run_dir / "per_video_pck.csv").read_text()
    assert ev.tables[".per_joint.csv"] == (run_dir / "per_joint_pck.csv").read_text()
    ci = rec["ci"]["metrics"]["PCK@0.2"]
    assert ci["low"] <= rec["metrics"]["PCK@0.2"] <= ci["high"]
    res = invoke("eval", "--benchmark", "badja", "--gt", data, "--pred", run_dir / "keypoints",
                 "--out", tmp_path / "pck.csv", code=0)
    assert "BADJA PCK per joint" in res.output and (tmp_path / "pck.per_joint.csv").is_file()
    board = invoke("leaderboard", "--runs", runs, "--with-published", "--ci", "--dataset", "synthetic-badja", code=0)
    assert "fgvc-badja v1" in board.output and "±" in board.output
    again = invoke("run", "--resume", run_dir, code=0)
    assert "0 sequence(s) (0 frames) to do here, 2 of 2 already committed" in again.output
    assert json.loads((run_dir / "summary.json").read_text())["metrics"] == rec["metrics"]


def test_eval_refuses_incomplete_predictions(badja_run, tmp_path):
    data, _, run_dir = badja_run
    pred = tmp_path / "pred"
    shutil.copytree(run_dir / "keypoints", pred)
    name = sorted(pred.glob("*.csv"))[0]
    lines = name.read_text().splitlines()
    name.write_text("\n".join(ln for ln in lines if not ln.startswith("00000,3,")) + "\n")
    res = invoke("eval", "--benchmark", "badja", "--gt", data, "--pred", pred, code=2)
    assert "has no row for joint(s) 3" in res.output
    name.write_text("frame,joint,x,y\n00000,20,1,1\n")
    res = invoke("eval", "--benchmark", "badja", "--gt", data, "--pred", pred, code=2)
    assert "joint index 20" in res.output


# --- download ---------------------------------------------------------------------------------------


def test_download_unpacks_badja_and_davis_full_resolution(range_server, monkeypatch, tmp_path):
    monkeypatch.setenv(dl.BASE_URL_ENV, range_server.url)
    src = write_badja(tmp_path / "made")

    def zipped(folder: Path, prefix: str) -> bytes:
        out = tmp_path / f"{prefix.split('/')[0]}.zip"
        with zipfile.ZipFile(out, "w") as zf:
            for p in sorted(folder.rglob("*")):
                if p.is_file():
                    zf.write(p, f"{prefix}{p.relative_to(folder).as_posix()}")
        return out.read_bytes()

    range_server.files["BADJA-master.zip"] = zipped(src / "joint_annotations", "BADJA-master/joint_annotations/")
    range_server.files["DAVIS-2017-trainval-Full-Resolution.zip"] = zipped(src / "DAVIS", "DAVIS/")
    data = tmp_path / "data"
    res = invoke("data", "download", "badja", "--dir", data, code=0)
    assert "BADJA" in res.output
    ds = load_dataset("badja", data / "BADJA")
    assert ds.sequence_names() == ["bear"] and len(ds.sequence("bear")) == 4
    invoke("data", "check", "badja", "--data-root", data / "BADJA", code=0)
