"""A synthetic TAP-Vid set: the scene renderer's videos with their true point tracks, written as a
TAP-Vid-DAVIS pickle (``synthetic_tapvid.pkl``: video name -> ``video`` uint8 (T, H, W, 3),
``points`` float32 (N, T, 2) x/y divided by W/H, ``occluded`` bool (N, T)).

Scenes are those of the synthetic DAVIS set (:func:`~vosbench.datasets.synthetic.scenarios.davis_scene`:
video 0 an object hidden by a passing occluder, video 1 objects leaving and entering the frame,
others drifting objects over a panning background) with the objects made rigid (no outline wobble,
no texture warp), so a point fixed on an object or on the background has an exact position in
every frame: background points move with the camera's pan; object points with the object's
similarity motion (:meth:`Motion.pose`).

Visibility comes from the renderer's per-pixel correspondences (``render(t, coords=True)``): a
point is visible where every pixel within 1 px of it shows its layer, occluded where no pixel
within 1.6 px does (hidden, out of the frame, or its object not yet there); a track with a frame
in between (on the edge of an occluder or of the frame) is not used, as annotators skip such points.
Tracks are picked in frame 0 and in the middle frame (so some start visible only later).

:func:`correspondence_features` turns the correspondences into features whose cosine similarity
peaks exactly at the same physical point: a true-correspondence "encoder" for tests.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

from vosbench.core.errors import DatasetLayoutError
from vosbench.datasets.synthetic.scenarios import davis_scene
from vosbench.datasets.synthetic.scene import Scene, ShapeObject

PICKLE = "synthetic_tapvid.pkl"
STAMP = ".vosbench-synthetic-tapvid.json"
VERSION = 1
DEFAULTS = {"videos": 3, "frames": 24, "size": (256, 192), "seed": 0}
TRACKS = 24
_VISIBLE_R, _HIDDEN_R = 1.0, 1.6
#: periods (pixels) of the sine/cosine pairs of :func:`correspondence_features`
PERIODS = (4096.0, 1024.0, 256.0, 64.0, 16.0, 8.0)


def rigid(scene: Scene) -> Scene:
    """The scene with every object made rigid (no wobble, no texture warp)."""
    layers = []
    for obj in scene.layers:
        if isinstance(obj, ShapeObject):
            obj = dataclasses.replace(obj, shape=dataclasses.replace(obj.shape, wobble=0.0), warp=(0.0, 1.0, 0.0, 0.0, 0.0))
        layers.append(obj)
    return dataclasses.replace(scene, layers=layers)


def point_positions(scene: Scene, layer: int, tex: np.ndarray, frames: int) -> np.ndarray:
    """(N, T, 2) pixel positions of N points given by their layer and (N, 2) texture coordinates."""
    out = np.zeros((len(tex), frames, 2))
    for t in range(frames):
        if layer == 0:
            ox, oy = scene.background.offset(t)
            out[:, t] = tex - np.array([ox, oy], dtype=np.float64)
            continue
        obj = scene.layers[layer - 1]
        cx, cy, angle, scale = obj.motion.pose(t)
        centre = (obj.texture.shape[0] - 1) / 2.0
        px, py = tex[:, 0] - centre, tex[:, 1] - centre
        ca, sa = math.cos(angle), math.sin(angle)
        out[:, t, 0] = cx + scale * (ca * px - sa * py)
        out[:, t, 1] = cy + scale * (sa * px + ca * py)
    return out


def _visibility(layers: np.ndarray, layer: int, xy: np.ndarray) -> np.ndarray:
    """Per point: 1 visible, 0 occluded, -1 undecided, from one frame's (H, W) layer map."""
    h, w = layers.shape
    r = int(math.ceil(_HIDDEN_R)) + 1
    off = np.arange(-r, r + 1)
    bx, by = np.floor(xy[:, 0]).astype(np.int64), np.floor(xy[:, 1]).astype(np.int64)
    px = bx[:, None, None] + off[None, None, :]  # (N, 1, K)
    py = by[:, None, None] + off[None, :, None]  # (N, K, 1)
    d = np.hypot(px - xy[:, 0, None, None], py - xy[:, 1, None, None])
    inframe = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    same = inframe & (layers[py.clip(0, h - 1), px.clip(0, w - 1)] == layer)
    near = d <= _VISIBLE_R
    inside = (xy[:, 0] >= -0.5) & (xy[:, 0] <= w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] <= h - 0.5)
    visible = inside & (same | ~near).all(axis=(1, 2)) & (near & inframe).any(axis=(1, 2))
    hidden = ~(same & (d <= _HIDDEN_R)).any(axis=(1, 2))
    return np.where(visible, 1, np.where(hidden, 0, -1)).astype(np.int8)


def video_tracks(scene: Scene, frames: int, rng: np.random.Generator, n: int = TRACKS) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, 2) positions and (N, T) occlusion of up to ``n`` unambiguous tracks."""
    renders = [scene.render(t, image=False, coords=True).coords for t in range(frames)]
    layer_maps = [c[..., 0].astype(np.int64) for c in renders if c is not None]
    pts_all, occ_all = [], []
    for t0 in (0, frames // 2):
        for lay in np.unique(layer_maps[t0]):
            ys, xs = np.nonzero(layer_maps[t0] == lay)
            pick = rng.choice(len(xs), size=min(len(xs), 3 * n), replace=False)
            sx = xs[pick] + rng.uniform(-0.4, 0.4, len(pick))
            sy = ys[pick] + rng.uniform(-0.4, 0.4, len(pick))
            tex = _texture_at(scene, int(lay), t0, sx, sy)
            pos = point_positions(scene, int(lay), tex, frames)
            vis = np.stack([_visibility(layer_maps[t], int(lay), pos[:, t]) for t in range(frames)], axis=1)
            ok = (vis >= 0).all(axis=1) & (vis[:, t0] == 1)
            pts_all.append(pos[ok])
            occ_all.append(vis[ok] == 0)
    pts, occ = np.concatenate(pts_all), np.concatenate(occ_all)
    order = np.argsort(-occ.sum(axis=1), kind="stable")  # tracks with occlusions first
    keep = np.sort(np.concatenate([order[: n // 2], order[n // 2 :][:: max(1, (len(order) - n // 2) // (n - n // 2))][: n - n // 2]]))
    return pts[keep], occ[keep]


def _texture_at(scene: Scene, layer: int, t: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Texture coordinates of the points of ``layer`` at pixel positions (x, y) in frame t."""
    if layer == 0:
        ox, oy = scene.background.offset(t)
        return np.stack([x + ox, y + oy], axis=-1)
    obj = scene.layers[layer - 1]
    cx, cy, angle, scale = obj.motion.pose(t)
    ca, sa = math.cos(angle), math.sin(angle)
    dx, dy = x - cx, y - cy
    centre = (obj.texture.shape[0] - 1) / 2.0
    return np.stack([(ca * dx + sa * dy) / scale + centre, (-sa * dx + ca * dy) / scale + centre], axis=-1)


def correspondence_features(coords: np.ndarray, layers: int) -> np.ndarray:
    """(H, W, 3) renderer correspondences (layer, texture x, texture y) -> (C, H, W) float32 unit
    features: per layer a block of sine/cosine pairs of the texture coordinates at
    :data:`PERIODS`, zero in the other layers' blocks. Two pixels' cosine similarity is the mean of
    ``cos(2 pi d / P)`` over the periods and both axes when they show one layer (1 exactly at the
    same point), 0 otherwise."""
    h, w = coords.shape[:2]
    k = len(PERIODS)
    out = np.zeros((layers + 1, 4 * k, h, w), dtype=np.float64)
    lay = coords[..., 0].astype(np.int64)
    parts = []
    for p in PERIODS:
        for axis in (1, 2):
            a = 2 * np.pi * coords[..., axis].astype(np.float64) / p
            parts += [np.cos(a), np.sin(a)]
    block = np.stack(parts) / math.sqrt(2 * k)
    for i in range(layers + 1):
        out[i][:, lay == i] = block[:, lay == i]
    return out.reshape(-1, h, w).astype(np.float32)


def generate(root: Path, videos: int, frames: int, size: tuple[int, int], seed: int) -> dict[str, dict[str, np.ndarray]]:
    """The set's videos (the pickle's content)."""
    w, h = size
    data = {}
    for i in range(videos):
        rng = np.random.default_rng([seed, i, 7])
        scene = rigid(davis_scene(rng, i, w, h, frames))
        pts, occ = video_tracks(scene, frames, rng)
        video = np.stack([scene.render(t).image for t in range(frames)])  # type: ignore[misc]
        points = (pts / np.array([w, h], dtype=np.float64)).astype(np.float32)
        data[f"video{i}"] = {"video": video, "points": points, "occluded": occ}
    return data


def ensure_synthetic_tapvid(root: Path, **params: object) -> Path:
    """Write the synthetic set into folder ``root`` unless it holds this recipe; returns the pickle."""
    p = {**DEFAULTS, **{k: v for k, v in params.items() if v is not None}}
    videos, frames, seed = int(p["videos"]), int(p["frames"]), int(p["seed"])  # type: ignore[call-overload]
    w, h = (int(v) for v in p["size"])  # type: ignore[attr-defined]
    if not (1 <= videos <= 100 and 4 <= frames <= 500 and 32 <= w <= 4096 and 32 <= h <= 4096):
        raise DatasetLayoutError(f"synthetic-tapvid: videos 1-100, frames 4-500, sizes 32-4096 px (got {p})")
    want = {"version": VERSION, "videos": videos, "frames": frames, "size": [w, h], "seed": seed}
    root = Path(root)
    stamp, pkl = root / STAMP, root / PICKLE
    if pkl.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == want:
        return pkl
    root.mkdir(parents=True, exist_ok=True)
    data = generate(root, videos, frames, (w, h), seed)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".synthetic_tapvid.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        pickle.dump(data, f, protocol=4)
    os.replace(tmp, pkl)
    stamp.write_text(json.dumps(want))
    return pkl
