"""`vosbench eval --benchmark ytvos|jhmdb`: scores of another tool's outputs equal a run's own scores
for the same predictions, checked against numbers computed here from the files, and bad inputs stop
with one line naming the file (exit 2)."""

from __future__ import annotations

import csv
import json
import math
import shutil
import zipfile
from functools import partial

import numpy as np
import pytest
import scipy.io
from PIL import Image

from tests.support import cli as support_cli

invoke = partial(support_cli.invoke, code=0, terminal_width=1000)


# -- YouTube-VOS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ytvos(tmp_path_factory):
    data = tmp_path_factory.mktemp("data") / "ytvos"
    runs = tmp_path_factory.mktemp("runs")
    # video 0 of the generator has an object that first appears mid-video
    invoke("data", "synth", "ytvos", "--out", data, "--videos", "2", "--frames", "5", "--size", "96x64")
    invoke("run", "--model", "lab", "--dataset", "synthetic-ytvos", "--data-root", data, "--out", runs)
    (run_dir,) = list((runs / "synthetic-ytvos" / "lab").iterdir())
    return data, run_dir


def _yt_args(data, pred, *extra):
    return ("eval", "--benchmark", "ytvos", "--gt", data / "valid_gt" / "Annotations",
            "--meta", data / "valid" / "meta.json", "--pred", pred, *extra)


def _ids(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _independent_j(data, pred_dir) -> dict[tuple[str, int], float]:
    """J-Mean per object straight from meta.json and the PNGs: IoU on the meta frames after the
    object's first one, the video's last frame left out."""
    meta = json.loads((data / "valid" / "meta.json").read_text())["videos"]
    out = {}
    for vid, entry in meta.items():
        frames = sorted({f for o in entry["objects"].values() for f in o["frames"]}, key=int)
        for oid, o in entry["objects"].items():
            k = int(oid)
            scored = [f for f in frames[:-1] if int(f) > int(o["frames"][0])]
            js = []
            for f in scored:
                g = _ids(data / "valid_gt" / "Annotations" / vid / f"{f}.png") == k
                p = _ids(pred_dir / vid / f"{f}.png") == k
                union = (g | p).sum()
                js.append(1.0 if union == 0 else (g & p).sum() / union)
            out[(vid, k)] = float(np.mean(js)) if js else math.nan
    return out


@pytest.mark.parametrize("source,workers", [("zip", "1"), ("zip", "2"), ("folder", "1"), ("folder", "2")])
def test_ytvos_equals_the_run_and_independent_numbers(ytvos, tmp_path, source, workers):
    """In this process (1) or in worker processes (2; each opens the zip itself): the same numbers."""
    data, run_dir = ytvos
    pred = run_dir / "submission.zip" if source == "zip" else run_dir / "predictions"
    out = tmp_path / "yt.csv"
    res = invoke(*_yt_args(data, pred, "--out", out, "--workers", workers))
    assert "YouTube-VOS overall" in res.output and res.output.count("overall") == 1
    # per-object CSV byte for byte, summary metrics exactly
    assert out.read_text() == (run_dir / "per_object.csv").read_text()
    mine = json.loads((tmp_path / "yt.summary.json").read_text())
    run = json.loads((run_dir / "summary.json").read_text())["metrics"]
    assert {k: mine[k] for k in run} == run
    assert mine["kind"] == "eval" and mine["benchmark"] == "ytvos"
    four = [mine[k] for k in ("J_seen", "F_seen", "J_unseen", "F_unseen")]
    assert None not in four and mine["overall"] == pytest.approx(sum(four) / 4, abs=1e-12)
    # J of each object recomputed here from the files
    rows = list(csv.DictReader(out.open()))
    indep = _independent_j(data, run_dir / "predictions")
    assert len(rows) == len(indep)
    late = 0
    for r in rows:
        want = indep[(r["sequence"], int(r["object"]))]
        assert float(r["J_mean"]) == pytest.approx(want, abs=1e-12) or (math.isnan(want) and r["J_mean"] == "nan")
    meta = json.loads((data / "valid" / "meta.json").read_text())["videos"]
    for entry in meta.values():
        firsts = [int(o["frames"][0]) for o in entry["objects"].values()]
        late += sum(f > min(firsts) for f in firsts)
    assert late, "the synthetic set must have an object that first appears mid-video"


def test_ytvos_scorer_matches_the_run_scorer(ytvos):
    from vosbench.datasets.factory import load_dataset
    from vosbench.evaluate.ytvos import scorer_for_video
    from vosbench.runs.vos import scorer_for

    data, _ = ytvos
    ds = load_dataset("synthetic-ytvos", data)
    for name in ds.sequence_names():
        a, b = scorer_for(ds.sequence(name)), scorer_for_video(name, ds.meta[name])
        assert a.objects == b.objects and a._first == b._first


def test_ytvos_unseen_file_and_no_categories(ytvos, tmp_path):
    data, run_dir = ytvos
    empty = tmp_path / "none.txt"
    empty.write_text("")
    out = tmp_path / "a.csv"
    invoke(*_yt_args(data, run_dir / "submission.zip", "--unseen", empty, "--out", out))
    m = json.loads((tmp_path / "a.summary.json").read_text())
    assert m["J_unseen"] is None and m["F_unseen"] is None and m["unseen_categories"] == []
    assert m["J_seen"] == pytest.approx(m["J_mean"], abs=1e-12)  # every object is seen
    assert m["overall"] == pytest.approx((m["J_mean"] + m["F_mean"]) / 2, abs=1e-12)
    # a copy of the set without unseen_categories.txt nor train/meta.json: no split, no overall
    bare = tmp_path / "bare"
    shutil.copytree(data / "valid", bare / "valid")
    res = invoke(*_yt_args(data, run_dir / "submission.zip", "--meta", bare / "valid" / "meta.json"))
    text = " ".join(res.output.split())  # rich wraps lines
    assert "no seen/unseen split" in text and "J seen" not in text


def _zip_with(src, dst, extra: dict[str, bytes] | None = None, drop: str | None = None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if drop is None or not info.filename.endswith(drop):
                zout.writestr(info, zin.read(info))
        for name, data in (extra or {}).items():
            zout.writestr(name, data)


def test_ytvos_hostile_or_incomplete_zip(ytvos, tmp_path):
    data, run_dir = ytvos
    z = run_dir / "submission.zip"
    png = zipfile.ZipFile(z).read(zipfile.ZipFile(z).namelist()[-1])
    for name in ("Annotations/../../evil.png", "/abs/evil.png", "Annotations/v\\x/00000.png"):
        bad = tmp_path / "bad.zip"
        _zip_with(z, bad, {name: png})
        res = invoke(*_yt_args(data, bad), code=2)
        assert str(bad) in res.output and "not a single safe" in res.output
    assert not (tmp_path.parent / "evil.png").exists()
    # a scored frame missing from the zip
    meta = json.loads((data / "valid" / "meta.json").read_text())["videos"]
    vid = sorted(meta)[0]
    frames = sorted({f for o in meta[vid]["objects"].values() for f in o["frames"]}, key=int)
    short = tmp_path / "short.zip"
    _zip_with(z, short, drop=f"{vid}/{frames[1]}.png")
    res = invoke(*_yt_args(data, short), code=2)
    assert f"{short}:Annotations/{vid}/{frames[1]}.png" in res.output
    # not a zip at all
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert str(junk) in invoke(*_yt_args(data, junk), code=2).output


def test_options_belong_to_their_benchmark(ytvos, tmp_path):
    data, run_dir = ytvos
    res = invoke("eval", "--gt", data / "valid_gt" / "Annotations", "--pred", run_dir / "predictions",
                 "--meta", data / "valid" / "meta.json", code=2)
    assert "--meta applies to --benchmark ytvos" in res.output
    res = invoke("eval", "--benchmark", "ytvos", "--gt", data / "valid_gt" / "Annotations",
                 "--pred", run_dir / "predictions", code=2)
    assert "needs --meta" in res.output


# -- JHMDB ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jhmdb(tmp_path_factory):
    data = tmp_path_factory.mktemp("data") / "jhmdb"
    runs = tmp_path_factory.mktemp("runs")
    invoke("data", "synth", "jhmdb", "--out", data, "--videos", "2", "--frames", "5")
    invoke("run", "--model", "lab", "--dataset", "synthetic-jhmdb", "--data-root", data, "--out", runs)
    (run_dir,) = list((runs / "synthetic-jhmdb" / "lab").iterdir())
    return data, run_dir


def _independent_pck(data, kdir, alpha) -> float:
    """Mean over joints of per-joint PCK, from the .mat files and the CSVs, frame 0 left out."""
    hits, n = np.zeros(15), np.zeros(15)
    for mat in sorted(data.glob("joint_positions/*/*/joint_positions.mat")):
        pos = scipy.io.loadmat(str(mat))["pos_img"] - 1.0  # [2, 15, T]
        rows = list(csv.DictReader((kdir / f"{mat.parent.name}.csv").open()))
        pred = {(r["frame"], int(r["joint"])): (float(r["x"]), float(r["y"])) for r in rows}
        n_frames = len({r["frame"] for r in rows})
        for t in range(1, n_frames):
            xs, ys = pos[0, :, t], pos[1, :, t]
            thr = alpha * 0.6 * math.hypot(xs.max() - xs.min(), ys.max() - ys.min())
            for j in range(15):
                n[j] += 1
                hits[j] += math.dist(pred[(f"{t + 1:05d}", j)], (xs[j], ys[j])) <= thr * (1 + 1e-9)
    return float(np.mean(hits / n))


def test_jhmdb_equals_the_run_and_independent_pck(jhmdb, tmp_path):
    data, run_dir = jhmdb
    out = tmp_path / "pck.csv"
    res = invoke("eval", "--benchmark", "jhmdb", "--gt", data, "--pred", run_dir, "--out", out)
    assert "PCK curve" in res.output and "right_ankle" in res.output
    assert out.read_text() == (run_dir / "per_video_pck.csv").read_text()
    assert (tmp_path / "pck.per_joint.csv").read_text() == (run_dir / "per_joint_pck.csv").read_text()
    mine = json.loads((tmp_path / "pck.summary.json").read_text())
    run = json.loads((run_dir / "summary.json").read_text())["metrics"]
    assert {k: mine[k] for k in run} == run and mine["benchmark"] == "jhmdb"
    for alpha in (0.1, 0.2):
        assert mine[f"PCK@{alpha}"] == pytest.approx(_independent_pck(data, run_dir / "keypoints", alpha), abs=1e-12)
    # the keypoints folder itself works too
    invoke("eval", "--benchmark", "jhmdb", "--gt", data, "--pred", run_dir / "keypoints", "--split", "1")


def test_jhmdb_bad_keypoint_files(jhmdb, tmp_path):
    data, run_dir = jhmdb
    kdir = tmp_path / "kp"
    shutil.copytree(run_dir / "keypoints", kdir)
    victim = sorted(kdir.glob("*.csv"))[0]
    lines = victim.read_text().splitlines()
    victim.write_text("\n".join(lines[:-1]) + "\n")  # last frame loses its last joint
    res = invoke("eval", "--benchmark", "jhmdb", "--gt", data, "--pred", kdir, code=2)
    assert str(victim) in res.output and "no row for joint(s) 14" in res.output
    victim.write_text("\n".join(lines + ["99999,0,1.0,2.0"]) + "\n")
    res = invoke("eval", "--benchmark", "jhmdb", "--gt", data, "--pred", kdir, code=2)
    assert str(victim) in res.output and "'99999' is not an annotated frame" in res.output
    victim.unlink()
    res = invoke("eval", "--benchmark", "jhmdb", "--gt", data, "--pred", kdir, code=2)
    assert str(victim) in res.output and "no keypoints for video" in res.output
