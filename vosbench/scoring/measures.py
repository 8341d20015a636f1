"""DAVIS per-frame measures: region similarity J and boundary F-measure of one object in one frame.

The conventions (boundary maps, the matching disk, the empty cases) are those of the official
DAVIS 2017 evaluation; :mod:`vosbench.scoring.jf` states them all.
"""

from __future__ import annotations

import math

import numpy as np

BOUNDARY_FRACTION = 0.008


def boundary_radius(shape: tuple[int, ...]) -> int:
    """Boundary tolerance in pixels for an (H, W) image: ``ceil(0.008 * sqrt(H² + W²))``."""
    return int(np.ceil(BOUNDARY_FRACTION * np.linalg.norm(np.asarray(shape[:2], dtype=np.float64))))


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """1-pixel boundary map of a binary mask (DAVIS convention, see the module docstring).

    Args:
        mask: (H, W) array, non-zero = foreground.

    Returns:
        (H, W) bool array, True on boundary pixels.
    """
    m = np.asarray(mask).astype(bool, copy=False)
    b = np.zeros(m.shape, dtype=bool)
    right = m[:, :-1] != m[:, 1:]  # (H, W-1): pixel differs from its right neighbour
    down = m[:-1, :] != m[1:, :]  # (H-1, W): ... from the one below
    diag = m[:-1, :-1] != m[1:, 1:]  # (H-1, W-1): ... from the lower-right one
    b[:-1, :-1] = right[:-1] | down[:, :-1] | diag
    b[-1, :-1] = right[-1]  # last row: no pixel below, horizontal transitions only
    b[:-1, -1] = down[:, -1]  # last column: vertical transitions only
    b[-1, -1] = False
    return b


def _disk_halfheights(radius: int) -> list[int]:
    """For column offsets dx = -r..r, the largest |dy| with dy² + dx² <= r² (exact integers)."""
    return [math.isqrt(radius * radius - dx * dx) for dx in range(-radius, radius + 1)]


def _count_matched(ys: np.ndarray, xs: np.ndarray, other: np.ndarray, radius: int) -> int:
    """How many points (ys, xs) have a True pixel of ``other`` within Euclidean distance ``radius``.

    Exact disk test without dilating the whole map by a 2-D disk: ``other`` is dilated vertically
    by each half-height the disk needs (cheap 1-pixel steps), and each point then looks up its
    2r + 1 column offsets in the map of the matching half-height.
    """
    h, w = other.shape
    halves = _disk_halfheights(radius)
    need = set(halves)
    wp = w + 2 * radius  # zero columns either side: lookups never leave the array
    v = np.zeros((h, wp), dtype=bool)
    v[:, radius : radius + w] = other
    levels = {0: v.ravel()} if 0 in need else {}
    for k in range(1, max(need) + 1):
        t = v.copy()
        t[1:] |= v[:-1]
        t[:-1] |= v[1:]
        v = t
        if k in need:
            levels[k] = v.ravel()
    base = ys * wp + xs + radius
    hit = np.zeros(len(ys), dtype=bool)
    for i, dx in enumerate(range(-radius, radius + 1)):
        hit |= levels[halves[i]][base + dx]
    return int(np.count_nonzero(hit))


def f_measure(pred: np.ndarray, gt: np.ndarray, radius: int | None = None) -> float:
    """Boundary F-measure of one binary prediction against one binary GT mask.

    Args:
        pred: (H, W) predicted mask (non-zero = object).
        gt: (H, W) GT mask of the same object.
        radius: Matching tolerance in pixels; default ``boundary_radius(gt.shape)``.
    """
    if radius is None:
        radius = boundary_radius(gt.shape)
    return _f_from_maps(boundary_map(pred), boundary_map(gt), radius)


def _f_from_maps(pb: np.ndarray, gb: np.ndarray, radius: int) -> float:
    """F from the predicted and GT boundary maps (same shape)."""
    p_idx = np.flatnonzero(pb)  # flatnonzero is much faster than argwhere on 2-D maps
    g_idx = np.flatnonzero(gb)
    n_fg, n_gt = len(p_idx), len(g_idx)
    if n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    elif n_fg == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        w = pb.shape[1]
        precision = _count_matched(p_idx // w, p_idx % w, gb, radius) / float(n_fg)
        recall = _count_matched(g_idx // w, g_idx % w, pb, radius) / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def j_measure(pred: np.ndarray, gt: np.ndarray) -> float:
    """Region similarity (IoU) of two binary masks; 1 when both are empty."""
    p = np.asarray(pred).astype(bool, copy=False)
    g = np.asarray(gt).astype(bool, copy=False)
    union = int(np.count_nonzero(p | g))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(p & g)) / union


def _crop_span(any_along: np.ndarray, size: int) -> tuple[int, int]:
    """Crop bounds that hold every boundary pixel of a mask occupying ``any_along``.

    Boundary pixels lie at most one pixel above/left of the foreground; one extra empty row/column
    below/right keeps the crop's own last-row/last-column rule from firing inside the image.
    """
    nz = np.flatnonzero(any_along)
    return max(int(nz[0]) - 1, 0), min(int(nz[-1]) + 2, size)


def score_frame(
    gt: np.ndarray, pred: np.ndarray, objects: list[int], radius: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every object in one frame.

    Args:
        gt: (H, W) GT id map (255 = void, treated as background).
        pred: (H, W) predicted id map, same size.
        objects: Object ids to score.
        radius: Boundary tolerance; default from the frame size.

    Returns:
        Two float arrays (J, F) with one value per object, in the order of ``objects``.
    """
    if radius is None:
        radius = boundary_radius(gt.shape)
    j = np.empty(len(objects))
    f = np.empty(len(objects))
    h, w = gt.shape
    for i, k in enumerate(objects):
        g = gt == k
        p = pred == k
        u = g | p
        rows = u.any(axis=1)
        if not rows.any():  # object absent from both: empty union, no boundaries
            j[i] = f[i] = 1.0
            continue
        y0, y1 = _crop_span(rows, h)
        x0, x1 = _crop_span(u[y0:y1].any(axis=0), w)
        gc, pc = g[y0:y1, x0:x1], p[y0:y1, x0:x1]
        j[i] = int(np.count_nonzero(gc & pc)) / int(np.count_nonzero(u[y0:y1, x0:x1]))
        if np.array_equal(gc, pc):  # identical masks: every boundary pixel matches
            f[i] = 1.0
            continue
        f[i] = _f_from_maps(boundary_map(pc), boundary_map(gc), radius)
    return j, f
