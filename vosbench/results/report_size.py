"""Report size: the video format chosen by default, frame scaling, and the size a report states.

A report's weight is its overlay videos. ``auto`` picks MP4 (H.264, via imageio + imageio-ffmpeg)
when both are importable, else GIF (Pillow only). GIF frames are large (see the README for the
measured bytes per frame), so the command line caps GIF videos at :data:`GIF_MAX_FRAMES` frames
per sequence unless ``--max-frames`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

#: default cap on frames per GIF video (evenly spaced), chosen from the measurement in the README
GIF_MAX_FRAMES = 18


def mp4_available() -> bool:
    """Whether imageio and the imageio-ffmpeg encoder are installed."""
    try:
        import imageio.v3  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_video_format(video: str) -> str:
    """``auto`` -> ``mp4`` when :func:`mp4_available`, else ``gif``; other values unchanged."""
    if video != "auto":
        return video
    return "mp4" if mp4_available() else "gif"


def scale_frames(frames: list[np.ndarray], scale: float) -> list[np.ndarray]:
    """Resize every frame by ``scale`` (bilinear; at least 1 pixel)."""
    out = []
    for f in frames:
        h, w = f.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        out.append(np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BILINEAR)))
    return out


def media_bytes(paths: Iterable[Path]) -> int:
    """Total size of the files that exist among ``paths``."""
    return sum(p.stat().st_size for p in paths if p.is_file())


def human_size(n: int) -> str:
    """``1234567`` -> ``1.2 MB`` (decimal units)."""
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"
