"""The report's media: frames with mask overlays or skeletons, captions, GIF/MP4 encoding, frame
sizes, saving plots, and linking media into the page. Shared by :mod:`vosbench.results.report`
and :mod:`vosbench.results.report_compare`.

matplotlib and imageio are optional (the ``report`` extra) and heavy: they are imported on use.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from PIL import Image, ImageDraw

from vosbench.core.errors import ConfigError, VosbenchError
from vosbench.core.labels import PALETTE


class ReportDependencyError(VosbenchError):
    """matplotlib (or an MP4 writer) is not installed."""


# JHMDB joint order, as in the dataset's ``joint_positions.mat`` (vosbench.datasets.joints.JOINTS):
# 0 neck, 1 belly, 2 face, 3/4 r/l shoulder, 5/6 r/l hip,
# 7/8 r/l elbow, 9/10 r/l knee, 11/12 r/l wrist, 13/14 r/l ankle.
SKELETON: tuple[tuple[int, int], ...] = (
    (0, 2), (0, 1), (0, 3), (0, 4), (3, 7), (7, 11), (4, 8), (8, 12),
    (1, 5), (1, 6), (5, 9), (9, 13), (6, 10), (10, 14),
)  # fmt: skip
RUN_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


# --- dependencies ---------------------------------------------------------------------------------


def require_matplotlib() -> Any:
    """Import matplotlib with the Agg backend, or explain how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportDependencyError(
            "vosbench report needs matplotlib for its plots, which is not installed. "
            "Install the report extra: pip install 'vosbench[report]' (matplotlib and imageio)."
        ) from None
    return Figure


def mp4_plugin() -> str:
    try:
        import imageio.v3  # noqa: F401
    except ImportError:
        raise ReportDependencyError(
            "MP4 videos need imageio, which is not installed. Install the report extra "
            "(pip install 'vosbench[report]') plus an encoder (pip install imageio-ffmpeg), or use --video gif."
        ) from None
    try:
        import imageio_ffmpeg  # noqa: F401

        return "FFMPEG"
    except ImportError:
        pass
    try:
        import av  # noqa: F401

        return "pyav"
    except ImportError:
        raise ReportDependencyError(
            "MP4 videos need an ffmpeg backend for imageio: pip install imageio-ffmpeg (or av), "
            "or use --video gif (Pillow only)."
        ) from None


# --- frame rendering ------------------------------------------------------------------------------


def _palette_lut() -> np.ndarray:
    return np.frombuffer(PALETTE, dtype=np.uint8).reshape(256, 3)


def _edges(ids: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another id (a 2-pixel band along every boundary)."""
    edge = np.zeros(ids.shape, dtype=bool)
    h = ids[:, :-1] != ids[:, 1:]
    v = ids[:-1, :] != ids[1:, :]
    edge[:, :-1] |= h
    edge[:, 1:] |= h
    edge[:-1, :] |= v
    edge[1:, :] |= v
    return edge


def _resize(arr: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    if (arr.shape[1], arr.shape[0]) == size:
        return arr
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(arr).resize(size, resample))


def _target_size(shape: tuple[int, ...], width: int) -> tuple[int, int]:
    h, w = shape[:2]
    scale = min(1.0, width / w) if width > 0 else 1.0
    return max(1, round(w * scale)), max(1, round(h * scale))


def overlay_masks(
    rgb: np.ndarray,
    pred: np.ndarray | None,
    gt: np.ndarray | None = None,
    *,
    alpha: float = 0.5,
    width: int = 0,
) -> np.ndarray:
    """Blend predicted ids into a frame with the DAVIS palette colours, outline them, and draw
    the ground-truth outline in white.

    Args:
        rgb: (H, W, 3) uint8 frame.
        pred: (H', W') uint8 predicted ids (resized to the frame if needed); ``None`` = none.
        gt: (H', W') uint8 ground-truth ids for the outline, or ``None``.
        alpha: Opacity of the mask colours.
        width: Scale the result down to at most this width (0 = keep).

    Returns:
        (h, w, 3) uint8 image.
    """
    size = _target_size(rgb.shape, width)
    out = _resize(rgb, size, nearest=False).astype(np.float32)
    lut = _palette_lut()
    if pred is not None:
        ids = _resize(pred, size, nearest=True)
        fg = (ids > 0) & (ids != 255)
        colour = lut[ids].astype(np.float32)
        out[fg] = (1 - alpha) * out[fg] + alpha * colour[fg]
        rim = _edges(ids) & fg  # the object's own outermost pixels, in its full colour
        out[rim] = colour[rim]
    if gt is not None:
        g = _resize(gt, size, nearest=True)
        out[_edges(g) & (g > 0) & (g != 255)] = 255.0
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def draw_skeleton(
    rgb: np.ndarray,
    joints: dict[int, tuple[float, float]],
    gt: np.ndarray | None = None,
    *,
    width: int = 0,
    skeleton: tuple[tuple[int, int], ...] = SKELETON,
) -> np.ndarray:
    """Draw predicted keypoints and a skeleton (JHMDB's by default; ground-truth joints as white rings).

    Args:
        rgb: (H, W, 3) uint8 frame.
        joints: Joint index (0..14, in the order of :data:`SKELETON`) -> (x, y) in pixels of ``rgb``; negative or NaN
            coordinates mean "not visible".
        gt: (15, 2) ground-truth (x, y), NaN where unannotated, or ``None``.
        width: Scale the result down to at most this width (0 = keep).
        skeleton: Pairs of joint indices to join with a line.
    """
    size = _target_size(rgb.shape, width)
    sx, sy = size[0] / rgb.shape[1], size[1] / rgb.shape[0]
    im = Image.fromarray(_resize(rgb, size, nearest=False))
    draw = ImageDraw.Draw(im)
    lut = _palette_lut()

    def visible(p: tuple[float, float] | None) -> bool:
        return p is not None and all(math.isfinite(c) and c >= 0 for c in p)

    pts = {j: (x * sx, y * sy) for j, (x, y) in joints.items() if visible((x, y))}
    for a, b in skeleton:
        if a in pts and b in pts:
            draw.line([pts[a], pts[b]], fill=(255, 255, 0), width=2)
    r = max(2.0, size[0] / 160)
    for j, (x, y) in pts.items():
        c = tuple(int(v) for v in lut[1 + j % 20])
        draw.ellipse([x - r, y - r, x + r, y + r], fill=c, outline=(0, 0, 0))
    if gt is not None:
        for x, y in np.asarray(gt, dtype=float).reshape(-1, 2):
            if visible((x, y)):
                x, y = x * sx, y * sy
                draw.ellipse([x - r - 1.5, y - r - 1.5, x + r + 1.5, y + r + 1.5], outline=(255, 255, 255))
    return np.asarray(im)


def caption(frame: np.ndarray, text: str) -> np.ndarray:
    """``frame`` with ``text`` in white on black at its top left."""
    im = Image.fromarray(frame)
    draw = ImageDraw.Draw(im)
    x0, y0, x1, y1 = draw.textbbox((4, 3), text)
    draw.rectangle([x0 - 3, y0 - 2, x1 + 3, y1 + 2], fill=(0, 0, 0))
    draw.text((4, 3), text, fill=(255, 255, 255))
    return np.asarray(im)


def write_video(frames: list[np.ndarray], path: Path, fps: float) -> Path:
    """Write frames as an animated GIF (Pillow) or an MP4 (imageio), by ``path``'s suffix."""
    if not frames:
        raise ConfigError(f"{path}: no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    if path.suffix == ".gif":
        ims = [Image.fromarray(f) for f in frames]
        ims[0].save(tmp, save_all=True, append_images=ims[1:], duration=max(20, round(1000 / fps)), loop=0)
    elif path.suffix == ".mp4":
        plugin = mp4_plugin()
        import imageio.v3 as iio

        h, w = frames[0].shape[:2]
        # H.264 players want sizes in whole 16-pixel macro blocks: pad with black, never resample
        ph, pw = -h % 16, -w % 16
        stack = np.stack([np.pad(f, ((0, ph), (0, pw), (0, 0))) for f in frames])
        iio.imwrite(tmp, stack, fps=fps, plugin=plugin, codec="libx264")
    else:
        raise ConfigError(f"{path}: unknown video format (use .gif or .mp4)")
    os.replace(tmp, path)
    return path


def pick_frames(n: int, max_frames: int | None) -> list[int]:
    """Indices of at most ``max_frames`` of ``n`` frames, evenly spaced (``None``: all)."""
    if max_frames is None or n <= max_frames:
        return list(range(n))
    return sorted({round(i * (n - 1) / (max_frames - 1)) for i in range(max_frames)}) if max_frames > 1 else [0]


# --- plots and links --------------------------------------------------------------------------------


def save_figure(fig: Any, path: Path) -> Path:
    """Write a matplotlib figure as PNG (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100, format="png")
    os.replace(tmp, path)
    return path


def rel_link(path: Path, out_dir: Path) -> str:
    """``path`` relative to the page in ``out_dir``, URL-quoted."""
    return quote(Path(os.path.relpath(path, out_dir)).as_posix())


def media_html(path: Path, out_dir: Path, alt: str) -> str:
    """An ``<img>`` (or ``<video>`` for MP4) of ``path`` for the page in ``out_dir``."""
    src = rel_link(path, out_dir)
    if path.suffix == ".mp4":
        return f'<video src="{src}" controls loop muted playsinline title="{html.escape(alt)}"></video>'
    return f'<img src="{src}" alt="{html.escape(alt)}" loading="lazy">'
