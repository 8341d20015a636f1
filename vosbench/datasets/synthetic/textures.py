"""Colour textures for the synthetic videos, and bilinear sampling of them.

Objects get saturated, patterned textures (smooth noise, stripes, checks or spots) around one hue;
backgrounds get desaturated multi-scale noise. The contrast in chroma lets colour features tell
objects from the background, and the patterns give appearance-based matchers something to lock
on to. Everything is float32 RGB in [0, 1]; all randomness comes from the generator passed in.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

PATTERNS = ("noise", "stripes", "checks", "spots")


def hsv_to_rgb(h: np.ndarray | float, s: np.ndarray | float, v: np.ndarray | float) -> np.ndarray:
    """Vectorised HSV -> RGB (all in [0, 1]; hue wraps). Returns (..., 3) float32."""
    h = np.mod(np.asarray(h, dtype=np.float64), 1.0)
    s = np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0)
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    h, s, v = np.broadcast_arrays(h, s, v)
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = [
        np.stack([v, t, p], -1),
        np.stack([q, v, p], -1),
        np.stack([p, v, t], -1),
        np.stack([p, q, v], -1),
        np.stack([t, p, v], -1),
        np.stack([v, p, q], -1),
    ]
    out = np.zeros(h.shape + (3,), dtype=np.float64)
    for k, c in enumerate(choices):
        out = np.where((i == k)[..., None], c, out)
    return out.astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise, rescaled to unit standard deviation (float32)."""
    n = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (n / (n.std() + 1e-8)).astype(np.float32)


def _pattern(rng: np.random.Generator, shape: tuple[int, int], kind: str, scale: float) -> np.ndarray:
    """A two-level pattern in [0, 1] whose features are about ``scale`` pixels large."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    if kind == "noise":
        p = 1.0 / (1.0 + np.exp(-2.5 * smooth_noise(rng, shape, scale / 3.0)))
    elif kind == "stripes":
        period = scale * rng.uniform(1.2, 2.0)
        p = 0.5 + 0.5 * np.tanh(3.0 * np.sin(2 * np.pi * u / period))
    elif kind == "checks":
        cell = scale * rng.uniform(0.8, 1.3)
        p = 0.5 + 0.5 * np.tanh(3.0 * np.sin(np.pi * u / cell) * np.sin(np.pi * v / cell))
    elif kind == "spots":
        p = np.zeros(shape, dtype=np.float32)
        n = max(3, int(h * w / (scale * scale * 3.0)))
        cy, cx = rng.uniform(0, h, n), rng.uniform(0, w, n)
        rad = rng.uniform(0.25, 0.5, n) * scale
        for y0, x0, r in zip(cy, cx, rad):
            p = np.maximum(p, np.clip(r + 0.5 - np.hypot(yy - y0, xx - x0), 0.0, 1.0))
    else:  # pragma: no cover - internal
        raise ValueError(kind)
    return p.astype(np.float32)


def object_texture(
    rng: np.random.Generator, shape: tuple[int, int], hue: float, scale: float, pattern: str | None = None
) -> np.ndarray:
    """A saturated texture around ``hue``: two related colours mixed by a pattern, plus grain.

    Args:
        rng: Random generator (the only source of randomness).
        shape: (height, width) of the texture in pixels.
        hue: Main hue in [0, 1).
        scale: Size of the pattern's features in pixels.
        pattern: One of :data:`PATTERNS`; random when ``None``.

    Returns:
        (H, W, 3) float32 RGB in [0, 1].
    """
    kind = pattern or PATTERNS[int(rng.integers(len(PATTERNS)))]
    sat = rng.uniform(0.6, 0.95)
    val = rng.uniform(0.65, 0.95)
    c1 = hsv_to_rgb(hue, sat, val)
    c2 = hsv_to_rgb(hue + rng.choice([-1, 1]) * rng.uniform(0.04, 0.09), sat * rng.uniform(0.7, 1.0), val * 0.55)
    p = _pattern(rng, shape, kind, scale)[..., None]
    tex = c1 * (1 - p) + c2 * p
    grain = np.stack([smooth_noise(rng, shape, 0.8) for _ in range(3)], -1)
    return np.clip(tex + 0.035 * grain, 0.0, 1.0).astype(np.float32)


def background_texture(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """A desaturated, multi-scale texture: large colour regions, mid-scale blotches, fine grain.

    Args:
        rng: Random generator.
        shape: (height, width) in pixels.
        scale: Typical size of the large regions in pixels.

    Returns:
        (H, W, 3) float32 RGB in [0, 1].
    """
    n_colours = 4
    hues = rng.uniform(0, 1, n_colours)
    colours = hsv_to_rgb(hues, rng.uniform(0.05, 0.22, n_colours), rng.uniform(0.3, 0.8, n_colours))
    fields = np.stack([smooth_noise(rng, shape, scale / 2.5) for _ in range(n_colours)], 0)
    weights = np.exp(2.0 * (fields - fields.max(0, keepdims=True)))
    weights /= weights.sum(0, keepdims=True)
    img = np.einsum("khw,kc->hwc", weights, colours)
    lum = 0.10 * smooth_noise(rng, shape, scale / 8.0) + 0.06 * smooth_noise(rng, shape, 1.2)
    return np.clip(img + lum[..., None], 0.0, 1.0).astype(np.float32)


def sample_bilinear(tex: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Sample an (H, W, C) texture at float coordinates (clamped to the border), bilinearly."""
    h, w = tex.shape[:2]
    y = np.clip(y, 0.0, h - 1.0)
    x = np.clip(x, 0.0, w - 1.0)
    y0 = np.minimum(np.floor(y).astype(np.intp), h - 2) if h > 1 else np.zeros(y.shape, np.intp)
    x0 = np.minimum(np.floor(x).astype(np.intp), w - 2) if w > 1 else np.zeros(x.shape, np.intp)
    fy = (y - y0)[..., None].astype(np.float32)
    fx = (x - x0)[..., None].astype(np.float32)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    top = tex[y0, x0] * (1 - fx) + tex[y0, x1] * fx
    bottom = tex[y1, x0] * (1 - fx) + tex[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
