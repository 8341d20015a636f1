"""`vosbench run` on synthetic-ytvos (generated in the YouTube-VOS valid layout, read by the real
loader): late objects, the submission zip, and J/F seen/unseen."""

from __future__ import annotations

import csv
import json
import zipfile
from functools import partial
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support import cli as support_cli

invoke = partial(support_cli.invoke, code=0, catch_exceptions=False)


@pytest.fixture(scope="module")
def ytvos_run(tmp_path_factory):
    data = tmp_path_factory.mktemp("data") / "ytvos"
    runs = tmp_path_factory.mktemp("runs")
    # one video (the one with an object that first appears mid-video), 5 annotated frames,
    # 21 raw frames in the all-frames release
    invoke("data", "synth", "ytvos", "--out", str(data), "--videos", "1", "--frames", "5", "--size", "128x80")
    res = invoke(
        "run", "--model", "lab", "--dataset", "synthetic-ytvos", "--data-root", str(data), "--out", str(runs), "--device", "cpu"
    )
    (run_dir,) = list((runs / "synthetic-ytvos" / "lab").iterdir())
    meta = json.loads((data / "valid" / "meta.json").read_text())["videos"]
    return data, run_dir, meta, res.output


def test_late_object_is_never_predicted_before_its_first_frame(ytvos_run):
    data, run_dir, meta, _ = ytvos_run
    (vid,) = meta
    objects = {int(k): v for k, v in meta[vid]["objects"].items()}
    firsts = {k: int(v["frames"][0]) for k, v in objects.items()}
    late = [k for k, f in firsts.items() if f > min(firsts.values())]
    assert late, "the generator's video 0 must have an object that appears mid-video"
    preds = sorted((run_dir / "predictions" / vid).glob("*.png"))
    seen_late = False
    for p in preds:
        ids = set(np.unique(np.asarray(Image.open(p))).tolist())
        for k in late:
            if int(p.stem) < firsts[k]:
                assert k not in ids, f"object {k} predicted in {p.name}, before its first frame {firsts[k]:05d}"
            else:
                seen_late |= k in ids
    assert seen_late  # ... and it is predicted once it has joined
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["dataset"]["all_frames"] is True
    raw = len(list((data / "all_frames" / "valid_all_frames" / "JPEGImages" / vid).glob("*.jpg")))
    assert rec["timings"]["frames"] == raw == 21  # propagated over every raw frame


def test_zip_has_one_png_per_meta_frame_with_sizes_and_ids(ytvos_run):
    data, run_dir, meta, output = ytvos_run
    rec = json.loads((run_dir / "summary.json").read_text())
    zpath = Path(rec["submission_zip"])
    assert zpath == run_dir / "submission.zip" and str(zpath) in output.replace("\n", "")
    expected = sorted(
        f"Annotations/{vid}/{f}.png" for vid, v in meta.items() for f in {f for o in v["objects"].values() for f in o["frames"]}
    )
    with zipfile.ZipFile(zpath) as zf:
        assert sorted(zf.namelist()) == expected
        for name in expected:
            _, vid, frame = name.split("/")
            im = Image.open(BytesIO(zf.read(name)))
            src = Image.open(data / "valid" / "JPEGImages" / vid / frame.replace(".png", ".jpg"))
            assert im.mode == "P" and im.size == src.size
            ids = set(np.unique(np.asarray(im)).tolist())
            assert ids <= {0} | {int(k) for k in meta[vid]["objects"]}


def test_j_f_seen_unseen(ytvos_run):
    data, run_dir, meta, output = ytvos_run
    m = json.loads((run_dir / "summary.json").read_text())["metrics"]
    unseen = set((data / "unseen_categories.txt").read_text().split())
    rows = list(csv.DictReader((run_dir / "per_object.csv").open()))
    cat = {(vid, int(k)): o["category"] for vid, v in meta.items() for k, o in v["objects"].items()}
    groups: dict[str, list[dict[str, str]]] = {"seen": [], "unseen": []}
    for r in rows:
        groups["unseen" if cat[(r["sequence"], int(r["object"]))] in unseen else "seen"].append(r)
    assert groups["seen"] and groups["unseen"]
    for g, rs in groups.items():
        assert m[f"J_{g}"] == pytest.approx(np.mean([float(r["J_mean"]) for r in rs]), abs=1e-12)
        assert m[f"F_{g}"] == pytest.approx(np.mean([float(r["F_mean"]) for r in rs]), abs=1e-12)
    assert m["overall"] == pytest.approx((m["J_seen"] + m["F_seen"] + m["J_unseen"] + m["F_unseen"]) / 4, abs=1e-12)
    assert "YouTube-VOS overall" in output
    # one headline: the all-objects J&F row is not a second "overall"
    assert output.lower().count("overall") == 1 and "all objects" in output
    # a late object is scored only from the frame after its first appearance
    per_frame = list(csv.DictReader((run_dir / "per_frame.csv").open()))
    (vid,) = meta
    for k, o in meta[vid]["objects"].items():
        frames = [r["frame"] for r in per_frame if r["object"] == k]
        assert frames and min(frames) > o["frames"][0]
