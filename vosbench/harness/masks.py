"""Reading and writing label PNGs (DAVIS-2017 palette PNGs, DAVIS-2016 binary masks).

Ids are kept exactly as stored: the palette index for "P" images, the grey value for "L"
images. DAVIS-2016 masks hold 0/255; with ``binary=True`` they become object 1 = value > 128,
the DAVIS-2016 rule.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vosbench.harness.errors import InputFileError

VOID = 255


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


def read_label_png(path: str | os.PathLike[str], *, binary: bool = False) -> np.ndarray:
    """Read a label PNG as an (H, W) uint8 id map.

    Args:
        path: File to read.
        binary: DAVIS-2016 rule: object 1 where value > 128, background elsewhere.

    Raises:
        InputFileError: missing, unreadable, or not a single-channel (palette/grey) image.
    """
    p = Path(path)
    try:
        with Image.open(p) as im:
            im.load()
            mode = im.mode
            if mode in ("P", "L"):
                arr = np.array(im, dtype=np.uint8)  # writable copy
            elif mode in ("1", "I;16", "I"):
                arr = np.asarray(im)
                if arr.dtype == bool:
                    arr = arr.astype(np.uint8) * 255
                if arr.max(initial=0) > 255:
                    raise InputFileError(f"{p}: label values above 255 (mode {mode}); expected 8-bit ids")
                arr = arr.astype(np.uint8)
            else:
                raise InputFileError(
                    f"{p}: expected an indexed (palette, mode P) or 8-bit greyscale (mode L) label PNG, "
                    f"got mode {mode}. Convert colour masks to palette indices first."
                )
    except FileNotFoundError:
        raise InputFileError(f"{p}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputFileError(f"{p}: cannot read PNG ({e}); the file is corrupt or not an image") from None
    if binary:
        arr = (arr > 128).astype(np.uint8)
    return arr


def encode_label_png(ids: np.ndarray) -> bytes:
    """Encode an (H, W) uint8 id map as an indexed PNG with the DAVIS palette."""
    if ids.ndim != 2:
        raise ValueError(f"label map must be 2-D, got shape {ids.shape}")
    im = Image.fromarray(np.ascontiguousarray(ids, dtype=np.uint8), mode="P")
    im.putpalette(PALETTE)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def write_label_png(path: str | os.PathLike[str], ids: np.ndarray) -> None:
    """Write an id map as an indexed palette PNG, atomically (temp file + rename)."""
    atomic_write_bytes(Path(path), encode_label_png(ids))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Raises:
        InputFileError: the file cannot be written (read-only or full disk, a file where a
            folder should be, permissions): one line naming the path and the OS error.
    """
    from vosbench.harness.safepath import os_error_reason

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(e, OSError):
            at = "" if e.filename in (None, tmp, str(path)) else f" (at {e.filename})"
            raise InputFileError(
                f"{path}: cannot write: {os_error_reason(e)}{at}; free space or choose a writable folder"
            ) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


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
