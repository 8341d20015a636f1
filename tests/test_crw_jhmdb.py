"""The ``crw-jhmdb`` preset against a restatement of CRW's own JHMDB code path (videowalk @047f3f4:
``code/data/jhmdb.py`` label maps, ``code/utils/test_utils.py:process_pose`` read-out,
``code/eval/eval_pck.py`` mapping back and PCK), on hand-made keypoints and maps.

The restatement below follows CRW's statements one by one (loops, ``int()`` truncation, float32
tensors, ``torch.topk`` over the flattened (h*w, J) map, ``np.min``/``np.max`` box from 1e6/-1,
``d / box <= thr``); vosbench's implementation is written differently and must agree to 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vosbench.datasets.joints import JOINTS
from vosbench.propagation.keypoints import (
    crw_cells_from_pixels,
    crw_label_maps,
    crw_pixels_from_cells,
    crw_soft_argmax,
)
from vosbench.scoring.pck import PCKAccumulator

H, W, CROP, STRIDE = 240, 320, 320, 8
FEAT = CROP // STRIDE  # 40, CRW's feat_res


# --- CRW, restated ----------------------------------------------------------------------------------


def crw_draw_gaussian(img: np.ndarray, pt: np.ndarray, sigma: float) -> None:
    """jhmdb.py draw_labelmap_np: a (6 sigma + 1)-wide patch pasted with its corner at int(pt - 3 sigma)."""
    ul = [int(pt[0] - 3 * sigma), int(pt[1] - 3 * sigma)]
    br = [int(pt[0] + 3 * sigma + 1), int(pt[1] + 3 * sigma + 1)]
    if ul[0] >= img.shape[1] or ul[1] >= img.shape[0] or br[0] < 0 or br[1] < 0:
        return
    size = 6 * sigma + 1
    xs = np.arange(0, size, 1, float)
    ys = xs[:, np.newaxis]
    x0 = y0 = size // 2
    g = np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * sigma**2))
    gx = max(0, -ul[0]), min(br[0], img.shape[1]) - ul[0]
    gy = max(0, -ul[1]), min(br[1], img.shape[0]) - ul[1]
    ix = max(0, ul[0]), min(br[0], img.shape[1])
    iy = max(0, ul[1]), min(br[1], img.shape[0])
    img[iy[0] : iy[1], ix[0] : ix[1]] = g[gy[0] : gy[1], gx[0] : gx[1]]


def crw_maps(pos_img_0based: np.ndarray) -> torch.Tensor:
    """JhmdbSet.__getitem__: [2, J, T] 0-based pixels -> (T, 40, 40, 1 + J) float32 maps."""
    coord = pos_img_0based.copy()
    coord[0] = coord[0] * float(CROP) / float(W) / STRIDE
    coord[1] = coord[1] * float(CROP) / float(H) / STRIDE
    T, J = coord.shape[2], coord.shape[1]
    lbls = np.zeros((T, FEAT, FEAT, J))
    for i in range(T):
        for j in range(J):
            crw_draw_gaussian(lbls[i, :, :, j], coord[:, j, i], 0.5)
    t = torch.zeros(T, FEAT, FEAT, J)
    for i in range(T):
        t[i] = torch.from_numpy(lbls[i])
    return torch.cat([(t.sum(-1) == 0)[..., None] * 1.0, t], dim=-1)


def crw_process_pose(pred: torch.Tensor, topk: int = 3) -> torch.Tensor:
    """test_utils.process_pose: (h, w, 1 + J) -> (2, J) cell coordinates, -1 for empty channels."""
    pred = pred[..., 1:]
    flat = pred.flatten(0, 1)
    topk = min(flat.shape[0], topk)
    vals, ids = torch.topk(flat, k=topk, dim=0)
    vals /= vals.sum(0)[None]
    xx, yy = ids % pred.shape[1], ids // pred.shape[1]
    coord = torch.stack([(xx * vals).sum(0), (yy * vals).sum(0)], dim=0)
    coord[:, flat.sum(0) == 0] = -1
    return coord


def crw_eval_pck(gts: list[np.ndarray], preds: list[np.ndarray], sizes: list[tuple[int, int]]) -> dict[float, float]:
    """eval_pck.py: gts [2, J, T] 0-based, preds [2, J, T] float32 cells (-1 = none) -> mean PCK (%)."""
    preds = [p.copy() for p in preds]
    visible, boxes = [], []
    for i, p in enumerate(preds):
        vis = np.ones((p.shape[1], p.shape[2]))
        for j in range(p.shape[1]):
            for k in range(p.shape[2]):
                if p[0, j, k] < 0:
                    vis[j, k] = 0
        visible.append(vis)
        h, w = sizes[i]
        p[0, :, :] = p[0, :, :] / float(FEAT) * w
        p[1, :, :] = p[1, :, :] / float(FEAT) * h
    for i, g in enumerate(gts):
        box = np.zeros(g.shape[2])
        for k in range(g.shape[2]):
            minx, maxx, miny, maxy = 1e6, -1, 1e6, -1
            for j in range(g.shape[1]):
                if visible[i][j, k] == 0:
                    continue
                minx = np.min([minx, g[0, j, k]])
                miny = np.min([miny, g[1, j, k]])
                maxx = np.max([maxx, g[0, j, k]])
                maxy = np.max([maxy, g[1, j, k]])
            box[k] = 0.6 * np.linalg.norm(np.subtract([maxx, maxy], [minx, miny]))
        boxes.append(box)
    dist: dict[int, np.ndarray] = {j: np.zeros([0, 0]) for j in range(15)}
    for i, g in enumerate(gts):
        for j in range(g.shape[1]):
            for k in range(g.shape[2]):
                if visible[i][j, k] == 0 or k == 0:
                    continue
                d = np.linalg.norm(np.subtract([preds[i][0, j, k], preds[i][1, j, k]], [g[0, j, k], g[1, j, k]]))
                with np.errstate(divide="ignore", invalid="ignore"):
                    dist[j] = np.append(dist[j], [[d / boxes[i][k]]])
    out = {}
    for thr in (0.1, 0.2, 0.3, 0.4, 0.5):
        per_joint = [100.0 * len(np.argwhere(dist[j] <= thr)) / len(dist[j]) for j in range(15)]
        out[thr] = float(np.mean(per_joint))
    return out


# --- hand-made keypoints --------------------------------------------------------------------------


def keypoints(seed: int, T: int = 4) -> np.ndarray:
    """(T, 15, 2) 0-based pixels on a 320x240 frame with the cases that matter placed by hand."""
    rng = np.random.default_rng(seed)
    kps = np.stack([rng.uniform(20, 300, (T, 15)), rng.uniform(15, 225, (T, 15))], axis=-1)
    kps[:, 0] = (45.6, 101.7)  # cells (5.7, 16.95): rounded cell (6, 17) != exact cell
    kps[:, 1] = (9.0, 4.0)  # cells (1.125, 0.67): int() truncation puts the peak one cell further
    kps[:, 2] = (-30.0, 50.0)  # off the frame: the patch lies wholly outside, the joint is invisible
    kps[:, 3] = (-6.0, 120.0)  # partly outside: a clipped patch
    kps[:, 4] = (316.0, 238.5)  # bottom-right corner, clipped
    kps[:, 5] = (48.0, 90.0)  # exactly on a cell corner (6, 15)
    return kps


def test_label_maps_are_crws():
    kps = keypoints(0)
    ref = crw_maps(kps.transpose(2, 1, 0))  # (T, 40, 40, 16)
    for t in range(len(kps)):
        cells = crw_cells_from_pixels(kps[t], H, W, CROP, CROP, STRIDE)
        ours = crw_label_maps(cells, FEAT, FEAT)
        assert ours.dtype == torch.float32 and ours.shape == (16, FEAT, FEAT)
        assert np.abs(ours.numpy() - ref[t].permute(2, 0, 1).numpy()).max() <= 1e-9
    m = crw_label_maps(crw_cells_from_pixels(kps[0], H, W, CROP, CROP, STRIDE), FEAT, FEAT)
    # the rounded cell: the peak of joint 0 sits at (6, 17), not at the exact cell (5.7, 16.95)
    assert m[1, 17, 6] == 1.0
    # cell (1.125, 0.67): CRW's int() truncates -0.375 and -0.83 to 0, which puts the peak at
    # cell (2, 2), not at the rounded cell (1, 1)
    assert m[2, 2, 2] == 1.0 and m[2, 1, 1] < 1.0
    assert m[3].sum() == 0  # off the frame: empty channel
    assert 0 < m[4].sum() < m[1].sum()  # clipped


def test_readout_and_mapping_are_crws_including_ties_and_empty_channels():
    kps = keypoints(1)
    gt_maps = crw_maps(kps.transpose(2, 1, 0))
    rng = np.random.default_rng(2)
    # propagated-looking maps: the GT maps blurred with random positive noise, one channel empty,
    # one with exact ties among its top values
    soft = gt_maps.clone()
    soft[1:, :, :, 1:] += torch.from_numpy(rng.uniform(0, 0.3, soft[1:, :, :, 1:].shape).astype(np.float32))
    soft[2, :, :, 7] = 0
    soft[3, :, :, 8] = 0
    soft[3, 10, 10, 8] = soft[3, 10, 11, 8] = soft[3, 11, 10, 8] = soft[3, 30, 30, 8] = 0.5
    for maps in (gt_maps, soft):  # frame 0 is CRW's read-out of the GT maps (ties in every Gaussian)
        for t in range(maps.shape[0]):
            ref = crw_process_pose(maps[t].clone()).numpy()  # (2, J), float32
            ours = crw_soft_argmax(maps[t].permute(2, 0, 1)[1:])  # (J, 2), NaN = none
            none = ref[0] < 0
            assert np.array_equal(none, np.isnan(ours[:, 0]))
            assert np.abs(ours[~none] - ref.T[~none]).max() <= 1e-9
            ref_px = ref.copy()
            ref_px[0] = ref_px[0] / float(FEAT) * W
            ref_px[1] = ref_px[1] / float(FEAT) * H
            ours_px = crw_pixels_from_cells(ours, H, W, FEAT, FEAT)
            assert np.abs(ours_px[~none] - ref_px.T[~none].astype(np.float64)).max() <= 1e-9
    assert np.isnan(crw_soft_argmax(soft[2].permute(2, 0, 1)[1:])[6]).all()  # the emptied channel
    assert np.isnan(crw_soft_argmax(gt_maps[0].permute(2, 0, 1)[1:])[2]).all()  # the off-frame joint


def test_pck_is_crws_with_prediction_visibility():
    gts, preds_cells, ours_pred = [], [], []
    acc = PCKAccumulator(JOINTS, visibility="prediction")
    rng = np.random.default_rng(3)
    for v in range(3):
        kps = keypoints(10 + v, T=5)
        if v > 0:  # CRW's eval_pck divides by zero for a joint never scored in any video
            kps[:, 2] = (30.0, 50.0)
        maps = crw_maps(kps.transpose(2, 1, 0))
        # predictions: CRW's read-out of GT maps moved by random whole and fractional cells
        cells = []
        for t in range(len(kps)):
            c = crw_process_pose(maps[t].clone())
            moved = c + torch.from_numpy(rng.normal(0, 1.5, c.shape).astype(np.float32)) * (c >= 0)
            moved[:, (c < 0).any(0)] = -1
            if v == 1 and t == 2:
                moved[:, 9] = -1  # a joint lost mid-video: unscored and out of that frame's box
            cells.append(moved)
        pc = torch.stack(cells, dim=-1).numpy()  # (2, J, T) float32
        gts.append(kps.transpose(2, 1, 0))
        preds_cells.append(pc)
        pred_px = np.stack(
            [crw_pixels_from_cells(np.where(pc[:, :, t].T < 0, np.nan, pc[:, :, t].T), H, W, FEAT, FEAT) for t in range(pc.shape[2])]
        )
        ours_pred.append(pred_px)
        acc.add(f"v{v}", pred_px, kps)
    ref = crw_eval_pck(gts, preds_cells, [(H, W)] * 3)
    res = acc.result()
    for thr, value in ref.items():
        assert 100 * res.mean()[res.at(thr)] == pytest.approx(value, abs=1e-9)
    # invisible joints (off the frame, lost) are not scored: fewer pairs than frames for them
    assert res.counts[2] == 2 * 4 and res.counts[9] == 3 * 4 - 1 and res.counts[0] == 3 * 4
    assert 0 < res.mean()[res.at(0.1)] < 1
