"""Human-part parsing scores (VIP): a 20-class confusion matrix and the measures made from it.

Two official scripts score VIP predictions, and they are restated here as two named scorers:

* ``aten``: the dataset authors' ``evaluate/test_parsing.py`` (HCPLab-SYSU/ATEN @2e4e54e; TimeCycle
  and UVC ship the same script as ``eval_vip.py``). A prediction is read with PIL (``np.array`` of
  the opened PNG: palette indices or grey values); one of another size than its ground truth is
  resized with ``Image.ANTIALIAS`` (= ``LANCZOS``). Pillow resizes palette (``P``) images with
  NEAREST whatever is asked, so only a greyscale prediction is really filtered, and LANCZOS then
  mixes neighbouring class ids (and can overshoot past 19 at an edge).
* ``crw``: ajabri/videowalk @047f3f4 ``code/eval/eval_vip.py``. A prediction is read with
  ``cv2.imread`` (3 colour channels: a palette PNG becomes its colours), resized with
  ``Image.NEAREST`` and its last channel (red, in OpenCV's BGR order) taken as the class id. The
  script stops (in pdb) when a value exceeds 20, i.e. on any colour palette.

Both then count, with the same ``fast_hist``, every pixel whose ground truth is a class
(0 <= id < 20; 255 and other ids are ignored) into ``hist[gt, pred]`` as the flat index
``20 * gt + pred``: a predicted value of 20 or more is not refused there, it lands in the next
row's cells (and past the last cell the script fails; :func:`hist_of` fails the same way). The
measures (``show_result``) come from the matrix summed over every predicted frame: overall pixel
accuracy, mean class accuracy and mean IoU (NumPy ``nanmean``: a class absent from both ground
truth and predictions, 0/0, is left out; one only predicted has IoU 0 and counts), and
frequency-weighted IoU over the classes present in the ground truth. A run writes greyscale id
PNGs at the ground truth's size, which both scorers read alike.

**Default scorer: ``crw``**, the script behind the VIP numbers of CRW and the propagation papers
that use its test code; both agree on predictions of the ground truth's size.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vosbench.core.errors import InputFileError

N_CLASSES = 20
#: class names in id order (both scripts' ``CLASSES``)
CLASSES = (
    "background", "hat", "hair", "sun-glasses", "upper-clothes", "dress", "coat", "socks", "pants", "gloves",
    "scarf", "skirt", "torso-skin", "face", "right-arm", "left-arm", "right-leg", "left-leg", "right-shoe",
    "left-shoe",
)  # fmt: skip
SCORERS = ("crw", "aten")
DEFAULT_SCORER = "crw"
#: the largest value CRW's script accepts in a prediction (it stops on ``max() > 20``)
CRW_MAX_VALUE = 20
#: PIL modes each scorer reads as an id map (others: refused with the reason)
_ATEN_MODES = ("L", "P")
_CRW_MODES = ("L", "P", "RGB", "RGBA", "LA")


def check_scorer(name: str) -> str:
    if name not in SCORERS:
        raise InputFileError(f"unknown VIP scorer {name!r}; choose {' or '.join(SCORERS)}")
    return name


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return im
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as e:
        raise InputFileError(f"{path}: cannot read PNG ({e}); the file is corrupt or not a PNG") from None


def read_prediction(path: str | Path, scorer: str, size: tuple[int, int]) -> np.ndarray:
    """The prediction at ``path`` as ``scorer``'s script sees it once at the ground truth's
    ``size`` = (height, width): an (H, W) uint8 id map.

    Raises:
        InputFileError: unreadable, a mode the script cannot read, or (``crw``) a value above 20.
    """
    path = Path(path)
    im = _open(path)
    if check_scorer(scorer) == "aten":
        if im.mode not in _ATEN_MODES:
            raise InputFileError(
                f"{path}: mode {im.mode} PNG; the aten scorer reads predictions as ATEN's script does (PIL: "
                "palette indices or grey values), expected a palette or greyscale PNG of class ids"
            )
        return np.asarray(_resized(im, size, scorer), dtype=np.uint8)
    if im.mode not in _CRW_MODES:
        raise InputFileError(
            f"{path}: mode {im.mode} PNG; the crw scorer reads predictions as CRW's script does (cv2.imread, "
            "3 channels), expected a greyscale, palette or RGB PNG"
        )
    red = np.asarray(im.convert("RGB"))[..., 0].copy()  # cv2's BGR [..., -1]
    if red.size and int(red.max()) > CRW_MAX_VALUE:
        raise InputFileError(
            f"{path}: value {int(red.max())} in the channel CRW's eval_vip.py reads (red, after cv2.imread); it "
            f"stops on values above {CRW_MAX_VALUE}: write class ids as a greyscale PNG (a colour palette is read "
            "as its colours), or score with --scorer aten"
        )
    return np.asarray(_resized(Image.fromarray(red), size, scorer), dtype=np.uint8)


def _resized(im: Image.Image, size: tuple[int, int], scorer: str) -> Image.Image:
    """``im`` at ``size`` = (height, width) as ``scorer``'s script resizes a prediction of another
    size: ATEN ``Image.ANTIALIAS`` (LANCZOS; Pillow uses NEAREST for palette images whatever is
    asked), CRW ``Image.NEAREST``."""
    h, w = size
    if (im.height, im.width) == (h, w):
        return im
    return im.resize((w, h), Image.Resampling.LANCZOS if scorer == "aten" else Image.Resampling.NEAREST)


def fit_prediction(ids: np.ndarray, size: tuple[int, int], scorer: str) -> np.ndarray:
    """A run's (H, W) uint8 prediction as ``scorer`` sees it once written as a greyscale PNG and
    read back at the ground truth's ``size``."""
    if ids.shape == tuple(size):
        return ids
    return np.asarray(_resized(Image.fromarray(np.ascontiguousarray(ids, dtype=np.uint8)), size, scorer))


def encode_class_png(ids: np.ndarray) -> bytes:
    """A greyscale PNG of class ids: read alike by both scorers (and by palette-blind tools)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(ids, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


#: where an ignored ground-truth value's pixels are counted (past 19 * 20 + 255, the last reachable cell)
_IGNORED = 1024
_ROW_OFFSET = {
    k: np.array([k * g if g < k else _IGNORED for g in range(256)], dtype=np.uint16) for k in range(1, 21)
}


def hist_of(gt: np.ndarray, pred: np.ndarray, n: int = N_CLASSES) -> np.ndarray:
    """``fast_hist`` of both scripts: (n, n) int64 counts of ``20 * gt + pred`` over the pixels
    whose ground truth is a class (0 <= gt < n).

    Raises:
        InputFileError: a predicted value puts a pixel past the last cell (the scripts fail too).
    """
    if gt.shape != pred.shape:
        raise InputFileError(f"prediction of shape {pred.shape} for ground truth of shape {gt.shape}")
    if gt.dtype != np.uint8 or pred.dtype != np.uint8 or n > 20:
        return _hist_general(gt, pred, n)
    # one pass without a boolean copy: the row offset of each GT value from a table (an ignored
    # value gets an offset past every reachable cell), plus the prediction, in 16 bits
    flat = _ROW_OFFSET[n][gt] + pred
    counts = np.bincount(flat.ravel(), minlength=_IGNORED + 256)
    if counts[n * n : _IGNORED].any():
        _beyond(pred, n)
    return counts[: n * n].reshape(n, n)


def _hist_general(gt: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    g = gt.astype(np.int64, copy=False).ravel()
    keep = (g >= 0) & (g < n)
    flat = n * g[keep] + pred.astype(np.int64, copy=False).ravel()[keep]
    if flat.size and int(flat.max()) >= n * n:
        _beyond(pred, n)
    return np.bincount(flat, minlength=n * n).reshape(n, n)


def _beyond(pred: np.ndarray, n: int) -> None:
    raise InputFileError(
        f"a predicted value of {int(pred.max())} puts a pixel beyond the {n}x{n} confusion matrix (the "
        f"official scripts fail here too); predictions hold class ids 0..{n - 1}"
    )


@dataclass(frozen=True)
class ParsingScores:
    """The measures of one confusion matrix (fractions; NaN where undefined, as NumPy gives them).

    Attributes:
        pixel_accuracy: Correct pixels / all counted pixels.
        mean_accuracy: ``nanmean`` of the per-class accuracies.
        mIoU: ``nanmean`` of the per-class IoUs.
        fwIoU: Frequency-weighted IoU over the classes present in the ground truth.
        class_accuracy, class_iou: (20,) per class.
    """

    pixel_accuracy: float
    mean_accuracy: float
    mIoU: float
    fwIoU: float
    class_accuracy: np.ndarray
    class_iou: np.ndarray


def scores_of(hist: np.ndarray) -> ParsingScores:
    """``show_result`` of both scripts on ``hist``."""
    h = np.asarray(hist, dtype=np.float64)
    correct, gt_pix, pred_pix, total = np.diag(h), h.sum(1), h.sum(0), h.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = correct / gt_pix
        iou = correct / (gt_pix + pred_pix - correct)
        pixel = correct.sum() / total if total else float("nan")
        freq = gt_pix / total if total else np.zeros_like(gt_pix)
    present = freq > 0
    return ParsingScores(
        pixel_accuracy=float(pixel),
        mean_accuracy=_nanmean(acc),
        mIoU=_nanmean(iou),
        fwIoU=float((freq[present] * iou[present]).sum()),
        class_accuracy=acc,
        class_iou=iou,
    )


def _nanmean(values: np.ndarray) -> float:
    """``np.nanmean`` without its warning for all-NaN input (NaN then, as there)."""
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
