"""Keypoint propagation (JHMDB): label maps, k-NN propagation, soft-argmax read-out, run folder.

Two keypoint conventions, chosen by the protocol's ``keypoints`` setting. Keypoints are (x, y) in
0-based pixels of the original W x H frame; the protocol resizes it to Wp x Hp (``sx = Wp / W``,
``sy = Hp / H``) and the encoder has stride s.

``crw`` (preset ``crw-jhmdb``): CRW's own pipeline (videowalk ``code/data/jhmdb.py``,
``code/utils/test_utils.py:process_pose``, ``code/eval/eval_pck.py``), restated step by step:

* to cells: ``x_cell = x * Wp / W / s`` (float64, in that order), i.e. a pixel index read as the
  cell's corner coordinate;
* label maps: per joint a 4x4 patch of ``exp(-d² / (2 σ²))`` (σ = 0.5, peak 1) whose peak sits at
  ``int(x_cell - 1.5) + 2`` (``int`` truncates toward zero: the rounded cell for x_cell >= 1.5,
  one cell further right near the left/top border), clipped to the map; nothing when the patch
  lies wholly outside. Channel 0 (background) is 1 where every joint channel is 0;
* read-out: per joint channel, on the CPU in float32, ``torch.topk`` of the 3 largest cells
  (``keypoint_readout_topk``; CropMAE's ``process_pose`` takes 5) (its
  order of equal values is CRW's tie-breaking), weights = values / their sum, position = weighted
  mean of the integer cell indices (x = index % w, y = index // w); a channel that is 0 everywhere
  gives no prediction (CRW writes -1, here NaN);
* back to pixels: ``x = x_cell / w_feat * W`` in float32 (CRW hard-codes ``w_feat = 40``, the
  320 / 8 grid; here the actual grid width, the same for CRW's setting);
* PCK (:mod:`vosbench.scoring.pck`, ``visibility="prediction"``): a joint counts only where its
  prediction exists, both for scoring and for the 0.6 x bounding-box-diagonal normaliser.

Encoding (corner) and decoding (corner) cancel except for the rounding to a cell: reading the
GT maps straight back gives a mean offset of about -0.9 / -0.6 px on 320x240 frames.

``centred`` (preset ``crw-jhmdb-centred``): bilinear resizing puts original x at
``(x + 0.5) * sx - 0.5`` and cell c covers processed pixels ``[c*s, (c+1)*s)`` (centre
``c*s + (s-1)/2``), so::

    x_cell = (x + 0.5) * sx / s - 0.5            (to feature cells)
    x      = (x_cell + 0.5) * s / sx - 0.5       (back to original pixels, cell centres)

and likewise for y. Label maps are Gaussians (σ = 0.5 cells) centred on the exact sub-cell
position, cut to zero beyond 3σ; the read-out is the same top-3 soft-argmax mapped back by cell
centres; PCK scores every joint whose GT is visible. This removes CRW's rounding (reading GT maps
back is exact) but is not CRW's protocol, so its numbers are not comparable with published JHMDB
rows. ``python benchmarks/jhmdb_readout.py`` runs both presets on synthetic-jhmdb and prints the
PCK difference (README, "JHMDB keypoints and PCK").

Propagation: frame 0's maps are the context's first frame; every later frame is predicted from
the protocol's context (frame 0 + previous frames) with the same windowed k-NN as segmentation.
With ``feedback = soft`` the propagated maps become the frame's context labels; with ``hard`` the
read-out keypoints are rendered to fresh maps. The protocol's ``label_downsample`` and
``norm_mask`` do not apply (maps are built at feature resolution). Frame 0 yields, under ``crw``,
CRW's read-out of its GT maps (what CRW's ``test.py`` dumps; frame 0 is never scored) and, under
``centred``, the GT keypoints themselves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import torch

from vosbench.core.errors import ConfigError, InputFileError
from vosbench.core.video import VideoSequence
from vosbench.propagation import batched
from vosbench.propagation.context import ContextBuffer
from vosbench.propagation.features import FeatureModel, Timings, frame_features, processed_size
from vosbench.propagation.knn import predict
from vosbench.propagation.labels import image_size
from vosbench.propagation.protocol import Protocol

SIGMA_CELLS = 0.5
CUTOFF_SIGMAS = 3.0
READOUT_TOPK = 3


# --- coordinates --------------------------------------------------------------------------------


def cell_scale(h: int, w: int, hp: int, wp: int, stride: int) -> tuple[float, float]:
    """Original pixels per feature cell along x and y: ``s / sx``, ``s / sy``."""
    return stride * w / wp, stride * h / hp


def cells_from_pixels(xy: np.ndarray, h: int, w: int, hp: int, wp: int, stride: int) -> np.ndarray:
    """(..., 2) original-pixel (x, y) -> feature-cell coordinates (cell centres at integers)."""
    px, py = cell_scale(h, w, hp, wp, stride)
    xy = np.asarray(xy, dtype=np.float64)
    return np.stack([(xy[..., 0] + 0.5) / px - 0.5, (xy[..., 1] + 0.5) / py - 0.5], axis=-1)


def pixels_from_cells(xy_cell: np.ndarray, h: int, w: int, hp: int, wp: int, stride: int) -> np.ndarray:
    """(..., 2) feature-cell (x, y) -> original-pixel coordinates, by cell centres."""
    px, py = cell_scale(h, w, hp, wp, stride)
    c = np.asarray(xy_cell, dtype=np.float64)
    return np.stack([(c[..., 0] + 0.5) * px - 0.5, (c[..., 1] + 0.5) * py - 0.5], axis=-1)


def crw_cells_from_pixels(xy: np.ndarray, h: int, w: int, hp: int, wp: int, stride: int) -> np.ndarray:
    """(..., 2) original-pixel (x, y) -> CRW's cell coordinates ``x * Wp / W / s`` (float64, CRW's
    order of operations; the pixel index is read as a corner coordinate)."""
    xy = np.asarray(xy, dtype=np.float64)
    return np.stack([xy[..., 0] * float(wp) / float(w) / stride, xy[..., 1] * float(hp) / float(h) / stride], axis=-1)


def crw_pixels_from_cells(xy_cell: np.ndarray, h: int, w: int, feat_h: int, feat_w: int) -> np.ndarray:
    """CRW ``eval_pck.py``'s mapping ``x / feat_res * W`` (cell index taken as the cell corner).

    Computed in float32 like CRW (its read-out is a float32 array); returned as float64 holding
    those float32 values. CRW hard-codes ``feat_res = 40`` for both axes (the 320 / 8 grid).
    """
    c = np.asarray(xy_cell, dtype=np.float32)
    x = c[..., 0] / np.float32(feat_w) * np.float32(w)
    y = c[..., 1] / np.float32(feat_h) * np.float32(h)
    return np.stack([x, y], axis=-1).astype(np.float32).astype(np.float64)


# --- label maps and read-out ---------------------------------------------------------------------


def gaussian_maps(xy_cell: np.ndarray, fh: int, fw: int, sigma: float = SIGMA_CELLS) -> torch.Tensor:
    """Keypoints in cell coordinates -> (1 + J, fh, fw) label maps (channel 0 = background).

    Args:
        xy_cell: (J, 2) sub-cell (x, y) positions; NaN rows give empty channels.
        fh, fw: Feature-map size.
        sigma: Gaussian sigma in cells (values beyond ``3 * sigma`` are cut to 0).
    """
    pts = np.asarray(xy_cell, dtype=np.float64)
    J = pts.shape[0]
    ys = np.arange(fh, dtype=np.float64)[:, None]
    xs = np.arange(fw, dtype=np.float64)[None, :]
    maps = np.zeros((J + 1, fh, fw), dtype=np.float32)
    cut = (CUTOFF_SIGMAS * sigma) ** 2
    for j in range(J):
        x, y = pts[j]
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        d2 = (xs - x) ** 2 + (ys - y) ** 2
        g = np.exp(-d2 / (2.0 * sigma * sigma))
        g[d2 > cut] = 0.0
        maps[j + 1] = g
    maps[0] = (maps[1:].max(axis=0, initial=0.0) <= 0).astype(np.float32)
    return torch.from_numpy(maps)


def crw_label_maps(xy_cell: np.ndarray, fh: int, fw: int, sigma: float = SIGMA_CELLS) -> torch.Tensor:
    """CRW's keypoint maps: cell coordinates -> (1 + J, fh, fw) float32 (channel 0 = background).

    Per joint, CRW's ``draw_labelmap_np``: a patch of ``6σ + 1`` cells (4 for σ = 0.5) of an
    un-normalised Gaussian peaking at patch index ``(6σ + 1) // 2``, whose upper-left corner is
    ``int(x - 3σ)`` (``int`` truncates toward zero), clipped to the map; nothing when the patch
    lies wholly outside. NaN rows (joints vosbench's data marks invisible; CRW's data has none)
    give empty channels. Background = 1 where the joint channels sum to 0.
    """
    pts = np.asarray(xy_cell, dtype=np.float64)
    J = pts.shape[0]
    maps = np.zeros((J + 1, fh, fw), dtype=np.float64)
    size = 6.0 * sigma + 1.0
    grid = np.arange(0, size, 1, dtype=np.float64)
    c0 = size // 2
    patch = np.exp(-((grid[None, :] - c0) ** 2 + (grid[:, None] - c0) ** 2) / (2.0 * sigma**2))
    for j in range(J):
        x, y = pts[j]
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        ux, uy = int(x - 3 * sigma), int(y - 3 * sigma)  # int(): truncation toward zero, as CRW
        bx, by = int(x + 3 * sigma + 1), int(y + 3 * sigma + 1)
        if ux >= fw or uy >= fh or bx < 0 or by < 0:
            continue
        gx0, gx1 = max(0, -ux), min(bx, fw) - ux
        gy0, gy1 = max(0, -uy), min(by, fh) - uy
        maps[j + 1, max(0, uy) : min(by, fh), max(0, ux) : min(bx, fw)] = patch[gy0:gy1, gx0:gx1]
    out = maps.astype(np.float32)
    out[0] = (out[1:].sum(axis=0) == 0).astype(np.float32)
    return torch.from_numpy(out)


def crw_soft_argmax(maps: torch.Tensor, k: int = READOUT_TOPK) -> np.ndarray:
    """CRW's read-out: (J, h, w) joint maps -> (J, 2) cell coordinates (float32 values).

    On the CPU in float32: per joint the top-``k`` cells by ``torch.topk`` over the flattened map
    (CRW's tie-breaking), weights = values / their sum, position = weighted sum of the integer
    indices (x = index % w, y = index // w). A channel that is 0 everywhere gives NaN (CRW: -1).
    """
    J, h, w = maps.shape
    flat = maps.detach().to("cpu", torch.float32).reshape(J, h * w).t()  # (h*w, J) as CRW
    vals, ids = torch.topk(flat, k=min(k, h * w), dim=0)
    vals = vals / vals.sum(0)[None]
    x = (ids % w * vals).sum(0)
    y = (torch.div(ids, w, rounding_mode="floor") * vals).sum(0)
    out = torch.stack([x, y], dim=1).numpy().astype(np.float64)
    out[(flat.sum(0) == 0).numpy()] = np.nan
    return out


def soft_argmax(maps: torch.Tensor, k: int = READOUT_TOPK) -> np.ndarray:
    """(J, h, w) joint maps -> (J, 2) cell coordinates by soft-argmax over the top-``k`` cells.

    A joint whose top-k values sum to 0 (or less) gets NaN.
    """
    J, h, w = maps.shape
    flat = maps.reshape(J, h * w).float()
    vals, idx = torch.topk(flat, min(k, h * w), dim=1)
    vals = vals.clamp_min(0)
    total = vals.sum(dim=1, keepdim=True)
    wts = vals / total.clamp_min(1e-30)
    x = (wts * (idx % w).float()).sum(dim=1)
    y = (wts * torch.div(idx, w, rounding_mode="floor").float()).sum(dim=1)
    out = torch.stack([x, y], dim=1).double().cpu().numpy()
    out[(total[:, 0] <= 0).cpu().numpy()] = np.nan
    return out


# --- propagation ---------------------------------------------------------------------------------


def propagate_pose(
    seq: VideoSequence,
    model: FeatureModel,
    protocol: Protocol,
    device: torch.device,
    timings: Timings,
    batch_size: int = 4,
    copy_first_frame: bool = False,
    sigma: float = SIGMA_CELLS,
    cell_readout: list[np.ndarray] | None = None,
    path: str | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(t, keypoints)`` for every frame: (J, 2) predicted (x, y) in original pixels.

    Frame 0 yields, under ``protocol.keypoints == "crw"``, CRW's read-out of its GT maps, else its
    GT keypoints (the given input). ``cell_readout``, when a list, receives each frame's read-out
    in feature-cell units (frame 0: its GT in cells), for read-out studies. ``path`` picks the
    matching code as for segmentation (:func:`vosbench.propagation.batched.propagation_path`).
    """
    if seq.keypoints is None:
        raise InputFileError(f"{seq.name}: the dataset gave no keypoints for this video (a keypoint run needs them)")
    if protocol.mixing != "joint":
        raise ConfigError(f"protocol {protocol.name!r}: mixing={protocol.mixing!r} is for segmentation runs only")
    for key in ("minmax_feedback", "predict_first", "min_label_pixels"):
        if getattr(protocol, key):
            raise ConfigError(f"protocol {protocol.name!r}: {key} is for segmentation runs only")
    kps0 = np.asarray(seq.keypoints[0], dtype=np.float64)
    if copy_first_frame:  # the identity baseline: frame-0 keypoints everywhere
        for t in range(len(seq)):
            yield t, kps0.copy()
        timings.frames += len(seq)
        return
    crw = protocol.keypoints == "crw"
    k = protocol.keypoint_readout_topk
    buf = ContextBuffer(protocol)
    predict_fn = predict
    if batched.propagation_path(device, path) == "batched":
        predict_fn = batched.predict
        buf.workspace = batched.BatchedWorkspace()
    stride = int(model.stride)
    geo: tuple[int, int, int, int] = (0, 0, 0, 0)
    fsize: tuple[int, int] = (0, 0)

    def maps(cells: np.ndarray) -> torch.Tensor:
        m = crw_label_maps(cells, *fsize, sigma=sigma) if crw else gaussian_maps(cells, *fsize, sigma=sigma)
        return m.to(device=device, dtype=feats.dtype)

    def to_pixels(cells: np.ndarray) -> np.ndarray:
        if crw:
            return crw_pixels_from_cells(cells, geo[0], geo[1], *fsize)
        return pixels_from_cells(cells, *geo, stride)

    for t, feats in frame_features(seq, model, protocol, device, timings, batch_size=batch_size):
        t0 = time.perf_counter()
        if t == 0:
            img_h, img_w = image_size(seq.image_paths[0])  # from the header
            hp, wp = processed_size(img_h, img_w, protocol)
            fsize = (int(feats.shape[-2]), int(feats.shape[-1]))  # ceil(size/stride): frame_features checks it
            geo = (img_h, img_w, hp, wp)
            cells0 = (crw_cells_from_pixels if crw else cells_from_pixels)(kps0, *geo, stride)
            lab = maps(cells0)
            buf.start(feats, lab)
            out = to_pixels(crw_soft_argmax(lab[1:], k)) if crw else kps0.copy()
            if cell_readout is not None:
                cell_readout.append(cells0)
        else:
            soft = predict_fn(feats, buf.frames(), protocol, workspace=buf.workspace)
            cells = crw_soft_argmax(soft[1:], k) if crw else soft_argmax(soft[1:], k)
            out = to_pixels(cells)
            buf.push(feats, soft if protocol.feedback == "soft" else maps(cells))
            if cell_readout is not None:
                cell_readout.append(cells)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timings.propagation_s += time.perf_counter() - t0
        timings.frames += 1
        yield t, out
