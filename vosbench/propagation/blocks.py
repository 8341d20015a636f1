"""The block plan of windowed matching: square blocks of target cells and the windows they read.

Radius-limited context frames are matched block by block (:mod:`vosbench.propagation.knn`): the
target cells of a small square block are compared only with the window that covers the block.
Blocks whose windows have the same shape form a :class:`BlockGroup`, handled by one strided view.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from vosbench.propagation.protocol import Protocol


def window_reach(protocol: Protocol) -> int | None:
    """Largest |dy| (and |dx|) a candidate may be from its target, in cells (``None`` = any)."""
    r = protocol.radius
    if r is None:
        return None
    if protocol.window == "circle":  # Euclidean distance strictly below r
        return max(0, math.ceil(r) - 1)
    return int(math.floor(r))  # square: |dy|, |dx| <= r


@dataclass(frozen=True)
class BlockGroup:
    """A rectangular grid of equally shaped blocks of target cells with equally shaped windows.

    Block (i, j) covers target rows ``y0 + i*block ...`` (``bh`` of them) and columns
    ``x0 + j*block ...`` (``bw``); its window starts ``oy`` rows above and ``ox`` columns left of
    the block and spans ``wh`` x ``ww`` cells (clipped to the frame).
    """

    y0: int
    x0: int
    nby: int
    nbx: int
    bh: int
    bw: int
    oy: int
    ox: int
    wh: int
    ww: int
    #: (wh, bh*bw, ww): 0 where the window cell is in the target's neighbourhood, -inf elsewhere
    #: (laid out like the block product's output).
    bias: torch.Tensor
    #: (bh*bw, wh*ww): the same, one row per target.
    bias_rows: torch.Tensor
    #: (wh*ww,): flat frame offset of each window cell from the window's origin.
    cells: torch.Tensor


def _runs(n: int, block: int, reach: int) -> list[tuple[int, int, int, int, int]]:
    """Consecutive blocks along one axis with equal geometry: (start, count, size, offset, window)."""
    runs: list[tuple[int, int, int, int, int]] = []
    for s0 in range(0, n, block):
        s1 = min(n, s0 + block)
        w0, w1 = max(0, s0 - reach), min(n, s1 + reach)
        geom = (s1 - s0, s0 - w0, w1 - w0)
        if runs and runs[-1][2:] == geom:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1, *geom)
        else:
            runs.append((s0, 1, *geom))
    return runs


@functools.lru_cache(maxsize=16)
def block_plan(
    h: int, w: int, radius: float, window: str, block: int, device: torch.device, dtype: torch.dtype
) -> tuple[BlockGroup, ...]:
    """Tile the (h, w) grid with square blocks; group blocks whose windows have the same shape.

    Depends only on the geometry, so it is built once per frame size and protocol and cached.
    """
    reach = window_reach(Protocol(radius=radius, window=window))
    assert reach is not None
    groups = []
    for y0, nby, bh, oy, wh in _runs(h, block, reach):
        for x0, nbx, bw, ox, ww in _runs(w, block, reach):
            ty, tx = np.mgrid[oy : oy + bh, ox : ox + bw]  # targets in window coordinates
            cy, cx = np.mgrid[0:wh, 0:ww]
            dy = cy.reshape(-1)[None, :] - ty.reshape(-1)[:, None]
            dx = cx.reshape(-1)[None, :] - tx.reshape(-1)[:, None]
            if window == "circle":  # Euclidean distance strictly below the radius (CRW)
                inside = dy * dy + dx * dx < radius * radius
            else:
                inside = (np.abs(dy) <= radius) & (np.abs(dx) <= radius)
            rows = torch.from_numpy(np.where(inside, 0.0, -np.inf).astype(np.float32))
            bias = rows.reshape(bh * bw, wh, ww).permute(1, 0, 2).contiguous()
            cells = torch.from_numpy((cy * w + cx).reshape(-1))
            groups.append(
                BlockGroup(
                    y0, x0, nby, nbx, bh, bw, oy, ox, wh, ww,
                    bias=bias.to(device, dtype),
                    bias_rows=rows.to(device, dtype),
                    cells=cells.to(device),
                )
            )  # fmt: skip
    return tuple(groups)
