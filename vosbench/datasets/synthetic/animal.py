"""A walking quadruped with the 20 BADJA joints, drawn with textured capsules (synthetic-badja).

The body is a horizontal capsule from the hips to the shoulders; each leg has two segments
(joints ``*_1`` at the body, ``*_2`` the knee, ``*_3`` the paw; ``upper`` = front legs,
``lower`` = hind legs, as SMAL names them), the tail two (``tail_0``, ``tail_3``, ``tail_6``),
the head runs from the neck to the nose with the jaw below it and two ears on top. Diagonal
legs swing together while the animal crosses the frame; the tail wags and the head bobs. The
far (left) legs are drawn behind the body, so they are partly hidden: the joints whose pixel
shows another part are marked invisible, as BADJA marks occluded joints. Coordinates are
0-based pixels (pixel ``i`` covers ``[i - 0.5, i + 0.5]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from vosbench.datasets.badja_joints import BADJA_JOINTS
from vosbench.datasets.synthetic.figure import make_limbs
from vosbench.datasets.synthetic.scenarios import make_background
from vosbench.datasets.synthetic.scene import Scene

_LEG = 0.17  # segment length of a leg, x height
PARTS = {
    "far_fore_thigh": ("upper_left_1", "upper_left_2", "leg"),
    "far_fore_shin": ("upper_left_2", "upper_left_3", "shin"),
    "far_hind_thigh": ("lower_left_1", "lower_left_2", "leg"),
    "far_hind_shin": ("lower_left_2", "lower_left_3", "shin"),
    "body": ("hip", "shoulder", "body"),
    "tail_base": ("tail_0", "tail_3", "tail"),
    "tail_tip": ("tail_3", "tail_6", "tail"),
    "neck": ("shoulder", "head_base", "neck"),
    "head": ("head_base", "nose", "head"),
    "right_ear_part": ("head_base", "right_ear", "ear"),
    "left_ear_part": ("head_base", "left_ear", "ear"),
    "near_fore_thigh": ("upper_right_1", "upper_right_2", "leg"),
    "near_fore_shin": ("upper_right_2", "upper_right_3", "shin"),
    "near_hind_thigh": ("lower_right_1", "lower_right_2", "leg"),
    "near_hind_shin": ("lower_right_2", "lower_right_3", "shin"),
}
_RADIUS = {"body": 0.1, "neck": 0.055, "head": 0.045, "ear": 0.018, "leg": 0.032, "shin": 0.024, "tail": 0.018}
_LENGTH = {"body": 0.44, "neck": 0.22, "head": 0.17, "ear": 0.09, "leg": _LEG, "shin": _LEG, "tail": 0.14}


@dataclass
class Animal:
    """Pose of one quadruped over time (a :class:`~.figure.Body` for :class:`~.figure.Limb`).

    Attributes:
        height: Size in pixels (ground to ear tips is about 0.75 of it).
        x0: Body centre x at t = 0.
        ground: y of the paws.
        facing: +1 facing right, -1 left.
        period: Frames per stride.
        phase: Stride phase at t = 0.
        speed: Pixels per frame towards the facing direction.
    """

    height: float
    x0: float
    ground: float
    facing: float = 1.0
    period: float = 16.0
    phase: float = 0.0
    speed: float = 0.0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)
    parts: ClassVar[dict[str, tuple[str, str, str]]] = PARTS
    radii: ClassVar[dict[str, float]] = _RADIUS
    lengths: ClassVar[dict[str, float]] = _LENGTH

    def zoom(self, t: float) -> float:
        return 1.0

    def points(self, t: float) -> dict[str, np.ndarray]:
        """The 20 joints plus ``hip``, ``shoulder`` and ``head_base`` at time t, 0-based pixels."""
        if t in self._cache:
            return self._cache[t]
        h, f = self.height, self.facing
        ph = 2 * math.pi * t / self.period + self.phase
        cx = self.x0 + f * self.speed * t
        body_y = self.ground - 2 * _LEG * h * 0.97 - 0.04 * h + 0.008 * h * math.cos(2 * ph)
        p: dict[str, np.ndarray] = {
            "hip": np.array([cx - f * 0.22 * h, body_y]),
            "shoulder": np.array([cx + f * 0.22 * h, body_y - 0.02 * h]),
        }
        legs = (("upper", "shoulder", 0.0), ("lower", "hip", math.pi))
        for side, depth, lag in (("right", 0.02, 0.0), ("left", -0.02, math.pi)):
            for end, anchor, shift in legs:
                swing = 0.38 * math.sin(ph + lag + shift)
                bend = 0.15 + 0.35 * max(0.0, math.cos(ph + lag + shift))
                top = p[anchor] + np.array([depth * h, 0.04 * h])
                knee = top + _LEG * h * np.array([f * math.sin(swing), math.cos(swing)])
                shin = swing - bend if end == "upper" else swing + bend
                p[f"{end}_{side}_1"], p[f"{end}_{side}_2"] = top, knee
                p[f"{end}_{side}_3"] = knee + _LEG * h * np.array([f * math.sin(shin), math.cos(shin)])
        bob = 0.02 * h * math.sin(ph)
        p["neck_lower"] = p["shoulder"] + np.array([f * 0.06 * h, -0.07 * h])
        p["head_base"] = p["shoulder"] + np.array([f * 0.13 * h, -0.2 * h + bob])
        p["nose"] = p["head_base"] + np.array([f * 0.16 * h, 0.05 * h])
        p["jaw"] = p["head_base"] + np.array([f * 0.09 * h, 0.06 * h])
        p["right_ear"] = p["head_base"] + np.array([-f * 0.03 * h, -0.085 * h])
        p["left_ear"] = p["head_base"] + np.array([f * 0.02 * h, -0.09 * h])
        wag = 0.06 * h * math.sin(1.5 * ph)
        p["tail_0"] = p["hip"] + np.array([-f * 0.08 * h, -0.03 * h])
        p["tail_3"] = p["tail_0"] + np.array([-f * 0.12 * h, 0.04 * h + 0.5 * wag])
        p["tail_6"] = p["tail_3"] + np.array([-f * 0.1 * h, 0.09 * h + wag])
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[t] = p
        return p

    def joints(self, t: float) -> np.ndarray:
        """(20, 2) (x, y) in BADJA joint order."""
        p = self.points(t)
        return np.stack([p[name] for name in BADJA_JOINTS]).astype(np.float64)

    def draw_order(self) -> list[str]:
        return list(PARTS)


def joint_visibility(animal: Animal, labels: np.ndarray, t: float) -> np.ndarray:
    """(20,) a joint is visible when the rendered label at its pixel is one of its own parts
    (a part whose capsule starts or ends at it; the neck or body for ``neck_lower``, the head for
    ``jaw``); hidden behind another part, or off the frame, it is not."""
    label = {part: i + 1 for i, part in enumerate(PARTS)}
    owners: dict[str, set[int]] = {"neck_lower": {label["neck"], label["body"]}, "jaw": {label["head"]}}
    for part, (a, b, _) in PARTS.items():
        owners.setdefault(a, set()).add(label[part])
        owners.setdefault(b, set()).add(label[part])
    h, w = labels.shape
    out = np.zeros(len(BADJA_JOINTS), dtype=bool)
    for j, (x, y) in enumerate(animal.joints(t)):
        c, r = int(round(x)), int(round(y))
        out[j] = 0 <= r < h and 0 <= c < w and int(labels[r, c]) in owners[BADJA_JOINTS[j]]
    return out


def badja_scene(rng: np.random.Generator, width: int, height: int, frames: int) -> Scene:
    """A quadruped walking across a textured background (``scene.layers[0].figure`` is the
    :class:`Animal`); every joint stays inside the frame in all ``frames`` frames."""
    background = make_background(rng, width, height)
    for _ in range(200):
        size = float(rng.uniform(0.75, 0.9) * height)
        facing = float(rng.choice([-1.0, 1.0]))
        speed = float(rng.uniform(0.004, 0.01) * width)
        params: dict[str, Any] = {
            "height": size,
            "x0": float(width / 2 - facing * speed * (frames - 1) / 2 + rng.uniform(-0.04, 0.04) * width),
            "ground": float(height * rng.uniform(0.93, 0.97)),
            "facing": facing,
            "period": float(rng.uniform(12, 18)),
            "phase": float(rng.uniform(0, 2 * np.pi)),
            "speed": speed,
        }
        animal = Animal(**params)
        pts = np.stack([animal.joints(t) for t in range(frames)])
        if (pts[..., 0] >= 1).all() and (pts[..., 0] <= width - 2).all() and (pts[..., 1] >= 1).all() and (
            pts[..., 1] <= height - 2
        ).all():
            return Scene(width, height, background, make_limbs(rng, animal))
    raise ValueError(f"no quadruped fits a {width}x{height} frame for {frames} frames")  # pragma: no cover
