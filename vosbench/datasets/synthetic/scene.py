"""Scenes of textured layers over a panning background, rendered with exact label maps.

A :class:`Scene` is pure data (shapes, textures, motion parameters); :meth:`Scene.render` draws it
at any time ``t`` (in frames, may be fractional). Layers are painted back to front, so a layer
hides everything painted before it; the label map records the id of the front-most layer at each
pixel and is therefore exact by construction (a pixel belongs to an object iff its centre lies
inside the object's outline). Optionally the renderer also returns, per pixel, which layer it
shows and the texture coordinates of the point seen there: the true correspondences between
frames, for tests that need perfect matches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vosbench.datasets.synthetic.textures import sample_bilinear

SHAPES = ("ellipse", "blob", "star", "box")


@dataclass(frozen=True)
class Shape:
    """A closed outline given by its radius as a function of polar angle, wobbling over time.

    Attributes:
        kind: One of :data:`SHAPES`.
        radius: Nominal radius in texture pixels.
        aspect: Width/height ratio (``ellipse``, ``box``).
        harmonics: (k, amplitude, phase) terms of ``r = R (1 + sum a cos(k phi + p))`` (``blob``,
            ``star``).
        wobble: Relative amplitude of the time-varying deformation.
        wobble_k: Angular frequency of the deformation.
        wobble_omega: Temporal frequency of the deformation (radians per frame).
        wobble_phase: Phase of the deformation.
    """

    kind: str
    radius: float
    aspect: float = 1.0
    harmonics: tuple[tuple[int, float, float], ...] = ()
    wobble: float = 0.0
    wobble_k: int = 2
    wobble_omega: float = 0.0
    wobble_phase: float = 0.0

    def base_radius(self, phi: np.ndarray) -> np.ndarray:
        c, s = np.cos(phi), np.sin(phi)
        if self.kind in ("ellipse", "box"):
            a = self.radius * math.sqrt(self.aspect)
            b = self.radius / math.sqrt(self.aspect)
            p = 2.0 if self.kind == "ellipse" else 4.0
            return 1.0 / ((np.abs(c) / a) ** p + (np.abs(s) / b) ** p) ** (1.0 / p)
        r = np.ones_like(phi)
        for k, amp, ph in self.harmonics:
            r = r + amp * np.cos(k * phi + ph)
        return self.radius * r

    def radius_at(self, phi: np.ndarray, t: float) -> np.ndarray:
        """Outline radius at angles ``phi`` and time ``t``."""
        r = self.base_radius(phi)
        if self.wobble:
            r = r * (1.0 + self.wobble * np.sin(self.wobble_k * phi + self.wobble_omega * t + self.wobble_phase))
        return r

    def extent(self) -> tuple[float, float]:
        """(smallest, largest) radius over all angles and times (inscribed / enclosing circle)."""
        r = self.base_radius(np.linspace(0, 2 * np.pi, 1441))
        return float(r.min() * (1 - self.wobble)), float(r.max() * (1 + self.wobble))


@dataclass(frozen=True)
class Motion:
    """Smooth similarity motion: ``centre + velocity t + amp sin(omega t + phase)`` per axis,
    an angle that spins and sways, and a scale that breathes (``scale0 exp(a sin(w t + p))``)."""

    centre: tuple[float, float]
    velocity: tuple[float, float] = (0.0, 0.0)
    amp: tuple[float, float] = (0.0, 0.0)
    omega: tuple[float, float] = (0.0, 0.0)
    phase: tuple[float, float] = (0.0, 0.0)
    angle0: float = 0.0
    spin: float = 0.0
    sway: float = 0.0
    sway_omega: float = 0.0
    sway_phase: float = 0.0
    scale0: float = 1.0
    scale_amp: float = 0.0
    scale_omega: float = 0.0
    scale_phase: float = 0.0

    def pose(self, t: float) -> tuple[float, float, float, float]:
        """(centre x, centre y, angle in radians, scale) at time ``t``."""
        cx = self.centre[0] + self.velocity[0] * t + self.amp[0] * math.sin(self.omega[0] * t + self.phase[0])
        cy = self.centre[1] + self.velocity[1] * t + self.amp[1] * math.sin(self.omega[1] * t + self.phase[1])
        angle = self.angle0 + self.spin * t + self.sway * math.sin(self.sway_omega * t + self.sway_phase)
        scale = self.scale0 * math.exp(self.scale_amp * math.sin(self.scale_omega * t + self.scale_phase))
        return cx, cy, angle, scale

    def scale_range(self) -> tuple[float, float]:
        return self.scale0 * math.exp(-self.scale_amp), self.scale0 * math.exp(self.scale_amp)


@dataclass
class Canvas:
    """The frame being painted: RGB image (or ``None`` when only labels are wanted), label map, and
    optional per-pixel correspondences (layer index, texture x, texture y; layer 0 = background)."""

    labels: np.ndarray
    image: np.ndarray | None = None
    coords: np.ndarray | None = None

    @property
    def height(self) -> int:
        return int(self.labels.shape[0])

    @property
    def width(self) -> int:
        return int(self.labels.shape[1])

    def window(self, cx: float, cy: float, reach: float) -> tuple[int, int, int, int] | None:
        """Pixel box (y0, y1, x0, x1) of a disc of radius ``reach`` clipped to the frame, or None."""
        x0, x1 = max(0, math.floor(cx - reach)), min(self.width, math.ceil(cx + reach) + 1)
        y0, y1 = max(0, math.floor(cy - reach)), min(self.height, math.ceil(cy + reach) + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        return y0, y1, x0, x1

    def put(
        self,
        box: tuple[int, int, int, int],
        inside: np.ndarray,
        texture: np.ndarray,
        tx: np.ndarray,
        ty: np.ndarray,
        label: int,
        layer: int,
    ) -> None:
        """Paint ``texture`` sampled at (tx, ty) where ``inside`` is true within ``box``."""
        y0, y1, x0, x1 = box
        self.labels[y0:y1, x0:x1][inside] = label
        if self.image is not None:
            self.image[y0:y1, x0:x1][inside] = sample_bilinear(texture, ty, tx)
        if self.coords is not None:
            self.coords[y0:y1, x0:x1][inside] = np.stack([np.full(tx.shape, layer, np.float32), tx, ty], -1)


@dataclass
class ShapeObject:
    """A textured shape moving with :class:`Motion`; exists for ``start <= t < end``.

    Attributes:
        obj_id: Label id written into the label map (1..255).
        category: Category name (the shape kind).
        shape: Outline.
        motion: Pose over time.
        texture: (S, S, 3) float32 texture; local coordinate (0, 0) is its centre.
        warp: (amplitude, wavelength, omega, phase x, phase y) of a sinusoidal texture warp, so the
            pattern deforms slightly inside the outline.
        start, end: Lifetime in frames (an object "appears" at ``start``).
    """

    obj_id: int
    category: str
    shape: Shape
    motion: Motion
    texture: np.ndarray
    warp: tuple[float, float, float, float, float] = (0.0, 1.0, 0.0, 0.0, 0.0)
    start: float = 0.0
    end: float = math.inf

    def alive(self, t: float) -> bool:
        return self.start <= t < self.end

    def paint(self, canvas: Canvas, t: float, layer: int) -> None:
        if not self.alive(t):
            return
        cx, cy, angle, scale = self.motion.pose(t)
        box = canvas.window(cx, cy, self.shape.extent()[1] * scale + 1.0)
        if box is None:
            return
        y0, y1, x0, x1 = box
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        dx, dy = xx - cx, yy - cy
        ca, sa = math.cos(angle), math.sin(angle)
        px = (ca * dx + sa * dy) / scale
        py = (-sa * dx + ca * dy) / scale
        inside = np.hypot(px, py) < self.shape.radius_at(np.arctan2(py, px), t)
        if not inside.any():
            return
        px, py = px[inside], py[inside]
        amp, wavelength, omega, phx, phy = self.warp
        k = 2 * math.pi / wavelength
        centre = (self.texture.shape[0] - 1) / 2.0
        tx = px + amp * np.sin(k * py + omega * t + phx) + centre
        ty = py + amp * np.sin(k * px + omega * t + phy) + centre
        canvas.put(box, inside, self.texture, tx.astype(np.float32), ty.astype(np.float32), self.obj_id, layer)


@dataclass(frozen=True)
class Background:
    """A texture larger than the frame, seen through a window that pans smoothly (camera motion)."""

    texture: np.ndarray
    margin: int
    pan_amp: tuple[float, float] = (0.0, 0.0)
    pan_omega: float = 0.0
    pan_phase: tuple[float, float] = (0.0, 0.0)

    def offset(self, t: float) -> tuple[int, int]:
        ox = self.margin + int(np.rint(self.pan_amp[0] * math.sin(self.pan_omega * t + self.pan_phase[0])))
        oy = self.margin + int(np.rint(self.pan_amp[1] * math.sin(self.pan_omega * t + self.pan_phase[1])))
        return ox, oy


@dataclass
class Frame:
    """One rendered frame: uint8 RGB image (or None), uint8 label map, optional correspondences."""

    labels: np.ndarray
    image: np.ndarray | None = None
    coords: np.ndarray | None = None


@dataclass
class Scene:
    """Background plus layers (back to front) of a ``width`` x ``height`` video."""

    width: int
    height: int
    background: Background
    layers: list = field(default_factory=list)

    def render(self, t: float, *, image: bool = True, coords: bool = False) -> Frame:
        """Draw the scene at time ``t``.

        Args:
            t: Time in frames.
            image: Also produce the RGB image (labels alone are much cheaper).
            coords: Also produce (H, W, 3) float32 correspondences: layer index (0 = background,
                i = ``layers[i - 1]``), then the x and y texture coordinates of the point shown.
        """
        h, w = self.height, self.width
        ox, oy = self.background.offset(t)
        canvas = Canvas(labels=np.zeros((h, w), np.uint8))
        if image:
            canvas.image = self.background.texture[oy : oy + h, ox : ox + w].copy()
        if coords:
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            canvas.coords = np.stack([np.zeros_like(xx), xx + ox, yy + oy], -1)
        for i, layer in enumerate(self.layers):
            layer.paint(canvas, t, i + 1)
        img = None
        if canvas.image is not None:
            img = np.clip(np.rint(canvas.image * 255.0), 0, 255).astype(np.uint8)
        return Frame(labels=canvas.labels, image=img, coords=canvas.coords)
