"""VIP end to end on the generated VIP_Fine layout: `vosbench run` on vip-val and synthetic-vip
(the model is `lab`: the VIP path is the same for every encoder; CRW's encoder is tested with its
official checkpoint layout in tests/test_models_crw.py)
(tables, record, intervals, leaderboard rows, report), shards + resume equal to one process, the
run's scores equal to `vosbench eval --benchmark vip` and to both official scripts restated, the
presets, the dataset's layout and hostile names, and `vosbench data download vip`."""

from __future__ import annotations

import csv
import json
import math
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support import cli as support_cli
from tests.support.vip import official
from tests.test_hostile import hostile_names, snapshot, written_outside_runs
from vosbench.propagation.protocol import PRESET_INFO, PRESETS

invoke = partial(support_cli.invoke, code=0, catch_exceptions=False)
#: small frames so that every run takes a second or two on a CPU
SMALL = ("--set", "size=96", "--device", "cpu", "--quiet")
TABLES = ("confusion.csv", "per_video_miou.csv", "per_class_iou.csv")


def one_line_exit_2(res, *needles: str) -> str:
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def vip(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("data") / "VIP_Fine"
    invoke("data", "synth", "vip", "--out", data, "--videos", "3", "--frames", "3", "--size", "128x96")
    return data


@pytest.fixture(scope="module")
def single(vip, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    invoke("run", "--model", "lab", "--dataset", "vip-val", "--data-root", vip, "--out", out, "--run-id", "one", *SMALL)
    return out / "vip-val" / "lab" / "one"


def test_layout_and_run_record(vip, single):
    assert (vip / "lists" / "val_videos.txt").read_text().split() == ["videos1", "videos2", "videos3"]
    assert sorted(p.name for p in (vip / "Images" / "videos1").iterdir()) == [
        "000000000000.jpg", "000000000025.jpg", "000000000050.jpg"]
    gt = np.asarray(Image.open(vip / "Annotations/Category_ids/videos1/000000000000.png"))
    assert set(np.unique(gt)) <= {0, 4, 8, 13, 14, 15, 16, 17} and len(np.unique(gt)) >= 5
    rec = json.loads((single / "summary.json").read_text())
    assert rec["status"] == "complete" and rec["task"] == "parsing"
    assert rec["protocol"]["name"] == "crw-vip" and rec["protocol"]["scorer"] == "crw"
    assert set(rec["metrics"]) == {"mIoU", "pixel_accuracy", "mean_accuracy", "fwIoU"}
    assert rec["ci"]["unit"] == "video" and set(rec["ci"]["metrics"]) == {"mIoU", "mean_accuracy", "pixel_accuracy"}
    for t in TABLES:
        assert (single / t).is_file()
    assert sorted(p.name for p in (single / "predictions" / "videos2").iterdir()) == [
        "000000000000.png", "000000000025.png", "000000000050.png"]
    rows = list(csv.DictReader((single / "per_video_miou.csv").open()))
    assert [r["video"] for r in rows] == ["videos1", "videos2", "videos3"] and {r["frames"] for r in rows} == {"3"}
    classes = {int(r["class"]): r for r in csv.DictReader((single / "per_class_iou.csv").open())}
    assert classes[1]["IoU"] == "" and float(classes[0]["IoU"]) > 0.5  # hat: in no GT and never predicted


@pytest.mark.parametrize("scorer", ["crw", "aten"])
def test_run_scores_equal_eval_and_both_official_scripts(vip, single, tmp_path, scorer):
    rec = json.loads((single / "summary.json").read_text())
    invoke("eval", "--benchmark", "vip", "--gt", vip, "--pred", single, "--scorer", scorer, "--out", tmp_path / "s.csv")
    ev = json.loads((tmp_path / "s.summary.json").read_text())
    for key in ("mIoU", "pixel_accuracy", "mean_accuracy", "fwIoU"):
        assert ev[key] == rec["metrics"][key]
    assert ev["scorer"] == scorer and ev["gt_frames_without_prediction"] == 0
    assert (tmp_path / "s.confusion.csv").read_text() == (single / "confusion.csv").read_text()
    ref = official(single / "predictions", vip / "Annotations" / "Category_ids", scorer)
    assert abs(ev["mIoU"] - ref["miou"]) < 1e-12 and abs(ev["pixel_accuracy"] - ref["pixel"]) < 1e-12
    assert abs(ev["mean_accuracy"] - ref["mean_acc"]) < 1e-12 and abs(ev["fwIoU"] - ref["fw"]) < 1e-12


def test_shards_and_resume_equal_one_process(vip, single, tmp_path):
    args = ("run", "--model", "lab", "--dataset", "vip-val", "--data-root", vip, "--out", tmp_path, *SMALL)
    invoke(*args, "--run-id", "two", "--shard", "0/2")
    run_dir = tmp_path / "vip-val" / "lab" / "two"
    assert json.loads((run_dir / "summary.json").read_text())["status"] != "complete"
    invoke("run", "--resume", run_dir, "--quiet")  # the other shard's videos, then the record
    rec, one = (json.loads((d / "summary.json").read_text()) for d in (run_dir, single))
    assert rec["status"] == "complete" and rec["metrics"] == one["metrics"] and rec["ci"] == one["ci"]
    for t in TABLES:
        assert (run_dir / t).read_bytes() == (single / t).read_bytes()


def test_leaderboard_ci_per_video_report(single, tmp_path):
    runs = single.parent.parent.parent
    rows = json.loads(invoke("leaderboard", "--runs", runs, "--ci", "--format", "json").output)["rows"]
    (mine,) = [r for r in rows if r["kind"] == "run"]
    assert set(mine["ci"]) == {"mIoU", "mean_accuracy", "pixel_accuracy"}
    assert mine["ci"]["mIoU"]["low"] <= mine["metrics"]["mIoU"] <= mine["ci"]["mIoU"]["high"]
    per_video = invoke("leaderboard", "--runs", runs, "--per-sequence").output
    assert "videos3" in per_video and "mIoU (all videos)" in per_video
    invoke("report", single, "--out", tmp_path / "rep", "--video", "none")
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "mIoU per video" in html and "IoU per class" in html and "per_class_iou.csv" in html


def test_published_vip_rows_name_their_source_and_preset(single):
    runs = single.parent.parent.parent
    out = invoke("leaderboard", "--runs", runs, "--dataset", "vip-val", "--with-published").output
    assert "CRW" in out and "38.6" in out and "published, preset crw-vip" in out


def test_synthetic_dataset_name_reads_the_same_folder(vip, single, tmp_path):
    invoke("run", "--model", "lab", "--dataset", "synthetic-vip", "--data-root", vip, "--sequences", "videos2",
           "--out", tmp_path, *SMALL)
    (run_dir,) = (tmp_path / "synthetic-vip" / "lab").iterdir()
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["status"] == "complete" and rec["protocol"]["name"] == "crw-vip"
    one = {r["video"]: r for r in csv.DictReader((single / "per_video_miou.csv").open())}
    (row,) = csv.DictReader((run_dir / "per_video_miou.csv").open())
    assert row == one["videos2"]


def test_presets_restate_the_vip_settings(vip, tmp_path):
    crw, uvc = PRESETS["crw-vip"], PRESETS["uvc-vip"]
    # CRW (videowalk issue #10): --cropSize 560 --videoLen 4 --topk 10 --radius 12 --temperature 0.05,
    # the 560x560 output resized with PIL NEAREST to the GT by eval_vip.py
    assert (crw.resize, crw.size, crw.context, crw.topk, crw.radius, crw.temperature) == ("square", 560, 4, 10, 12.0, 0.05)
    assert crw.pad_with_first and not crw.radius_on_first and crw.upscale == "pil-nearest"
    # UVC README: --scale_size 560 560 --pre_num 1, defaults --topk 5 --temp 1, per-frame mixing
    assert (uvc.resize, uvc.size, uvc.context, uvc.topk, uvc.temperature) == ("square", 560, 1, 5, 1.0)
    assert uvc.mixing == "per-frame-mean" and uvc.label_downsample == "pil-nearest" and uvc.norm_mask
    for name in ("crw-vip", "uvc-vip"):
        assert "videowalk" in PRESET_INFO[name].reference or "UVC" in PRESET_INFO[name].reference
    invoke("run", "--model", "lab", "--dataset", "vip-val", "--data-root", vip, "--protocol", "uvc-vip",
           "--sequences", "videos3", "--out", tmp_path, *SMALL)
    (run_dir,) = (tmp_path / "vip-val" / "lab").iterdir()
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["protocol"]["name"] == "uvc-vip" and rec["protocol"]["context"] == 1
    assert not math.isnan(rec["metrics"]["mIoU"])


def test_layout_problems_and_hostile_names_are_one_line(vip, tmp_path):
    bad = tmp_path / "VIP_Fine"
    (bad / "Images").mkdir(parents=True)
    (bad / "Annotations" / "Category_ids").mkdir(parents=True)
    (bad / "lists").mkdir()
    (bad / "lists" / "val_videos.txt").write_text("videos1\n../../etc\n")
    res = support_cli.invoke("run", "--model", "lab", "--dataset", "vip-val", "--data-root", bad, "--out", tmp_path / "r")
    one_line_exit_2(res, "val_videos.txt", "../../etc")
    (bad / "lists" / "val_videos.txt").write_text("videos1\n")
    res = support_cli.invoke("data", "check", "vip-val", "--data-root", bad)
    assert res.exit_code == 2 and "videos1" in res.output and "Traceback" not in res.output
    invoke("data", "check", "vip-val", "--data-root", vip)
    res = support_cli.invoke("eval", "--benchmark", "vip", "--gt", vip, "--pred", tmp_path / "none")
    one_line_exit_2(res, "prediction folder not found")
    res = support_cli.invoke("eval", "--benchmark", "davis", "--gt", vip, "--pred", vip, "--scorer", "crw")
    one_line_exit_2(res, "--scorer applies to --benchmark vip")


def test_download_prints_where_vip_is_shared(tmp_path):
    out = invoke("data", "download", "vip-val", "--dir", tmp_path).output
    assert "VIP_Fine/Annotations/Category_ids/<video>/<frame>.png" in out and "1drv.ms" in out
    assert str(tmp_path / "VIP_Fine") in out and not any(tmp_path.iterdir())


def test_fuzz_hostile_video_names_never_write_outside_the_run_folder(vip, tmp_path):
    (tmp_path / "victim").mkdir()  # where the absolute name points: must stay untouched
    for i, name in enumerate(hostile_names(tmp_path)):
        case = tmp_path / f"case{i}"
        root = case / "VIP_Fine"
        shutil.copytree(vip, root)
        (root / "lists" / "val_videos.txt").write_text(f"videos1\n{name}\n", encoding="utf-8")
        out = case / "runs"
        before = {**snapshot(case), **snapshot(tmp_path / "victim")}
        res = support_cli.invoke("run", "--model", "identity", "--dataset", "vip-val", "--data-root", root,
                                 "--out", out, "--device", "cpu")
        assert res.exit_code == 2 and "Traceback" not in res.output, (name, res.output)
        assert "val_videos.txt:2" in res.output, (name, res.output)
        assert written_outside_runs(before, case, out) == [] and not any((tmp_path / "victim").iterdir()), name


def test_sweep_points_equal_single_runs(vip, single, tmp_path):
    invoke("run", "--model", "lab", "--dataset", "vip-val", "--data-root", vip, "--out", tmp_path,
           "--sweep", "topk=5,10", *SMALL)
    folders = sorted((tmp_path / "vip-val" / "lab").iterdir())
    assert [f.name[-3:] for f in folders] == ["-p0", "-p1"]
    (p1,) = [json.loads((f / "summary.json").read_text()) for f in folders if f.name.endswith("-p1")]
    assert p1["protocol"]["topk"] == 10 and p1["metrics"] == json.loads((single / "summary.json").read_text())["metrics"]
    for t in TABLES:
        assert (folders[1] / t).read_bytes() == (single / t).read_bytes()


def test_python_api_evaluates_vip_like_the_command(vip, single):
    import vosbench

    ev = vosbench.evaluate(vip, single, benchmark="vip", scorer="aten")
    rec = json.loads((single / "summary.json").read_text())
    assert ev.metrics == rec["metrics"] and ev.facts["scorer"] == "aten"
    assert list(ev.per_sequence["video"]) == ["videos1", "videos2", "videos3"]
    assert ev.per_object["name"].iloc[13] == "face" and set(ev.per_frame.columns) == {"video", "gt", "pred", "pixels"}
