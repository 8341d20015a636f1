"""The VIP scorers against step-by-step restatements of the two official scripts.

``aten_script`` restates HCPLab-SYSU/ATEN evaluate/test_parsing.py (compute_hist + show_result),
``crw_script`` ajabri/videowalk code/eval/eval_vip.py (cv2.imread, NEAREST, last channel), both
with per-pixel and per-class loops, on hand-made files: a class absent from the ground truth, a
class absent from both, ignore pixels, predictions of another size where ANTIALIAS and NEAREST
differ, palette and greyscale files.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vosbench.core.errors import InputFileError
from vosbench.core.labels import PALETTE
from vosbench.scoring.parsing import N_CLASSES, hist_of, read_prediction, scores_of
from tests.support.vip import aten_script, crw_script, naive_hist, show_result

N = N_CLASSES


def ours(pairs: list[tuple[Path, Path]], scorer: str) -> np.ndarray:
    hist = np.zeros((N, N), dtype=np.int64)
    for pred, gt in pairs:
        g = np.array(Image.open(gt))
        hist += hist_of(g, read_prediction(pred, scorer, g.shape))
    return hist


def _grey(path: Path, ids: np.ndarray) -> Path:
    Image.fromarray(ids.astype(np.uint8), mode="L").save(path)
    return path


def _palette(path: Path, ids: np.ndarray, palette: bytes = PALETTE) -> Path:
    im = Image.fromarray(ids.astype(np.uint8), mode="P")
    im.putpalette(palette)
    im.save(path)
    return path


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path]]:
    d = tmp_path_factory.mktemp("vip")
    rng = np.random.default_rng(3)
    gt1 = rng.choice([0, 2, 4, 13, 14], size=(12, 16)).astype(np.uint8)
    gt1[0, :5] = 255  # ignored pixels
    pred1 = gt1.copy()
    pred1[gt1 == 255] = 0
    pred1[3:6, 3:9] = 7  # class 7 predicted, absent from every ground truth (IoU 0, counts)
    pred1[8:, 10:] = 4
    gt2 = np.zeros((20, 30), np.uint8)
    gt2[4:16, 5:12] = 5
    gt2[4:16, 12:25] = 12
    gt2[18:, :] = 255
    small = np.zeros((10, 15), np.uint8)  # another size: ANTIALIAS and NEAREST differ at the edges
    small[2:8, 2:6] = 5
    small[2:8, 6:12] = 12
    return [
        (_grey(d / "a.png", pred1), _grey(d / "a_gt.png", gt1)),
        (_grey(d / "b.png", small), _grey(d / "b_gt.png", gt2)),
        (_palette(d / "c.png", small), _grey(d / "c_gt.png", gt2)),  # P: Pillow resizes with NEAREST
    ]


def test_aten_and_crw_differ_on_the_resized_greyscale_prediction(cases: list[tuple[Path, Path]]) -> None:
    pred, gt = cases[1]
    shape = np.array(Image.open(gt)).shape
    assert not np.array_equal(read_prediction(pred, "aten", shape), read_prediction(pred, "crw", shape))
    # Pillow resizes a palette image with NEAREST whatever is asked: there ATEN's ANTIALIAS is CRW's NEAREST
    pal, _ = cases[2]
    grey_nearest = np.asarray(Image.open(pred).resize(shape[::-1], Image.Resampling.NEAREST))
    assert np.array_equal(read_prediction(pal, "aten", shape), grey_nearest)


def test_aten_scorer_equals_the_restated_script(cases: list[tuple[Path, Path]]) -> None:
    ref = aten_script(cases)
    got = ours(cases, "aten")
    assert np.array_equal(got, ref)
    _same_measures(got, ref)


def test_crw_scorer_equals_the_restated_script(cases: list[tuple[Path, Path]]) -> None:
    # the palette file's colours exceed 20 (CRW's script stops there): greyscale files only
    grey = cases[:2]
    ref = crw_script(grey)
    got = ours(grey, "crw")
    assert np.array_equal(got, ref)
    _same_measures(got, ref)
    assert not np.array_equal(ref, aten_script(grey))


def _same_measures(hist: np.ndarray, ref_hist: np.ndarray) -> None:
    s, ref = scores_of(hist), show_result(ref_hist)
    assert abs(s.pixel_accuracy - ref["pixel"]) < 1e-12
    assert abs(s.mean_accuracy - ref["mean_acc"]) < 1e-12
    assert abs(s.mIoU - ref["miou"]) < 1e-12
    assert abs(s.fwIoU - ref["fw"]) < 1e-12
    np.testing.assert_allclose(s.class_iou, ref["iu"], rtol=0, atol=1e-12)
    assert s.class_iou[7] == 0.0  # predicted, absent from the ground truth
    assert np.isnan(s.class_iou).any()  # classes absent from both: left out of the mean


def test_perfect_prediction_scores_one(tmp_path: Path) -> None:
    gt = np.arange(N, dtype=np.uint8).repeat(3).reshape(6, 10)
    pair = (_grey(tmp_path / "p.png", gt), _grey(tmp_path / "g.png", gt))
    for scorer in ("aten", "crw"):
        s = scores_of(ours([pair], scorer))
        assert s.pixel_accuracy == s.mean_accuracy == s.mIoU == 1.0
        assert abs(s.fwIoU - 1.0) < 1e-12


def test_value_20_wraps_into_the_next_row_like_fast_hist() -> None:
    gt = np.array([[3, 3, 255]], np.uint8)
    pred = np.array([[20, 3, 20]], np.uint8)
    h = hist_of(gt, pred)
    assert h[4, 0] == 1 and h[3, 3] == 1 and h.sum() == 2
    assert np.array_equal(h, naive_hist(gt, pred))
    with pytest.raises(InputFileError, match="beyond the 20x20"):
        hist_of(np.array([[19]], np.uint8), np.array([[20]], np.uint8))


def test_lanczos_overshoot_past_the_matrix_fails_as_in_atens_script(tmp_path: Path) -> None:
    small = np.zeros((10, 15), np.uint8)
    small[2:8, 2:6] = 19
    gt = np.full((20, 30), 19, np.uint8)
    pair = (_grey(tmp_path / "p.png", small), _grey(tmp_path / "g.png", gt))
    with pytest.raises(IndexError):
        aten_script([pair])
    with pytest.raises(InputFileError, match="beyond the 20x20"):
        ours([pair], "aten")


def test_crw_refuses_a_colour_palette_and_aten_an_rgb_file(tmp_path: Path) -> None:
    ids = np.array([[0, 1], [2, 3]], np.uint8)
    with pytest.raises(InputFileError, match="value 128 in the channel CRW"):
        read_prediction(_palette(tmp_path / "p.png", ids), "crw", (2, 2))
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.stack([ids] * 3, -1)).save(rgb)
    with pytest.raises(InputFileError, match="mode RGB"):
        read_prediction(rgb, "aten", (2, 2))
    assert np.array_equal(read_prediction(rgb, "crw", (2, 2)), ids)
