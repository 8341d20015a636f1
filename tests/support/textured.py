"""Small test videos: textured shapes moving over per-frame noise (no two patches exactly alike,
so that top-k and arg-max never meet exact ties)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def textured_video(
    root: Path, frames: int, shapes: Callable[[int, np.ndarray, np.ndarray], np.ndarray], seed: int,
    size: tuple[int, int] = (70, 100),
) -> tuple[list[Path], list[np.ndarray]]:
    """Write ``frames`` PNGs to ``root``: noise (fresh per frame) with one fixed texture inside
    ``shapes(t, yy, xx)`` (a boolean mask). Returns the paths and the (H, W, 3) uint8 frames."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    tex = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
    paths, images = [], []
    for t in range(frames):
        img = np.clip(bg.astype(int) + rng.integers(-20, 21, bg.shape), 0, 255).astype(np.uint8)
        inside = shapes(t, yy, xx)
        img[inside] = tex[inside]
        Image.fromarray(img).save(root / f"{t:05d}.png")
        paths.append(root / f"{t:05d}.png")
        images.append(img)
    return paths, images
