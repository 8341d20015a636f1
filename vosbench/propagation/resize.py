"""OpenCV's bilinear resize of 8-bit images (``cv2.resize(img, (w, h))``, ``INTER_LINEAR``), restated.

DINO's ``read_frame`` resizes the uint8 frame with OpenCV and only then divides by 255; a float
resize of the divided frame differs by up to 0.5/255 per value. OpenCV computes the 8-bit case in
fixed point, and this module reproduces its integers exactly (tested against ``cv2`` 4.5.5, 4.8.1,
4.14 and 5.0 x86-64 wheels on random sizes and real DAVIS frames, ``tests/test_resize_uint8.py``):

* per output column ``dx``: ``f = float32((dx + 0.5) * (1 / (W'/W)) - 0.5)``, ``sx = floor(f)``,
  ``f -= sx`` (float32); columns with ``sx < 0`` use ``sx = 0, f = 0``, those with ``sx >= W - 1``
  use ``sx = W - 1, f = 0``; weights ``a0 = round(float32(1 - f) * 2048)``, ``a1 = round(f * 2048)``
  (each rounded half to even, separately);
* horizontal pass in integers: ``r = S[sx] * a0 + S[sx + 1] * a1`` (``S[W - 1] * 2048`` at the
  right border);
* rows likewise (``sy`` clamped into the image when the two source rows are fetched, weights
  ``b0``, ``b1`` not reset), and the vertical pass as OpenCV's SIMD kernel computes it, which is
  what the x86-64 builds run for every column:
  ``out = (((r0 >> 4) * b0 >> 16) + ((r1 >> 4) * b1 >> 16) + 2) >> 2``, saturated to 0..255.
"""

from __future__ import annotations

import numpy as np

_COEF_SCALE = 2048  # OpenCV INTER_RESIZE_COEF_SCALE (11 fractional bits)


def _positions(dst: int, src: int) -> tuple[np.ndarray, np.ndarray]:
    """Source index (int64) and float32 fraction of each output position along one axis."""
    scale = 1.0 / (float(dst) / float(src))
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    return s, (f - s.astype(np.float32)).astype(np.float32)


def _weights(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w0 = np.rint((np.float32(1.0) - f).astype(np.float32) * np.float32(_COEF_SCALE)).astype(np.int64)
    w1 = np.rint((f * np.float32(_COEF_SCALE)).astype(np.float32)).astype(np.int64)
    return w0, w1


def resize_bilinear_uint8(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W[, C]) uint8 -> (height, width[, C]) uint8, equal to ``cv2.resize(img, (width, height))``.

    Same size in both axes returns a copy (OpenCV copies too).
    """
    src = np.asarray(img)
    if src.dtype != np.uint8 or src.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) uint8 image, got {src.dtype} {src.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"output size must be positive, got {width}x{height}")
    h, w = src.shape[:2]
    if (h, w) == (height, width):
        return src.copy()
    s = src.astype(np.int64).reshape(h, w, -1)

    sx, fx = _positions(width, w)
    left, right = sx < 0, sx >= w - 1
    sx[left], fx[left] = 0, 0.0
    sx[right], fx[right] = w - 1, 0.0
    a0, a1 = _weights(fx)
    rows = s[:, sx, :] * a0[None, :, None] + s[:, np.minimum(sx + 1, w - 1), :] * a1[None, :, None]
    rows[:, right, :] = s[:, sx[right], :] * _COEF_SCALE

    sy, fy = _positions(height, h)
    b0, b1 = _weights(fy)
    r0 = rows[np.clip(sy, 0, h - 1)]
    r1 = rows[np.clip(sy + 1, 0, h - 1)]
    out = (((r0 >> 4) * b0[:, None, None]) >> 16) + (((r1 >> 4) * b1[:, None, None]) >> 16)
    out = np.clip((out + 2) >> 2, 0, 255).astype(np.uint8)
    return out.reshape((height, width) + src.shape[2:])
