"""Random scenes for the DAVIS- and YouTube-VOS-style synthetic videos.

Every video is built from its own generator, so video ``i`` depends only on the seed and ``i``
(asking for more videos never changes the earlier ones). The first videos are staged so that the
hard cases are always present:

* DAVIS video 0 (``occlusion``): a large object passes in front of a small one and hides it
  completely for a few frames in the middle of the video (both visible before and after).
* DAVIS video 1 (``enter-exit``): one object leaves the frame for good, another enters from the
  opposite border.
* other videos (``drift``): 2-4 objects on smooth looping paths, in random depth order.

Sizes and speeds scale with ``min(width, height)``; at 240 px objects are 36-82 px wide and move
3.5-7 px per frame while rotating 1-3 degrees per frame and growing or shrinking by up to 20%,
so copying the first-frame mask scores poorly after a few frames. A scene is redrawn (from the
same generator, hence deterministically) until its checks pass: every object clearly visible
when it first appears, and the staged events actually happen.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np

from vosbench.datasets.synthetic.scene import Background, Motion, Scene, Shape, ShapeObject
from vosbench.datasets.synthetic.textures import background_texture, object_texture

SEEN_CATEGORIES = ("ellipse", "blob")
UNSEEN_CATEGORIES = ("star", "box")

_TRIES = 60


def _m(width: int, height: int) -> float:
    return float(min(width, height))


def make_shape(rng: np.random.Generator, kind: str, radius: float, aspect: float | None = None) -> Shape:
    """A random outline of the given kind and nominal radius (see :class:`Shape`)."""
    harmonics: tuple[tuple[int, float, float], ...] = ()
    if kind == "ellipse":
        aspect = aspect if aspect is not None else rng.uniform(1.2, 1.8)
    elif kind == "box":
        aspect = aspect if aspect is not None else rng.uniform(1.0, 1.6)
    elif kind == "blob":
        amps = rng.uniform(0.03, 0.08, 3)
        harmonics = tuple((k, float(a), float(rng.uniform(0, 2 * np.pi))) for k, a in zip((2, 3, 4), amps))
    elif kind == "star":
        n = int(rng.integers(4, 7))
        harmonics = ((n, float(rng.uniform(0.18, 0.26)), float(rng.uniform(0, 2 * np.pi))),)
    else:  # pragma: no cover - internal
        raise ValueError(kind)
    return Shape(
        kind=kind,
        radius=float(radius),
        aspect=float(aspect or 1.0),
        harmonics=harmonics,
        wobble=float(rng.uniform(0.03, 0.06)),
        wobble_k=int(rng.integers(2, 4)),
        wobble_omega=float(rng.uniform(0.15, 0.35)),
        wobble_phase=float(rng.uniform(0, 2 * np.pi)),
    )


def make_object(
    rng: np.random.Generator,
    obj_id: int,
    shape: Shape,
    motion: Motion,
    hue: float,
    m: float,
    start: float = 0.0,
) -> ShapeObject:
    """Give a shape a texture (pattern size proportional to ``m``) and a slight texture warp."""
    r = shape.radius
    amp = 0.05 * r
    size = 2 * math.ceil(shape.extent()[1] + amp + 3) + 1
    texture = object_texture(rng, (size, size), hue, scale=rng.uniform(5.0, 11.0) * m / 240.0)
    warp = (
        amp,
        r * float(rng.uniform(1.0, 1.6)),
        float(rng.uniform(0.1, 0.3)),
        float(rng.uniform(0, 2 * np.pi)),
        float(rng.uniform(0, 2 * np.pi)),
    )
    return ShapeObject(obj_id, shape.kind, shape, motion, texture, warp, start=float(start))


def _spin(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "angle0": float(rng.uniform(0, 2 * np.pi)),
        "spin": float(rng.choice([-1.0, 1.0]) * rng.uniform(0.015, 0.05)),
        "sway": float(rng.uniform(0.05, 0.2)),
        "sway_omega": float(rng.uniform(0.1, 0.3)),
        "sway_phase": float(rng.uniform(0, 2 * np.pi)),
        "scale_amp": float(rng.uniform(0.08, 0.2)),
        "scale_omega": float(rng.uniform(0.08, 0.2)),
        "scale_phase": float(rng.uniform(0, 2 * np.pi)),
    }


def looping_motion(rng: np.random.Generator, width: int, height: int) -> Motion:
    """A Lissajous path around the frame centre (stays mostly in view however long the video)."""
    m = _m(width, height)
    speed = rng.uniform(0.015, 0.03) * m
    ax, ay = rng.uniform(0.18, 0.34) * width, rng.uniform(0.12, 0.3) * height
    share = rng.uniform(0.3, 0.7)  # how the speed splits between the axes
    return Motion(
        centre=(float(width * rng.uniform(0.4, 0.6)), float(height * rng.uniform(0.4, 0.6))),
        amp=(float(ax), float(ay)),
        omega=(float(speed * math.sqrt(share) / ax), float(speed * math.sqrt(1 - share) / ay)),
        phase=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
        **_spin(rng),
    )


def make_background(rng: np.random.Generator, width: int, height: int) -> Background:
    m = _m(width, height)
    margin = max(2, math.ceil(0.06 * m))
    tex = background_texture(rng, (height + 2 * margin, width + 2 * margin), scale=0.3 * m)
    return Background(
        texture=tex,
        margin=margin,
        pan_amp=(float(rng.uniform(0.3, 1.0) * margin), float(rng.uniform(0.0, 0.5) * margin)),
        pan_omega=float(rng.uniform(0.03, 0.08)),
        pan_phase=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
    )


def _hues(rng: np.random.Generator, n: int) -> list[float]:
    """``n`` well separated hues (objects of one video never share a colour family)."""
    h0 = rng.uniform(0, 1)
    return [float((h0 + i / n + rng.uniform(-0.04, 0.04)) % 1.0) for i in range(n)]


def _radius(rng: np.random.Generator, m: float) -> float:
    return float(rng.uniform(0.1, 0.17) * m)


def _nominal_area(obj: ShapeObject, t: float) -> float:
    return math.pi * (obj.shape.radius * obj.motion.pose(t)[3]) ** 2


def _area(scene: Scene, obj_id: int, t: float) -> int:
    return int((scene.render(t, image=False).labels == obj_id).sum())


def visible_at_start(scene: Scene, min_fraction: float = 0.2) -> bool:
    """Every object covers at least ``min_fraction`` of its nominal area when it first appears."""
    for obj in scene.layers:
        need = max(20.0, min_fraction * _nominal_area(obj, obj.start))
        if _area(scene, obj.obj_id, obj.start) < need:
            return False
    return True


def hidden_in_middle(scene: Scene, obj_id: int, frames: int) -> bool:
    """The object is fully hidden in some frame with visible frames before and after it."""
    areas = [_area(scene, obj_id, t) for t in range(frames)]
    hidden = [t for t, a in enumerate(areas) if a == 0]
    return any(any(areas[:t]) and any(areas[t + 1 :]) for t in hidden)


def _redraw(rng: np.random.Generator, make: Callable[[], Scene], check: Callable[[Scene], bool]) -> Scene:
    scene = make()
    for _ in range(_TRIES - 1):
        if check(scene):
            return scene
        scene = make()
    return scene  # tiny frames can make the checks unreachable; keep the last draw


# -- DAVIS-style videos ----------------------------------------------------------------------------


def occlusion_layers(rng: np.random.Generator, width: int, height: int, frames: int, ids: list[int]) -> list:
    """Three objects (back to front); ``ids[1]`` (large, in front) hides ``ids[0]`` (small) for a
    few frames around mid-video."""
    m = _m(width, height)
    hues = _hues(rng, 3)
    t_mid = float((frames - 1) // 2)  # a whole frame, so that short videos hide A in some frame
    shape_a = make_shape(rng, str(rng.choice(["ellipse", "blob"])), 0.075 * m)
    spin_a = _spin(rng)
    spin_a["scale_amp"] = 0.06
    motion_a = Motion(
        centre=(float(width * rng.uniform(0.4, 0.6)), float(height * rng.uniform(0.4, 0.6))),
        amp=(0.04 * width, 0.04 * height),
        omega=(float(rng.uniform(0.05, 0.12)), float(rng.uniform(0.05, 0.12))),
        phase=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
        **spin_a,
    )
    # B follows A's path plus a straight crossing, so their distance is |t - t_mid| * speed. B is
    # sized so that A (at its largest) fits inside B (at its smallest) while that distance is below
    # `cover`: at least 1.5 frames either side of t_mid in long videos, so A is hidden for a few
    # frames; short videos get a faster crossing so that A is still visible at the ends.
    direction = rng.uniform(-0.4, 0.4) + (math.pi if rng.uniform() < 0.5 else 0.0)
    cover = 1.5 * 0.04 * m
    reach_a = shape_a.extent()[1] * motion_a.scale_range()[1]
    unit_b = make_shape(rng, "ellipse", 1.0, aspect=rng.uniform(1.0, 1.2))
    unit_b = dataclasses.replace(unit_b, wobble=0.03)
    spin_b = _spin(rng)
    spin_b["scale_amp"] = 0.05
    radius_b = (reach_a + cover + 1.0) / (unit_b.extent()[0] * math.exp(-0.05))
    shape_b = dataclasses.replace(unit_b, radius=radius_b)
    reach_b = shape_b.extent()[1] * math.exp(0.05)
    speed = max(0.04 * m, (reach_b + 0.3 * reach_a) / max(t_mid, 1.0))
    vx, vy = speed * math.cos(direction), speed * math.sin(direction)
    motion_b = Motion(
        centre=(motion_a.centre[0] - t_mid * vx, motion_a.centre[1] - t_mid * vy),
        velocity=(vx, vy),
        amp=motion_a.amp,
        omega=motion_a.omega,
        phase=motion_a.phase,
        **spin_b,
    )
    a = make_object(rng, ids[0], shape_a, motion_a, hues[0], m)
    b = make_object(rng, ids[1], shape_b, motion_b, hues[1], m)
    kind_c = str(rng.choice(["ellipse", "blob", "star", "box"]))
    shape_c = make_shape(rng, kind_c, _radius(rng, m))
    c = make_object(rng, ids[2], shape_c, looping_motion(rng, width, height), hues[2], m)
    order = int(rng.integers(3))  # C behind A, between A and B, or in front
    return [[c, a, b], [a, c, b], [a, b, c]][order]


def enter_exit_layers(rng: np.random.Generator, width: int, height: int, frames: int, ids: list[int]) -> list:
    """Three objects (back to front): ``ids[0]`` leaves through a side border and is out of view
    from 70% of the video on, ``ids[1]`` starts half outside the opposite border and enters."""
    m = _m(width, height)
    hues = _hues(rng, 3)
    side = 1.0 if rng.uniform() < 0.5 else -1.0
    shape_e = make_shape(rng, str(rng.choice(["ellipse", "blob", "box"])), _radius(rng, m))
    spin_e = _spin(rng)
    reach_e = shape_e.extent()[1] * math.exp(spin_e["scale_amp"]) + 2.0
    x0 = width * rng.uniform(0.35, 0.65)
    distance = (width - x0 + reach_e) if side > 0 else (x0 + reach_e)
    vx = side * distance / max(1.0, 0.7 * (frames - 1))
    motion_e = Motion(
        centre=(float(x0), float(height * rng.uniform(0.3, 0.7))),
        velocity=(float(vx), float(rng.uniform(-0.15, 0.15) * abs(vx))),
        amp=(0.0, 0.03 * m),
        omega=(0.0, float(rng.uniform(0.1, 0.3))),
        phase=(0.0, float(rng.uniform(0, 2 * np.pi))),
        **spin_e,
    )
    shape_n = make_shape(rng, str(rng.choice(["ellipse", "blob", "star"])), _radius(rng, m))
    r_n = shape_n.radius
    xn = -0.1 * r_n if side > 0 else width - 1 + 0.1 * r_n  # about half of it inside at t = 0
    vn = side * rng.uniform(0.015, 0.025) * m
    motion_n = Motion(
        centre=(float(xn), float(height * rng.uniform(0.3, 0.7))),
        velocity=(float(vn), float(rng.uniform(-0.2, 0.2) * abs(vn))),
        amp=(0.0, 0.03 * m),
        omega=(0.0, float(rng.uniform(0.1, 0.3))),
        phase=(0.0, float(rng.uniform(0, 2 * np.pi))),
        **_spin(rng),
    )
    e = make_object(rng, ids[0], shape_e, motion_e, hues[0], m)
    n = make_object(rng, ids[1], shape_n, motion_n, hues[1], m)
    kind_c = str(rng.choice(["ellipse", "blob", "star", "box"]))
    shape_c = make_shape(rng, kind_c, _radius(rng, m))
    c = make_object(rng, ids[2], shape_c, looping_motion(rng, width, height), hues[2], m)
    layers = [e, n, c]
    return [layers[i] for i in rng.permutation(3)]


def drift_layers(
    rng: np.random.Generator, width: int, height: int, ids: list[int], kinds: list[str] | None = None
) -> list:
    """``len(ids)`` objects on looping paths, in random depth order."""
    m = _m(width, height)
    hues = _hues(rng, len(ids))
    layers = []
    for i, obj_id in enumerate(ids):
        kind = kinds[i] if kinds else str(rng.choice(["ellipse", "blob", "star", "box"]))
        shape = make_shape(rng, kind, _radius(rng, m))
        layers.append(make_object(rng, obj_id, shape, looping_motion(rng, width, height), hues[i], m))
    return [layers[i] for i in rng.permutation(len(layers))]


DAVIS_SCENARIOS = ("occlusion", "enter-exit", "drift")


def davis_scenario(index: int) -> str:
    return DAVIS_SCENARIOS[min(index, 2)]


def davis_scene(rng: np.random.Generator, index: int, width: int, height: int, frames: int) -> Scene:
    """Video ``index`` of a DAVIS-style set (all objects present in frame 0, ids 1..K)."""
    kind = davis_scenario(index)
    background = make_background(rng, width, height)

    ids = [int(i) + 1 for i in rng.permutation(3)]  # which of 1..3 plays which role

    def make() -> Scene:
        if kind == "occlusion":
            layers = occlusion_layers(rng, width, height, frames, ids)
        elif kind == "enter-exit":
            layers = enter_exit_layers(rng, width, height, frames, ids)
        else:
            k = int(rng.integers(2, 5))
            layers = drift_layers(rng, width, height, list(range(1, k + 1)))
        return Scene(width, height, background, layers)

    def check(scene: Scene) -> bool:
        if not visible_at_start(scene):
            return False
        if kind == "occlusion":
            return hidden_in_middle(scene, ids[0], frames)
        if kind == "enter-exit":
            return _area(scene, ids[0], frames - 1) == 0
        return True

    return _redraw(rng, make, check)


# -- YouTube-VOS-style videos ----------------------------------------------------------------------


def _pop_in(rng: np.random.Generator, width: int, height: int, obj_id: int, start: int, hue: float) -> ShapeObject:
    """An object that appears (is revealed) at frame ``start``, on a looping path."""
    m = _m(width, height)
    kind = str(rng.choice(["ellipse", "blob", "star", "box"]))
    shape = make_shape(rng, kind, _radius(rng, m))
    return make_object(rng, obj_id, shape, looping_motion(rng, width, height), hue, m, start=start)


def ytvos_scene(rng: np.random.Generator, index: int, width: int, height: int, frames: int) -> Scene:
    """Video ``index`` of a YouTube-VOS-style set; time unit = one annotated frame (5 raw frames).

    * video 0: ids 1 (a seen category) and 3 (an unseen one) from the start, id 4 appears at the
      middle annotated frame;
    * video 1: the DAVIS occlusion staging (ids 1-3) plus id 5 appearing a third of the way in;
    * other videos: 2-3 objects with random ids in 1..6, and with probability 1/2 one more that
      appears later.
    """
    background = make_background(rng, width, height)
    late = max(1, frames // 2) if index == 0 else max(1, frames // 3)
    occluded: list[int] = []

    def make() -> Scene:
        if index == 0:
            kinds = [str(rng.choice(SEEN_CATEGORIES)), str(rng.choice(UNSEEN_CATEGORIES))]
            layers = drift_layers(rng, width, height, [1, 3], kinds)
            extra = [(4, late)]
        elif index == 1:
            layers = occlusion_layers(rng, width, height, frames, [1, 2, 3])
            occluded[:] = [1]
            extra = [(5, late)]
        else:
            k = int(rng.integers(2, 4))
            ids = sorted(int(i) for i in rng.choice(np.arange(1, 7), size=k, replace=False))
            layers = drift_layers(rng, width, height, ids)
            extra = []
            if frames > 2 and rng.uniform() < 0.5:
                extra = [(max(ids) + 1, int(rng.integers(1, frames - 1)))]
        for obj_id, start in extra:
            obj = _pop_in(rng, width, height, obj_id, start, float(rng.uniform(0, 1)))
            layers.insert(int(rng.integers(len(layers) + 1)), obj)
        return Scene(width, height, background, layers)

    def check(scene: Scene) -> bool:
        if not visible_at_start(scene):
            return False
        return all(hidden_in_middle(scene, i, frames) for i in occluded)

    return _redraw(rng, make, check)


# -- JHMDB-style videos ----------------------------------------------------------------------------


def jhmdb_scene(rng: np.random.Generator, action: str, width: int, height: int, frames: int) -> Scene:
    """A figure doing ``action`` over a textured background; its limbs are the scene's layers
    (``scene.layers[0].figure`` is the :class:`~.figure.Figure`). All 15 joints stay inside the
    frame in every one of ``frames`` frames."""
    from vosbench.datasets.synthetic.figure import Figure, make_limbs

    background = make_background(rng, width, height)

    def make() -> Scene:
        height_px = rng.uniform(0.68, 0.8) * height
        facing = float(rng.choice([-1.0, 1.0]))
        common: dict[str, Any] = {
            "height": float(height_px),
            "ground": float(height * rng.uniform(0.9, 0.95)),
            "facing": facing,
            "phase": float(rng.uniform(0, 2 * np.pi)),
        }
        if action == "walk":
            speed = rng.uniform(0.012, 0.02) * width
            travel = speed * (frames - 1)
            x0 = width / 2 - facing * travel / 2 + rng.uniform(-0.05, 0.05) * width
            fig = Figure(action, x0=float(x0), period=float(rng.uniform(18, 26)), speed=float(speed), **common)
        else:
            # the camera follows loosely: the figure drifts sideways and the view zooms in and out
            speed = float(rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 2.5) * width / 320)
            fig = Figure(
                action,
                x0=float(width / 2 - speed * (frames - 1) / 2 + rng.uniform(-0.05, 0.05) * width),
                period=float(rng.uniform(8, 12) if action == "wave" else rng.uniform(12, 16)),
                speed=speed,
                zoom_amp=float(rng.uniform(0.08, 0.15)),
                zoom_omega=float(rng.uniform(0.08, 0.15)),
                zoom_phase=float(rng.uniform(0, 2 * np.pi)),
                **common,
            )
        return Scene(width, height, background, make_limbs(rng, fig))

    def check(scene: Scene) -> bool:
        fig = scene.layers[0].figure
        pts = np.stack([fig.joints(t) for t in range(frames)])
        return bool((pts[..., 0] >= 0.5).all() and (pts[..., 0] <= width - 1.5).all()
                    and (pts[..., 1] >= 0.5).all() and (pts[..., 1] <= height - 1.5).all())

    return _redraw(rng, make, check)
