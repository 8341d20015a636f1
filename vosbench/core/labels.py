"""Label and frame files: the one reader and writer of label PNGs, used by datasets, runs and
``vosbench eval`` alike, and the frame decoder.

Ids are kept exactly as stored: the palette index for ``P`` images, the value for greyscale
images (``L``, ``1``, ``I``, ``I;16``; values must fit 8 bits). DAVIS-2016 masks hold 0/255; the
DAVIS-2016 rule reads them as object 1 = value > 128 (``binary=True``). :func:`is_binary_mask`
is the detection rule: a greyscale (not palette) PNG whose values are all 0 or 255. Void (255) is
an ordinary value here; what it means is decided by the scorer.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vosbench.core.errors import InputFileError
from vosbench.core.io import atomic_write_bytes

VOID = 255
#: greyscale PIL modes accepted as id maps (besides palette ``P``)
GREY_MODES = ("L", "1", "I", "I;16", "I;16L", "I;16B")


def davis_palette() -> bytes:
    """The 256-entry PASCAL VOC / DAVIS colour palette (id 1 = dark red, 2 = green, ...)."""
    pal = bytearray(256 * 3)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        pal[3 * i : 3 * i + 3] = bytes((r, g, b))
    return bytes(pal)


PALETTE = davis_palette()


def uvc_palette() -> bytes:
    """The palette DINO's ``eval_video_segmentation.py`` writes with (UVC's ``libs/data/palette.txt``,
    downloaded by the script): the DAVIS palette with 191 for 192 in ids 0..21, then grey (i, i, i)."""
    pal = bytearray(davis_palette())
    for i in range(256):
        rgb = pal[3 * i : 3 * i + 3]
        pal[3 * i : 3 * i + 3] = bytes((i, i, i)) if i >= 22 else bytes(191 if v == 192 else v for v in rgb)
    return bytes(pal)


#: palettes by name (the protocol's ``palette`` setting)
PALETTES = {"davis": PALETTE, "uvc": uvc_palette()}


def decode_label_png(path: str | os.PathLike[str], *, data: bytes | None = None) -> tuple[np.ndarray, str]:
    """Decode a label PNG: (H, W) uint8 values as stored, and its PIL mode.

    ``data``: the PNG's bytes (e.g. a zip member, never written to disk); ``path`` then only names
    it in messages.

    Raises:
        InputFileError: missing, unreadable, colour/multi-channel, or values outside 0..255.
    """
    p = Path(path)
    try:
        with Image.open(p if data is None else io.BytesIO(data)) as im:
            mode = im.mode
            if mode != "P" and mode not in GREY_MODES:
                raise InputFileError(
                    f"{p}: colour or multi-channel PNG (mode {mode}); expected an indexed palette PNG "
                    "(ids = palette indices, as DAVIS annotations) or a greyscale id map. "
                    "Convert colour masks to palette indices first."
                )
            arr = np.array(im)
    except FileNotFoundError:
        raise InputFileError(f"{p}: file not found") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as e:
        raise InputFileError(f"{p}: cannot read PNG ({e}); the file is corrupt or not a PNG") from None
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise InputFileError(f"{p}: label values {arr.min()}..{arr.max()} (mode {mode}); expected 8-bit ids")
        arr = arr.astype(np.uint8)
    if arr.ndim != 2:
        raise InputFileError(f"{p}: expected a single-channel label image, got shape {arr.shape}")
    return arr, mode


def is_binary_mask(arr: np.ndarray, mode: str) -> bool:
    """DAVIS-2016 detection rule: a greyscale (non-palette) PNG whose values are all 0 or 255."""
    if mode == "P":
        return False
    counts = np.bincount(arr.ravel(), minlength=256)
    return not counts[1:255].any()


def to_binary(arr: np.ndarray) -> np.ndarray:
    """The DAVIS-2016 rule: object 1 where the value is above 128, background elsewhere."""
    return (arr > 128).astype(np.uint8)


def read_label_png(path: str | os.PathLike[str], *, binary: bool = False) -> np.ndarray:
    """Read a label PNG as an (H, W) uint8 id map (``binary``: the DAVIS-2016 rule).

    Raises:
        InputFileError: see :func:`decode_label_png`.
    """
    arr, _ = decode_label_png(path)
    return to_binary(arr) if binary else arr


def encode_label_png(ids: np.ndarray, palette: bytes = PALETTE) -> bytes:
    """Encode an (H, W) uint8 id map as an indexed PNG with ``palette`` (default: DAVIS)."""
    import io

    if ids.ndim != 2:
        raise ValueError(f"label map must be 2-D, got shape {ids.shape}")
    im = Image.fromarray(np.ascontiguousarray(ids, dtype=np.uint8), mode="P")
    im.putpalette(palette)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def write_label_png(path: str | os.PathLike[str], ids: np.ndarray, palette: bytes = PALETTE) -> None:
    """Write an id map as an indexed palette PNG, atomically (temp file + rename)."""
    atomic_write_bytes(Path(path), encode_label_png(ids, palette))


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a frame as an (H, W, 3) uint8 RGB array, with a clear error for bad files."""
    p = Path(path)
    try:
        with Image.open(p) as im:
            im.load()
            rgb = im.convert("RGB")
            return np.array(rgb, dtype=np.uint8)  # writable copy (torch.from_numpy needs one)
    except FileNotFoundError:
        raise InputFileError(f"{p}: frame not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputFileError(f"{p}: cannot decode image ({e}); the file is corrupt or truncated") from None
