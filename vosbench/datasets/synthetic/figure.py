"""An articulated stick figure with the 15 JHMDB joints, drawn with textured limbs.

Joint angles are smooth functions of time for three actions (``walk``: legs and arms swing in
opposition while the figure crosses the frame; ``wave``: one arm raised and waving while the body
sways; ``squat``: knees bend with the feet planted and the arms rise). Angles are measured from
straight down, positive towards the direction the figure faces. Each body part is a capsule (the
head a short one) with its own texture, which moves with the part, so a matcher can follow the
limbs. Joint coordinates are 0-based pixel positions (pixel ``i`` covers ``[i - 0.5, i + 0.5]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np

from vosbench.datasets.joints import JOINTS  # JHMDB order, joints 1..15
from vosbench.datasets.synthetic.scene import Canvas
from vosbench.datasets.synthetic.textures import object_texture

J = {name: i for i, name in enumerate(JOINTS)}
ACTIONS = ("walk", "wave", "squat")

# Segment lengths and half-thicknesses, as fractions of the figure's nominal height.
_TORSO, _HEAD, _UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.30, 0.11, 0.16, 0.15, 0.23, 0.23
_SHOULDER_HALF, _HIP_HALF = 0.06, 0.045
_RADIUS = {"torso": 0.08, "head": 0.065, "upper_arm": 0.035, "forearm": 0.03, "thigh": 0.045, "shin": 0.038}

# part -> (start joint, end joint, radius key); the torso runs from the hips' midpoint to the neck.
PARTS = {
    "torso": ("pelvis", "neck", "torso"),
    "head": ("head_base", "head_top", "head"),
    "right_upper_arm": ("right_shoulder", "right_elbow", "upper_arm"),
    "right_forearm": ("right_elbow", "right_wrist", "forearm"),
    "left_upper_arm": ("left_shoulder", "left_elbow", "upper_arm"),
    "left_forearm": ("left_elbow", "left_wrist", "forearm"),
    "right_thigh": ("right_hip", "right_knee", "thigh"),
    "right_shin": ("right_knee", "right_ankle", "shin"),
    "left_thigh": ("left_hip", "left_knee", "thigh"),
    "left_shin": ("left_knee", "left_ankle", "shin"),
}
_LENGTH = {"torso": _TORSO, "head": 0.05, "upper_arm": _UPPER_ARM, "forearm": _FOREARM, "thigh": _THIGH, "shin": _SHIN}


def _dir(angle: float, facing: float) -> np.ndarray:
    """Unit vector at ``angle`` from straight down, positive towards the facing direction."""
    return np.array([facing * math.sin(angle), math.cos(angle)])


@dataclass
class Figure:
    """Pose of one figure over time.

    Attributes:
        action: One of :data:`ACTIONS`.
        height: Nominal figure height in pixels (feet to top of head is about 0.93 of it).
        x0: Horizontal position of the pelvis (walk, wave) or the ankles (squat) at t = 0.
        ground: y of the ankles.
        facing: +1 facing right (towards +x), -1 facing left.
        period: Frames per action cycle.
        phase: Cycle phase at t = 0.
        speed: Horizontal drift in pixels per frame (walking speed for ``walk``).
        zoom_amp, zoom_omega, zoom_phase: Slow camera zoom ``exp(a sin(w t + p))`` about the feet.
    """

    action: str
    height: float
    x0: float
    ground: float
    facing: float = 1.0
    period: float = 20.0
    phase: float = 0.0
    speed: float = 0.0
    zoom_amp: float = 0.0
    zoom_omega: float = 0.0
    zoom_phase: float = 0.0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)
    # the capsules a Limb paints: part -> (start, end, radius key), radii and lengths (x height)
    parts: ClassVar[dict[str, tuple[str, str, str]]] = PARTS
    radii: ClassVar[dict[str, float]] = _RADIUS
    lengths: ClassVar[dict[str, float]] = _LENGTH

    def zoom(self, t: float) -> float:
        return math.exp(self.zoom_amp * math.sin(self.zoom_omega * t + self.zoom_phase))

    def _angles(self, t: float) -> dict[str, float]:
        """Absolute segment angles and the torso lean for the action at time t."""
        ph = 2 * math.pi * t / self.period + self.phase
        if self.action == "walk":
            a = {}
            for side, p in (("right", ph), ("left", ph + math.pi)):
                thigh = 0.42 * math.sin(p)
                flex = 0.1 + 0.55 * max(0.0, math.cos(p)) ** 1.5  # knee bends most while swinging forward
                a[f"{side}_thigh"], a[f"{side}_shin"] = thigh, thigh - flex
                upper = -0.32 * math.sin(p)  # arms swing against the leg of the same side
                a[f"{side}_upper_arm"], a[f"{side}_forearm"] = upper, upper + 0.25 + 0.2 * max(0.0, -math.sin(p))
            a["lean"] = 0.08
            return a
        if self.action == "wave":
            upper = 2.4 + 0.2 * math.sin(ph)
            return {
                "right_upper_arm": upper,
                "right_forearm": upper + 0.5 + 0.7 * math.sin(ph),
                "left_upper_arm": 0.12 + 0.06 * math.sin(0.5 * ph),
                "left_forearm": 0.3 + 0.06 * math.sin(0.5 * ph),
                "right_thigh": 0.07,
                "right_shin": 0.04,
                "left_thigh": -0.07,
                "left_shin": -0.05,
                "lean": 0.05 * math.sin(0.5 * ph),
            }
        if self.action == "squat":
            d = 0.5 - 0.5 * math.cos(ph)  # 0 standing .. 1 deepest
            a = {}
            for side, s in (("right", 1.0), ("left", -1.0)):
                a[f"{side}_thigh"] = 1.25 * d + 0.04 * s
                a[f"{side}_shin"] = -0.75 * d + 0.02 * s
                a[f"{side}_upper_arm"] = 1.35 * d + 0.1 + 0.05 * s
                a[f"{side}_forearm"] = 1.35 * d + 0.35
            a["lean"] = 0.45 * d
            return a
        raise ValueError(f"unknown action {self.action!r}")  # pragma: no cover - internal

    def points(self, t: float) -> dict[str, np.ndarray]:
        """All named points (the 15 joints plus pelvis, head base and head top) at time t, 0-based pixels."""
        if t in self._cache:
            return self._cache[t]
        a = self._angles(t)
        f, z = self.facing, self.zoom(t)
        h = self.height * z
        ph = 2 * math.pi * t / self.period + self.phase
        leg = lambda side: h * (  # noqa: E731 - vertical extent of a leg
            _THIGH * math.cos(a[f"{side}_thigh"]) + _SHIN * math.cos(a[f"{side}_shin"])
        )
        if self.action == "squat":
            feet_x = self.x0 + self.speed * t
            reach = h * (_THIGH * math.sin(a["right_thigh"]) + _SHIN * math.sin(a["right_shin"]))
            pelvis = np.array([feet_x - f * reach, self.ground - leg("right")])
        else:
            sway = 0.02 * h * math.sin(0.5 * ph) if self.action == "wave" else 0.0
            bob = -0.012 * h * math.cos(2 * ph) if self.action == "walk" else 0.0
            x = self.x0 + f * self.speed * t if self.action == "walk" else self.x0 + self.speed * t
            pelvis = np.array([x + sway, self.ground - max(leg("right"), leg("left")) + bob])
        lean = a["lean"]
        up = np.array([f * math.sin(lean), -math.cos(lean)])
        across = np.array([math.cos(lean), f * math.sin(lean)])  # perpendicular to `up`
        p: dict[str, np.ndarray] = {"pelvis": pelvis}
        p["neck"] = pelvis + up * _TORSO * h
        p["belly"] = pelvis + up * 0.45 * _TORSO * h
        p["face"] = p["neck"] + up * _HEAD * h
        p["head_base"] = p["face"] - up * 0.025 * h
        p["head_top"] = p["face"] + up * 0.025 * h
        for side, s in (("right", 1.0), ("left", -1.0)):
            shoulder = p["neck"] - up * 0.03 * h + across * s * f * _SHOULDER_HALF * h
            hip = pelvis + across * s * f * _HIP_HALF * h
            elbow = shoulder + _dir(a[f"{side}_upper_arm"], f) * _UPPER_ARM * h
            knee = hip + _dir(a[f"{side}_thigh"], f) * _THIGH * h
            p[f"{side}_shoulder"], p[f"{side}_hip"], p[f"{side}_elbow"], p[f"{side}_knee"] = shoulder, hip, elbow, knee
            p[f"{side}_wrist"] = elbow + _dir(a[f"{side}_forearm"], f) * _FOREARM * h
            p[f"{side}_ankle"] = knee + _dir(a[f"{side}_shin"], f) * _SHIN * h
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[t] = p
        return p

    def joints(self, t: float) -> np.ndarray:
        """(15, 2) 0-based (x, y) pixel coordinates in JHMDB joint order."""
        p = self.points(t)
        return np.stack([p[name] for name in JOINTS]).astype(np.float64)

    def draw_order(self) -> list[str]:
        """Parts back to front: the far side's limbs, torso and head, then the near side's."""
        near, far = ("right", "left") if self.facing > 0 else ("left", "right")
        return [
            f"{far}_upper_arm",
            f"{far}_forearm",
            f"{far}_thigh",
            f"{far}_shin",
            "torso",
            "head",
            f"{near}_thigh",
            f"{near}_shin",
            f"{near}_upper_arm",
            f"{near}_forearm",
        ]


class Body(Protocol):
    """What a :class:`Limb` paints from: a figure's named points over time, its zoom and size,
    and its capsules (:class:`Figure`; the quadruped of :mod:`.animal`)."""

    height: float
    parts: ClassVar[dict[str, tuple[str, str, str]]]
    radii: ClassVar[dict[str, float]]
    lengths: ClassVar[dict[str, float]]

    def zoom(self, t: float) -> float: ...

    def points(self, t: float) -> dict[str, np.ndarray]: ...

    def draw_order(self) -> list[str]: ...


@dataclass
class Limb:
    """One textured capsule of a :class:`Figure` (a layer of a :class:`~.scene.Scene`).

    Texture rows run along the segment (from its start joint), columns across it; the texture
    origin sits ``pad`` pixels in from the corner, so coordinates scale with the figure's zoom.
    """

    figure: Body
    part: str
    label: int
    texture: np.ndarray
    pad: float

    def paint(self, canvas: Canvas, t: float, layer: int) -> None:
        start, end, rkey = self.figure.parts[self.part]
        p = self.figure.points(t)
        a, b = p[start], p[end]
        z = self.figure.zoom(t)
        r = self.figure.radii[rkey] * self.figure.height * z
        d = b - a
        length = float(np.hypot(*d))
        e = d / length if length > 1e-9 else np.array([0.0, 1.0])
        mid = (a + b) / 2
        box = canvas.window(float(mid[0]), float(mid[1]), length / 2 + r + 1.0)
        if box is None:
            return
        y0, y1, x0, x1 = box
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        wx, wy = xx - a[0], yy - a[1]
        u = wx * e[0] + wy * e[1]
        v = e[0] * wy - e[1] * wx
        inside = np.hypot(u - np.clip(u, 0.0, length), v) <= r
        if not inside.any():
            return
        ty = (u[inside] / z + self.pad).astype(np.float32)
        tx = (v[inside] / z + self.pad).astype(np.float32)
        canvas.put(box, inside, self.texture, tx, ty, self.label, layer)


def make_limbs(rng: np.random.Generator, figure: Body) -> list[Limb]:
    """Textured limbs in drawing order. Every part gets its own hue and pattern, and its colour
    shifts along its length, so that colour alone says roughly where along a limb a point is."""
    parts = figure.parts
    order = figure.draw_order()
    h0 = rng.uniform(0, 1)
    hues = {name: (h0 + i / len(parts)) % 1.0 for i, name in enumerate(parts)}
    limbs = []
    for part in order:
        rkey = parts[part][2]
        r = figure.radii[rkey] * figure.height
        pad = r + 2.0
        # texture coordinates are divided by the zoom, so the unzoomed size is enough
        rows = math.ceil(figure.lengths[rkey] * figure.height + 2 * r) + 5
        cols = math.ceil(2 * r) + 5
        start = object_texture(rng, (rows, cols), hues[part], scale=max(2.5, 0.6 * r))
        end = object_texture(rng, (rows, cols), hues[part] + 0.5 / len(parts), scale=max(2.5, 0.6 * r))
        ramp = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None, None]
        tex = (1 - ramp) * start + ramp * end
        limbs.append(Limb(figure, part, list(parts).index(part) + 1, tex, pad))
    return limbs
