"""PCK on BADJA as qianduoduolr/FGVC computes it (``mmpt/datasets/badja_dataset.py``,
``BadjaDataset.pck_evaluate``; the number in FGVC's README table, "BADJA / PCK@0.2").

Rules, step by step:

* Geometry: everything is measured in a 320 x 512 (H x W) frame (FGVC ``size=(320, 512)``,
  configs/eval/base_data.py): GT and predicted (x, y) in original pixels are scaled by
  ``sx = 512 / W``, ``sy = 320 / H``.
* Normaliser: the square root of the segmented area. The frame's DAVIS segmentation (palette
  PNG read as its index map) is resized to 320 x 512 by nearest neighbour (source index
  ``floor(i * in / out)``, OpenCV ``INTER_NEAREST``), and its pixels with a value > 0 are counted
  (every object of the frame; the horse-and-rider videos count both).
* Scored pairs: a (frame, joint) pair whose joint is annotated visible in that frame, frame 0
  (the first annotated frame, whose keypoints are the input) included, as FGVC's loop over
  ``range(clip_len)``; frames without an annotation are not scored. A missing prediction (NaN)
  is a miss.
* Correct at α when the Euclidean distance is *strictly* below ``α * sqrt(area)``
  (``correct = dist < thr``).
* Reported PCK@α: correct pairs / scored pairs pooled over every joint, frame and video
  (FGVC's ``pck_result`` lists; :class:`~vosbench.scoring.pck.PCKResult` with
  ``headline="pooled"``). Per joint and per video the same ratio over their pairs.

aharley/pips ``test_on_badja.py`` (where FGVC's evaluation comes from) differs: frame 0 is left
out (``for s1 in range(1, S)``), the reported number is the mean over videos of each video's
PCK, and its ``imageio`` read turns the palette PNG into RGB and counts the red channel > 0, so
in a two-object video only object ids 1, 3, ... count. vosbench follows FGVC.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from vosbench.core.errors import InputFileError
from vosbench.core.video import VideoSequence
from vosbench.scoring.pck import CURVE

#: (H, W) of the frame PCK is measured in
EVAL_SIZE = (320, 512)


def segmented_area(labels: np.ndarray, size: tuple[int, int] = EVAL_SIZE) -> int:
    """Pixels > 0 of an (h, w) id map after a nearest-neighbour resize to ``size`` (H, W)."""
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise InputFileError(f"BADJA PCK: a segmentation must be an (H, W) id map, got shape {lab.shape}")
    h, w = lab.shape
    rows = (np.arange(size[0]) * h) // size[0]
    cols = (np.arange(size[1]) * w) // size[1]
    return int((lab[np.ix_(rows, cols)] > 0).sum())


def badja_correct_pairs(
    pred: np.ndarray,
    gt: np.ndarray,
    areas: np.ndarray,
    frame_hw: tuple[int, int],
    thresholds: tuple[float, ...] = CURVE,
) -> tuple[np.ndarray, np.ndarray]:
    """Correctness of every scored (frame, joint) pair of one video.

    Args:
        pred: (T, J, 2) predicted (x, y) in original pixels (NaN = no prediction).
        gt: (T, J, 2) GT (x, y) in original pixels; NaN = not scored (not annotated, not visible).
            Frame 0 is scored like any frame: pass it with NaN for its invisible joints.
        areas: (T,) segmented areas in the 320 x 512 frame (:func:`segmented_area`); NaN for a
            frame without an annotation.
        frame_hw: (H, W) of the original frames.
        thresholds: α values.

    Returns:
        ``hits`` (A, J) correct pairs per threshold and joint, ``counts`` (J,) scored pairs.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    a = np.asarray(areas, dtype=np.float64)
    if p.shape != g.shape or p.ndim != 3 or p.shape[2] != 2 or a.shape != (g.shape[0],):
        raise InputFileError(f"BADJA PCK: predictions {p.shape}, GT {g.shape} and areas {a.shape} do not fit")
    scale = np.array([EVAL_SIZE[1] / frame_hw[1], EVAL_SIZE[0] / frame_hw[0]])
    d = p * scale - g * scale
    scored = np.isfinite(g).all(axis=2) & np.isfinite(a)[:, None]
    hits = np.zeros((len(thresholds), g.shape[1]), dtype=np.int64)
    with np.errstate(invalid="ignore"):
        dist = np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1])
        for k, alpha in enumerate(thresholds):
            thr = alpha * np.sqrt(a)[:, None]
            hits[k] = (scored & (dist < thr)).sum(axis=0)  # NaN distances compare False: misses
    return hits, scored.sum(axis=0).astype(np.int64)


def scored_keypoints(seq: VideoSequence) -> np.ndarray:
    """A BADJA video's GT for scoring: its keypoints with frame 0's invisible joints set to NaN
    (the adapter keeps them there as propagation input; ``meta["first_frame_visible"]``)."""
    if seq.keypoints is None:
        raise InputFileError(f"{seq.name}: the dataset gave no keypoints for this video")
    gt = np.array(seq.keypoints, dtype=np.float64)
    vis0 = seq.meta.get("first_frame_visible")
    if vis0 is not None:
        gt[0][~np.asarray(vis0, dtype=bool)] = np.nan
    return gt


def score_video(seq: VideoSequence, pred: np.ndarray, thresholds: tuple[float, ...] = CURVE) -> tuple[np.ndarray, np.ndarray]:
    """``hits`` (A, J) and ``counts`` (J,) of one BADJA video (see the module docstring): the
    areas come from the segmentations of its annotated frames (``seq.gt``), the frame size from
    its first image's header."""
    areas = np.full(len(seq), np.nan)
    for t in seq.gt:
        areas[t] = segmented_area(seq.read_gt(t))
    try:
        with Image.open(seq.image_paths[0]) as im:
            hw = (im.height, im.width)
    except (OSError, ValueError) as e:
        raise InputFileError(f"{seq.image_paths[0]}: cannot read the image header ({e})") from None
    return badja_correct_pairs(pred, scored_keypoints(seq), areas, hw, thresholds)
