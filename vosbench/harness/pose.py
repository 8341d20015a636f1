"""Keypoint propagation (JHMDB): label maps, k-NN propagation, soft-argmax read-out, run folder.

Coordinates. A keypoint is (x, y) in 0-based pixels of the original frame (pixel centres at
integers). The protocol resizes the W x H frame to Wp x Hp (``sx = Wp / W``; bilinear resizing
with half-pixel centres, so original x lands at ``(x + 0.5) * sx - 0.5``); the encoder's cell c
(stride s) covers processed pixels ``[c*s, (c+1)*s)``, whose centre is ``c*s + (s-1)/2``. Hence::

    x_cell = (x + 0.5) * sx / s - 0.5            (to feature cells)
    x      = (x_cell + 0.5) * s / sx - 0.5       (back to original pixels, cell centres)

and likewise for y with ``sy = Hp / H``. CRW's ``eval_pck.py`` maps back with ``x = x_cell / 40 * W``
(``feat_res = 40``), i.e. the cell's *corner* instead of its centre; for a 320x240 JHMDB frame
squashed to 320x320 that puts every prediction (s/sx - 1)/2 = 3.5 px left and (s/sy - 1)/2 = 2.5 px
above ours (see :func:`crw_pixels_from_cells`). ``benchmarks/jhmdb_readout.py`` applies both
mappings to the same propagated maps on synthetic-jhmdb (3 videos x 20 frames): with a random-init
ResNet-18 the shortcut lowered PCK@0.1 by 4.1 points and PCK@0.2 by 1.4 (75.0 -> 70.9, 91.1 ->
89.7); reading out the GT maps themselves it lowered PCK@0.05 from 100 to 89.2.

Label maps (SPEC §3): one channel per joint, an un-normalised Gaussian ``exp(-d² / (2 σ²))`` with
σ = 0.5 cells centred on the joint's exact (sub-cell) position, cut to zero beyond 3σ = 1.5 cells;
plus a background channel (channel 0) that is 1 where every joint channel is 0. Invisible joints
(NaN) have an empty channel. CRW centres the Gaussian on the *rounded* cell, which adds up to half a
cell of quantisation error before any propagation.

Propagation: frame 0's maps are the context's first frame; every later frame is predicted from
the protocol's context (frame 0 + previous frames) with the same windowed k-NN as segmentation.
With ``feedback = soft`` the propagated maps become the frame's context labels; with ``hard`` the
read-out keypoints are rendered to fresh Gaussian maps. The protocol's ``label_downsample`` and
``norm_mask`` do not apply (maps are built at feature resolution).

Read-out: per joint channel, the 3 cells with the largest values, weights = values / their sum,
position = weighted mean of the cells' (x, y) indices, then mapped to pixels by cell centres. A
channel whose top-3 values sum to 0 gives no prediction (NaN, scored as a miss).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from vosbench.harness.errors import InputFileError, VosbenchError
from vosbench.harness.protocol import Protocol

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


def crw_pixels_from_cells(xy_cell: np.ndarray, h: int, w: int, feat_h: int, feat_w: int) -> np.ndarray:
    """CRW ``eval_pck.py``'s mapping ``x / feat_res * W`` (cell index taken as the cell corner).

    With ``feat_w = feat_h = 40`` this is CRW's hard-coded ``feat_res = 40``; kept for comparison.
    """
    c = np.asarray(xy_cell, dtype=np.float64)
    return np.stack([c[..., 0] / feat_w * w, c[..., 1] / feat_h * h], axis=-1)


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
    seq: Any,
    model: torch.nn.Module,
    protocol: Protocol,
    device: torch.device,
    timings: Any,
    batch_size: int = 4,
    copy_first_frame: bool = False,
    sigma: float = SIGMA_CELLS,
    cell_readout: list[np.ndarray] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(t, keypoints)`` for every frame: (J, 2) predicted (x, y) in original pixels.

    Frame 0 yields its GT keypoints (the given input). ``cell_readout``, when a list, receives
    each frame's read-out in feature-cell units (frame 0: its GT in cells), for read-out studies.
    """
    from vosbench.harness.engine import feature_size, frame_features, processed_size
    from vosbench.harness.propagate import ContextBuffer, predict

    kps0 = np.asarray(seq.keypoints[0], dtype=np.float64)
    if copy_first_frame:  # the identity baseline: frame-0 keypoints everywhere
        for t in range(len(seq)):
            yield t, kps0.copy()
        timings.frames += len(seq)
        return
    buf = ContextBuffer(protocol)
    stride = int(model.stride)
    geo: tuple[int, int, int, int] = (0, 0, 0, 0)
    fsize: tuple[int, int] = (0, 0)
    for t, feats in frame_features(seq, model, protocol, device, timings, batch_size=batch_size):
        t0 = time.perf_counter()
        if t == 0:
            img_h, img_w = _frame_size(seq)
            hp, wp = processed_size(img_h, img_w, protocol)
            fsize = tuple(feats.shape[-2:])
            if fsize != feature_size(hp, wp, stride):
                raise InputFileError(
                    f"model output {fsize} is not ceil(size/stride) of the {hp}x{wp} input (stride {stride}); "
                    f"the encoder breaks the vosbench contract"
                )
            geo = (img_h, img_w, hp, wp)
            cells0 = cells_from_pixels(kps0, *geo, stride)
            lab = gaussian_maps(cells0, *fsize, sigma=sigma).to(device=device, dtype=feats.dtype)
            buf.start(feats, lab)
            out = kps0.copy()
            if cell_readout is not None:
                cell_readout.append(cells0)
        else:
            soft = predict(feats, buf.frames(), protocol, workspace=buf.workspace)
            cells = soft_argmax(soft[1:])
            out = pixels_from_cells(cells, *geo, stride)
            if protocol.feedback == "soft":
                lab = soft
            else:
                lab = gaussian_maps(cells, *fsize, sigma=sigma).to(device=device, dtype=feats.dtype)
            buf.push(feats, lab)
            if cell_readout is not None:
                cell_readout.append(cells)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timings.propagation_s += time.perf_counter() - t0
        timings.frames += 1
        yield t, out


def _frame_size(seq: Any) -> tuple[int, int]:
    from PIL import Image

    with Image.open(seq.image_paths[0]) as im:
        return im.height, im.width


# --- run folder ------------------------------------------------------------------------------------


def keypoints_csv_text(frames: list[str], kps: np.ndarray) -> str:
    """``frame,joint,x,y`` rows (joint = 0-based index in SPEC order; ``nan`` = no prediction)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("frame", "joint", "x", "y"))
    for t, name in enumerate(frames):
        for j in range(kps.shape[1]):
            x, y = kps[t, j]
            w.writerow((name, j, "nan" if x != x else f"{x:.3f}", "nan" if y != y else f"{y:.3f}"))
    return buf.getvalue()


def run_pose(cfg: Any, ds: Any, protocol: Protocol, device: torch.device, progress: Callable[[str, int, int], None] | None = None):
    """``vosbench run`` for a keypoint dataset: propagate, read out, score PCK, write the run folder.

    The run folder ``<out>/<dataset>/<model>/<run-id>/`` holds ``keypoints/<video>.csv``,
    ``per_joint_pck.csv``, ``per_video_pck.csv`` and ``summary.json`` (``task: "pose"``; metrics
    ``PCK@0.1``, ``PCK@0.2``, ``PCK_pooled@0.1``, ``PCK_pooled@0.2`` and ``pck_curve``).
    """
    from vosbench.datasets.jhmdb import JOINTS
    from vosbench.harness.engine import Timings
    from vosbench.harness.factory import create_model
    from vosbench.harness.masks import atomic_write_text
    from vosbench.harness.pck import PCKAccumulator, write_pck_csvs
    from vosbench.harness.registry import models
    from vosbench.harness.runner import (
        RunResult,
        _timings,
        as_user_error,
        check_sequence_names,
        make_run_dir,
        new_record,
        record_failure,
        start_record,
    )
    from vosbench.harness.safepath import safe_join

    t_start = time.perf_counter()
    model_spec = models.get(cfg.model)
    names = check_sequence_names(ds, ds.select(list(cfg.sequences)))
    seqs = [ds.sequence(n) for n in names]  # validates every video before any work
    model = create_model(cfg.model, cfg.checkpoint, **cfg.model_options).to(device)
    # the keypoint-specific settings decide the numbers too, so they are part of the protocol
    settings = {**protocol.to_dict(), "keypoint_sigma": SIGMA_CELLS, "keypoint_readout_topk": READOUT_TOPK}
    record = new_record(cfg, model, ds, names, settings, device, task="pose")
    run_dir = make_run_dir(cfg, record["run_id"])
    start_record(run_dir, record)
    timings = Timings()
    acc = PCKAccumulator(JOINTS)
    t_eval = 0.0
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vosbench-write")
    pending: list[Future[Any]] = []
    total = sum(len(s) for s in seqs)
    done = 0
    try:
        for seq in seqs:
            pred = np.full((len(seq), len(JOINTS), 2), np.nan)
            for t, kps in propagate_pose(
                seq, model, protocol, device, timings, cfg.batch_size, model_spec.copy_first_frame
            ):
                pred[t] = kps
                done += 1
                if progress:
                    progress(seq.name, done, total)
            t0 = time.perf_counter()
            acc.add(seq.name, pred, seq.keypoints)
            t_eval += time.perf_counter() - t0
            if cfg.save_predictions:
                path = safe_join(run_dir, "keypoints", f"{seq.name}.csv")
                pending.append(writer.submit(atomic_write_text, path, keypoints_csv_text(seq.frames, pred)))
            while pending and pending[0].done():
                pending.pop(0).result()
        for f in pending:
            f.result()
        writer.shutdown(wait=True)
        result = acc.result()
        write_pck_csvs(run_dir, result)
        record["metrics"] = result.metrics()
        record["timings"] = _timings(timings, t_eval, t_start, device)
        atomic_write_text(run_dir / "summary.json", json.dumps({**record, "status": "complete"}, indent=2) + "\n")
        record["status"] = "complete"
    except BaseException as e:
        writer.shutdown(wait=True)
        record["timings"] = _timings(timings, t_eval, t_start, device)
        unwritten = record_failure(record, run_dir, e)
        err = as_user_error(e, str(run_dir))
        if unwritten and isinstance(err, VosbenchError):
            err.args = (f"{err}\n(summary.json could not be written either: {unwritten})",)
        if err is e:
            raise
        raise err from None
    return RunResult(run_dir, record, [])
