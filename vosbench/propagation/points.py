"""Point tracking with frozen features (TAP-Vid): nearest neighbour (``nn``) and heatmap
propagation (``propagate``), chosen by the protocol's ``tracker``.

Coordinates: query points and tracks are (x, y) in 0-based pixels of the original W x H frame
(pixel centres at integers); they reach feature cells as JHMDB keypoints do
(:func:`vosbench.propagation.keypoints.cells_from_pixels`: ``x_cell = (x + 0.5) * Wp / W / s -
0.5``) and come back by cell centres (:func:`~vosbench.propagation.keypoints.pixels_from_cells`).

``nn`` (zero-shot matching, as gorkaydemir/fomo_point_tracking's ``zero_shot.py``): each query's
feature is sampled bilinearly at its cell position in its query frame (features L2-normalised when
the protocol says so); in every frame its similarity to every cell is computed, the arg-max cell
found and refined to sub-cell precision by a softmax (temperature = the protocol's
``temperature``) over the 3x3 cells around it (cut at the border): the position is the
softmax-weighted mean of those cell coordinates. Confidence = the best similarity; a point is
occluded where it is below ``occlusion_threshold`` (``None``: always visible).

``propagate`` (the query as a label, as JHMDB keypoints and qianduoduolr/FGVC): per group of
queries sharing a query frame, a Gaussian map per query (sigma 0.5 cells, as
``crw-jhmdb-centred``) is that frame's label and is propagated with the k-NN engine and the
protocol's context to the later frames (soft feedback), and, in ``strided`` mode, again through
the reversed video to the earlier frames. Read-out: top-3 soft-argmax; confidence = the
propagated map's peak value. Frames before a query's frame in ``first`` mode are not scored by
TAP-Vid; they get the query position, occluded. A map propagated to all zeros keeps the
previous frame's position, occluded.

Memory: nothing proportional to the video length is kept: ``nn`` holds the query features and
one frame's similarities for at most :data:`QUERY_CHUNK` queries at a time; ``propagate`` holds
the protocol's context of one group of at most :data:`QUERY_CHUNK` queries. The query frame of a
point is given: its prediction there is the query itself, visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vosbench.core.video import VideoSequence
from vosbench.propagation import batched
from vosbench.propagation.context import ContextBuffer
from vosbench.propagation.features import FeatureModel, Timings, frame_features, processed_size
from vosbench.propagation.keypoints import cells_from_pixels, gaussian_maps, pixels_from_cells, soft_argmax
from vosbench.propagation.knn import predict
from vosbench.propagation.protocol import Protocol

#: queries matched (nn) or propagated (propagate) together
QUERY_CHUNK = 256


@dataclass(frozen=True)
class Geometry:
    """Original frame size (h, w), processed size (hp, wp) and encoder stride."""

    h: int
    w: int
    hp: int
    wp: int
    stride: int

    @classmethod
    def of(cls, size: tuple[int, int], protocol: Protocol, stride: int) -> Geometry:
        hp, wp = processed_size(size[0], size[1], protocol)
        return cls(size[0], size[1], hp, wp, int(stride))

    def to_cells(self, xy: np.ndarray) -> np.ndarray:
        return cells_from_pixels(xy, self.h, self.w, self.hp, self.wp, self.stride)

    def to_pixels(self, cells: np.ndarray) -> np.ndarray:
        return pixels_from_cells(cells, self.h, self.w, self.hp, self.wp, self.stride)


@dataclass
class Tracks:
    """Predicted tracks of Q queries over T frames: ``xy`` (Q, T, 2) original pixels, ``occluded``
    (Q, T) bool, ``confidence`` (Q, T)."""

    xy: np.ndarray
    occluded: np.ndarray
    confidence: np.ndarray

    @classmethod
    def empty(cls, queries: np.ndarray, n_frames: int) -> Tracks:
        """Every frame at the query position, occluded; the query frame itself visible."""
        q = np.asarray(queries, dtype=np.float64).reshape(-1, 3)
        xy = np.repeat(q[:, None, [2, 1]], n_frames, axis=1)
        occ = np.ones((len(q), n_frames), dtype=bool)
        occ[np.arange(len(q)), q[:, 0].round().astype(int)] = False
        return cls(xy, occ, np.zeros((len(q), n_frames)))


def sample_features(feats: torch.Tensor, cells: np.ndarray) -> torch.Tensor:
    """Bilinear sample of (C, h, w) features at (Q, 2) cell positions (x, y; centres at integers;
    clamped to the grid) -> (Q, C)."""
    C, h, w = feats.shape
    xy = torch.as_tensor(cells, dtype=torch.float32, device=feats.device)
    gx = (xy[:, 0].clamp(0, w - 1) + 0.5) / w * 2 - 1  # align_corners=False: cell centre i at (i + .5) / w
    gy = (xy[:, 1].clamp(0, h - 1) + 0.5) / h * 2 - 1
    grid = torch.stack([gx, gy], dim=-1)[None, None]  # (1, 1, Q, 2)
    out = F.grid_sample(feats[None].float(), grid, mode="bilinear", align_corners=False)
    return out[0, :, 0].t()  # (Q, C)


def refine_3x3(sim: torch.Tensor, w: int, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q, h*w) similarities -> (Q, 2) sub-cell (x, y) and (Q,) best similarity: softmax over the
    3x3 cells around each arg-max (cut at the border), weighted mean of their coordinates."""
    Q, hw = sim.shape
    h = hw // w
    best, idx = sim.max(dim=1)
    cy, cx = torch.div(idx, w, rounding_mode="floor"), idx % w
    offs = torch.tensor([-1, 0, 1], device=sim.device)
    ys = (cy[:, None, None] + offs[None, :, None]).expand(Q, 3, 3)
    xs = (cx[:, None, None] + offs[None, None, :]).expand(Q, 3, 3)
    inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    flat = (ys.clamp(0, h - 1) * w + xs.clamp(0, w - 1)).reshape(Q, 9)
    vals = torch.gather(sim, 1, flat).float() / temperature
    vals = vals.masked_fill(~inside.reshape(Q, 9), float("-inf"))
    wts = torch.softmax(vals, dim=1)
    x = (wts * xs.reshape(Q, 9).float()).sum(1)
    y = (wts * ys.reshape(Q, 9).float()).sum(1)
    return torch.stack([x, y], dim=1), best.float()


FeatureSource = Callable[[list[int]], Iterator[tuple[int, torch.Tensor]]]


def track_nn(
    features: FeatureSource, queries: np.ndarray, n_frames: int, geo: Geometry, protocol: Protocol,
    timings: Timings | None = None,
) -> Tracks:
    """``nn`` tracking of (Q, 3) ``[t, y, x]`` queries (original pixels); ``features(frames)``
    yields ``(t, (C, h, w))`` for the frames asked, in that order."""
    out = Tracks.empty(queries, n_frames)
    q = np.asarray(queries, dtype=np.float64).reshape(-1, 3)
    if not len(q):
        return out
    qt = q[:, 0].round().astype(int)
    cells = geo.to_cells(q[:, [2, 1]])
    qfeat: torch.Tensor | None = None
    for t, f in features(sorted(set(qt.tolist()))):  # pass 1: the query frames
        rows = np.flatnonzero(qt == t)
        s = sample_features(f, cells[rows])
        if protocol.l2_normalize:
            s = F.normalize(s, dim=1)
        if qfeat is None:
            qfeat = torch.zeros((len(q), s.shape[1]), dtype=torch.float32, device=f.device)
        qfeat[torch.as_tensor(rows, device=f.device)] = s
    assert qfeat is not None
    thr = protocol.occlusion_threshold
    for t, f in features(list(range(n_frames))):  # pass 2: every frame
        t0 = time.perf_counter()
        C, h, w = f.shape
        keys = f.reshape(C, h * w).float()
        for c0 in range(0, len(q), QUERY_CHUNK):
            sim = qfeat[c0 : c0 + QUERY_CHUNK] @ keys
            xy, best = refine_3x3(sim, w, protocol.temperature)
            chunk = slice(c0, c0 + len(sim))
            out.xy[chunk, t] = geo.to_pixels(xy.double().cpu().numpy())
            out.confidence[chunk, t] = best.double().cpu().numpy()
            out.occluded[chunk, t] = False if thr is None else (out.confidence[chunk, t] < thr)
        if timings is not None:
            timings.propagation_s += time.perf_counter() - t0
    at_query = (np.arange(len(q)), qt)
    out.xy[at_query] = q[:, [2, 1]]
    out.occluded[at_query] = False
    return out


def _propagate_group(
    features: FeatureSource, frames: list[int], cells: np.ndarray, geo: Geometry, protocol: Protocol,
    device: torch.device, out: Tracks, rows: np.ndarray, timings: Timings,
) -> None:
    """Propagate the heatmaps of queries ``rows`` (all at frame ``frames[0]``) along ``frames``."""
    buf = ContextBuffer(protocol)
    predict_fn = predict
    if batched.propagation_path(device) == "batched":
        predict_fn = batched.predict
        buf.workspace = batched.BatchedWorkspace()
    thr = protocol.occlusion_threshold
    last = out.xy[rows, frames[0]]
    for i, (t, f) in enumerate(features(frames)):
        t0 = time.perf_counter()
        if i == 0:
            buf.start(f, gaussian_maps(cells, f.shape[-2], f.shape[-1]).to(device=device, dtype=f.dtype))
            continue
        soft = predict_fn(f, buf.frames(), protocol, workspace=buf.workspace)
        maps = soft[1:]
        xy = geo.to_pixels(soft_argmax(maps))
        lost = ~np.isfinite(xy).all(axis=1)  # a map propagated to all zeros: kept where it was, occluded
        xy[lost] = last[lost]
        out.xy[rows, t] = last = xy
        peak = maps.reshape(len(rows), -1).max(dim=1).values.double().cpu().numpy()
        out.confidence[rows, t] = peak
        out.occluded[rows, t] = lost | (False if thr is None else peak < thr)
        buf.push(f, soft)
        timings.propagation_s += time.perf_counter() - t0


def track_propagate(
    features: FeatureSource, queries: np.ndarray, n_frames: int, geo: Geometry, protocol: Protocol,
    device: torch.device, mode: str, timings: Timings,
) -> Tracks:
    """``propagate`` tracking of (Q, 3) ``[t, y, x]`` queries (see the module docstring)."""
    out = Tracks.empty(queries, n_frames)
    q = np.asarray(queries, dtype=np.float64).reshape(-1, 3)
    qt = q[:, 0].round().astype(int)
    cells = geo.to_cells(q[:, [2, 1]])
    for t in sorted(set(qt.tolist())):
        group = np.flatnonzero(qt == t)
        for c0 in range(0, len(group), QUERY_CHUNK):
            rows = group[c0 : c0 + QUERY_CHUNK]
            passes = [list(range(t, n_frames))] + ([list(range(t, -1, -1))] if mode == "strided" else [])
            for frames in passes:
                if len(frames) > 1:
                    _propagate_group(features, frames, cells[rows], geo, protocol, device, out, rows, timings)
    return out


def track_points(
    seq: VideoSequence, model: FeatureModel, protocol: Protocol, device: torch.device, timings: Timings,
    queries: np.ndarray, size: tuple[int, int], mode: str, batch_size: int = 4,
) -> Tracks:
    """Track ``queries`` (Q, 3) ``[t, y, x]`` (original pixels of frames of ``size`` (h, w)) through
    ``seq`` with the protocol's tracker; ``mode`` is the query mode (``first`` or ``strided``)."""

    def features(frames: list[int]) -> Iterator[tuple[int, torch.Tensor]]:
        for t, f in frame_features(seq, model, protocol, device, timings, batch_size=batch_size, frames=frames):
            timings.frames += 1
            yield t, f

    geo = Geometry.of(size, protocol, int(model.stride))
    if protocol.tracker == "nn":
        return track_nn(features, queries, len(seq), geo, protocol, timings)
    return track_propagate(features, queries, len(seq), geo, protocol, device, mode, timings)
