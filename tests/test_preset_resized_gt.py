"""Presets that score against resized ground truth (``cropmae``, ``rsp``: DAVIS resized to 480x880).

Restated here, step by step: OpenCV's ``INTER_NEAREST`` and PIL's nearest call on label maps, the
resized copy a run propagates on, and the score: a ``gt_size`` run's J&F equals ``vosbench eval``
of its PNGs against GT PNGs resized by hand (cv2 / PIL, not vosbench's code). Records, leaderboard
and compare keep such runs apart from native-size ones.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

import vosbench
from tests.support.cli import invoke
from tests.support.encoders import PatchConv
from vosbench.core.errors import ConfigError
from vosbench.propagation.protocol import PRESETS, get_protocol
from vosbench.propagation.rescale import cv2_nearest, pil_nearest_array, resize_frame
from vosbench.propagation.resize import resize_bilinear_uint8

cv2 = pytest.importorskip("cv2")


def naive_cv2_nearest(img: np.ndarray, h2: int, w2: int) -> np.ndarray:
    """OpenCV's resizeNN written out: source x = min(floor(x * (W / W')), W - 1)."""
    h, w = img.shape[:2]
    out = np.zeros((h2, w2) + img.shape[2:], img.dtype)
    for y in range(h2):
        for x in range(w2):
            out[y, x] = img[min(int(np.floor(y * (1 / (h2 / h)))), h - 1), min(int(np.floor(x * (1 / (w2 / w)))), w - 1)]
    return out


@pytest.mark.parametrize("src,dst", [((48, 64), (60, 110)), ((48, 64), (30, 44)), ((13, 17), (48, 88))])
def test_label_resize_rules_restated(src, dst):
    ids = np.random.default_rng(1).integers(0, 6, size=src).astype(np.uint8)
    assert np.array_equal(cv2_nearest(ids, *dst), naive_cv2_nearest(ids, *dst))
    assert np.array_equal(cv2_nearest(ids, *dst), cv2.resize(ids, dst[::-1], interpolation=cv2.INTER_NEAREST))
    pil = np.asarray(Image.fromarray(ids).resize(dst[::-1], Image.NEAREST))  # RSP's call itself
    assert np.array_equal(pil_nearest_array(ids, *dst), pil)
    # DAVIS 480p to 480x880: the two rules pick other source columns, so the rule is a recorded setting
    wide = np.tile(np.arange(854) % 251, (2, 1)).astype(np.uint8)
    assert not np.array_equal(cv2_nearest(wide, 2, 880), pil_nearest_array(wide, 2, 880))


def test_frame_resize_rules():
    img = np.random.default_rng(2).integers(0, 256, size=(48, 64, 3)).astype(np.uint8)
    assert np.array_equal(resize_frame(img, 60, 110, "cv2"), cv2.resize(img, (110, 60)))  # vos.py: bilinear
    assert np.array_equal(resize_frame(img, 60, 110, "cv2"), resize_bilinear_uint8(img, 60, 110))
    ref = np.asarray(Image.fromarray(img).resize((110, 60), Image.NEAREST))  # RSP: davis_preprocessing.py
    assert np.array_equal(resize_frame(img, 60, 110, "pil-nearest"), ref)


def test_presets_restate_the_official_defaults():
    c, r = PRESETS["cropmae"], PRESETS["rsp"]
    # CropMAE start.py DAVIS defaults on CRW's test.py loop (context_index_bank pads with frame 0)
    assert (c.temperature, c.topk, c.radius, c.context, c.gt_size, c.gt_resize) == (0.7, 7, 20.0, 20, "480x880", "cv2")
    assert c.pad_with_first and not c.radius_on_first and c.window == "circle" and c.resize == "native"
    assert c.label_downsample == "bilinear" and not c.norm_mask and c.l2_normalize
    # RSP README command on DINO's script
    assert (r.topk, r.radius, r.context, r.temperature, r.gt_size, r.gt_resize) == (7, 30.0, 30, 0.1, "480x880", "pil-nearest")
    assert r.replace(topk=5, radius=12.0, context=7, gt_size="native").settings() == PRESETS["dino"].settings()
    assert get_protocol("crw", gt_size="24x40").gt_hw() == (24, 40)
    for bad in ("480", "0x10", "480x880x3", "-1x5", "99999x5"):
        with pytest.raises(ConfigError, match="gt_size"):
            get_protocol("crw", gt_size=bad)


@pytest.fixture(scope="module")
def resized_run(tmp_path_factory):
    from tests.conftest import write_tiny_davis17

    base = tmp_path_factory.mktemp("gt")
    root = write_tiny_davis17(base / "DAVIS")  # 64x48 frames
    out = vosbench.run(PatchConv("patch8-gt", 8, 16, seed=5), "davis17-val", data_root=str(root), protocol="cropmae", gt_size="40x72",
                       device="cpu", out=str(base / "runs"))
    return root, base, out


def test_resized_gt_score_equals_scoring_hand_resized_masks(resized_run):
    root, base, out = resized_run
    # the ground truth resized by hand with OpenCV's INTER_NEAREST, into a DAVIS tree of its own
    copy = base / "DAVIS_40_72"
    shutil.copytree(root, copy)
    for png in (copy / "Annotations/480p").rglob("*.png"):
        im = Image.open(png)
        ids = cv2.resize(np.asarray(im), (72, 40), interpolation=cv2.INTER_NEAREST)
        small = Image.fromarray(ids, mode="P")
        small.putpalette(im.getpalette())
        small.save(png)
    pred = out.run_dir / "predictions"
    assert Image.open(next(pred.rglob("00003.png"))).size == (72, 40)
    ev = vosbench.evaluate(copy / "Annotations/480p", pred, benchmark="davis")
    ours = out.record["metrics"]
    for key in ("JF_mean", "J_mean", "F_mean"):
        assert ev.metrics[key] == pytest.approx(ours[key], abs=1e-12)
    # against the native GT the same PNGs cannot be scored: the sizes differ
    assert json.loads((out.run_dir / "summary.json").read_text())["protocol"]["gt_size"] == "40x72"


def test_resized_runs_are_a_benchmark_of_their_own(resized_run):
    root, base, out = resized_run
    vosbench.run(PatchConv("patch8-gt", 8, 16, seed=5), "davis17-val", data_root=str(root), protocol="crw", device="cpu", out=str(base / "runs"))
    res = invoke("leaderboard", "--runs", base / "runs", code=0)
    assert "### davis17-val@40x72" in res.output and "### davis17-val\n" in res.output
    dirs = sorted((base / "runs/davis17-val/patch8-gt").iterdir())
    res = invoke("compare", *dirs, code=2)
    assert "different datasets (davis17-val" in res.output and "davis17-val@40x72" in res.output
    assert res.output.strip().count("\n") == 0
    # the report shows a resized run's masks on the native frames
    invoke("report", next(d for d in dirs if "40x72" in (d / "summary.json").read_text()), "--out", base / "rep", code=0)


def test_gt_size_is_refused_on_keypoint_datasets_and_in_sweeps(tmp_path):
    res = invoke("run", "--model", "lab", "--dataset", "synthetic-jhmdb", "--set", "gt_size=48x48",
                 "--out", tmp_path, code=2)
    assert "gt_size=48x48" in res.output and "segmentation datasets" in res.output
    res = invoke("run", "--model", "lab", "--dataset", "synthetic-davis", "--sweep", "gt_size=native,48x48",
                 "--out", tmp_path, code=2)
    assert "changes the features" in res.output


def test_gt_size_needs_ground_truth_and_one_size_per_run(tmp_path):
    from vosbench.core.video import VideoSequence
    from vosbench.propagation.rescale import RescaledSequence, rescale_sequences

    seq = VideoSequence("v", ["00000"], [tmp_path / "00000.jpg"], annotations={0: tmp_path / "a.png"})
    cropmae = PRESETS["cropmae"]
    with pytest.raises(ConfigError, match="have none"):
        rescale_sequences([seq], [cropmae], "vos")
    with pytest.raises(ConfigError, match="same at every grid point"):
        rescale_sequences([seq], [cropmae, cropmae.replace(gt_size="240x440")], "vos")
    assert rescale_sequences([seq], [PRESETS["crw"]], "vos") == [seq]
    seq.gt = {0: tmp_path / "a.png"}
    (out,) = rescale_sequences([seq], [cropmae], "vos")
    assert isinstance(out, RescaledSequence) and (out.size, out.rule, out.source) == ((480, 880), "cv2", seq)


def test_published_rows_of_this_zoo_match_their_sources():
    from vosbench.results.rows import published_entries

    e = {r["id"]: r for r in published_entries()}
    # CropMAE README Checkpoints table, scored against 480x880 GT: its own benchmark and preset
    assert (e["cropmae-in"]["dataset"], e["cropmae-in"]["preset"], e["cropmae-in"]["metrics"]) == (
        "davis17-val@480x880", "cropmae", {"JF_mean": 60.1})
    assert e["cropmae-k400"]["metrics"] == {"JF_mean": 58.6} and e["cropmae-k400"]["dataset"] == "davis17-val@480x880"
    # Alxead/SFC README baseline sections (fractions there), CRW settings
    assert e["moco-v1-r50-sfc"]["metrics"] == {"JF_mean": 66.8148, "J_mean": 64.3441, "J_recall": 74.4146,
                                               "J_decay": 21.0128, "F_mean": 69.2855, "F_recall": 79.4819, "F_decay": 28.0282}
    assert e["pixpro-r50-sfc"]["metrics"]["JF_mean"] == 58.866 and e["simsiam-r50-sfc"]["metrics"]["JF_mean"] == 66.6938
    assert {e[k]["preset"] for k in ("moco-v1-r50-sfc", "simsiam-r50-sfc", "pixpro-r50-sfc", "crw-sfc")} == {"crw"}
    # LatentMIM issue #4: MAE-B 57.5 in the paper, 37.9 re-run with DINO's script
    assert (e["mae-vitb16-latentmim"]["metrics"], e["mae-vitb16-dino-rerun"]["metrics"]) == ({"JF_mean": 57.5}, {"JF_mean": 37.9})
    assert e["mae-vitb16-dino-rerun"]["preset"] == "dino" and "preset" not in e["mae-vitb16-latentmim"]
