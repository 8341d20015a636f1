"""The two official VIP scorers restated step by step (per pixel, per class), for the tests.

``aten_script``: HCPLab-SYSU/ATEN @2e4e54e evaluate/test_parsing.py compute_hist (PIL read,
``Image.ANTIALIAS`` = LANCZOS resize of a prediction of another size); ``crw_script``:
ajabri/videowalk @047f3f4 code/eval/eval_vip.py compute_hist (``cv2.imread``, ``Image.NEAREST``,
the last channel); ``show_result``: both scripts' measures with explicit loops.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

N = 20


def naive_hist(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """fast_hist written as a loop: the flat index n * gt + pred of every gt pixel in [0, n)."""
    hist = np.zeros(N * N)
    for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist()):
        if 0 <= g < N:
            hist[N * g + p] += 1  # IndexError past the last cell, as bincount+reshape fails there
    return hist.reshape(N, N)


def aten_read(img_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """ATEN's compute_hist up to fast_hist: the GT and the (resized) prediction as int32 arrays."""
    label_array = np.array(Image.open(label_path), dtype=np.int32)
    image = Image.open(img_path)
    image_array = np.array(image, dtype=np.int32)
    if label_array.shape != image_array.shape:
        image = image.resize((label_array.shape[1], label_array.shape[0]), Image.Resampling.LANCZOS)
        image_array = np.array(image, dtype=np.int32)
    return label_array, image_array


def aten_script(pairs: list[tuple[Path, Path]]) -> np.ndarray:
    hist = np.zeros((N, N))
    for img_path, label_path in pairs:
        hist += naive_hist(*aten_read(img_path, label_path))
    return hist


def crw_script(pairs: list[tuple[Path, Path]]) -> np.ndarray:
    hist = np.zeros((N, N))
    for img_path, label_path in pairs:
        label_array = np.array(Image.open(label_path), dtype=np.int32)
        image = Image.fromarray(cv2.imread(str(img_path)))
        image_array = np.array(image, dtype=np.int32)
        assert image_array.max() <= 20  # the script stops in pdb otherwise
        if label_array.shape != image_array.shape:
            image = image.resize((label_array.shape[1], label_array.shape[0]), Image.Resampling.NEAREST)
            image_array = np.array(image, dtype=np.int32)
        if image_array.ndim == 3:
            image_array = image_array[..., -1]
        hist += naive_hist(label_array, image_array)
    return hist


def show_result(hist: np.ndarray) -> dict[str, float | list[float]]:
    """show_result with explicit per-class loops (nanmean: classes with 0/0 left out)."""
    total = sum(hist[i, j] for i in range(N) for j in range(N))
    correct = [hist[i, i] for i in range(N)]
    gt_pix = [sum(hist[i, j] for j in range(N)) for i in range(N)]
    pred_pix = [sum(hist[i, j] for i in range(N)) for j in range(N)]
    acc = [correct[i] / gt_pix[i] if gt_pix[i] else math.nan for i in range(N)]
    iu = []
    for i in range(N):
        union = gt_pix[i] + pred_pix[i] - correct[i]
        iu.append(correct[i] / union if union else math.nan)
    defined_acc = [a for a in acc if not math.isnan(a)]
    defined_iu = [v for v in iu if not math.isnan(v)]
    fw = sum(gt_pix[i] / total * iu[i] for i in range(N) if gt_pix[i] > 0)
    return {
        "pixel": sum(correct) / total,
        "mean_acc": sum(defined_acc) / len(defined_acc),
        "miou": sum(defined_iu) / len(defined_iu),
        "fw": fw,
        "iu": iu,
    }


def init_path(pred_dir: Path, gt_dir: Path) -> list[tuple[Path, Path]]:
    """CRW's init_path: every file of every video folder of the predictions, with the GT file of
    the same name (ATEN's reads ``<video>/gray/global_<frame>.png``; the pairing is the same)."""
    pairs = []
    for vid in sorted(p.name for p in pred_dir.iterdir()):
        for img in sorted(p.name for p in (pred_dir / vid).iterdir()):
            pairs.append((pred_dir / vid / img, gt_dir / vid / img))
    return pairs


def official(pred_dir: Path, gt_dir: Path, scorer: str) -> dict[str, float | list[float]]:
    """The measures the official script ``scorer`` prints for ``pred_dir``."""
    pairs = init_path(pred_dir, gt_dir)
    return show_result(crw_script(pairs) if scorer == "crw" else aten_script(pairs))
