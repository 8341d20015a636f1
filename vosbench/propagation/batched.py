"""Batched propagation (the GPU path): each frame's matching in a few large kernels.

The windowed path of :mod:`vosbench.propagation.knn` is shaped for CPUs: many small products that
read each block's window in place, run on one worker thread per core. On a GPU the same work is
bound by kernel launches and host-side dispatch (a profile of a 480p frame showed ~1,250 kernels).
This module computes the same result with a handful of large kernels per slice of target rows:

* the key grid of the windowed context frames lives in a store padded by the window's reach on
  every side (zeros, masked out), so every block of ``block`` x ``block`` target cells has a
  window of the same shape, ``(block + 2 * reach)`` cells square;
* the windows of all blocks of a slice are gathered with one index tensor (built once per frame
  size and protocol, cached) and matched against their blocks' targets in one batched product;
* one additive bias tensor (0 / -inf; the neighbourhood shape and the frame border, also cached)
  drops out-of-window candidates, then one ``topk`` over all windows and frames per target (or,
  without top-k, one softmax) gives the candidates;
* unrestricted frames (CRW's first frame) are one dense product plus ``topk`` per slice of rows.

Nothing in a frame waits for the device: no ``.item()``, no data-dependent shapes. The candidates
are the same :class:`~vosbench.propagation.mixing.Candidates` the windowed path produces, so labels
are mixed by the same :func:`~vosbench.propagation.mixing.mix` and protocol sweeps share candidates
on this path too. Similarities, top-k and softmax are computed in float32 whatever the storage
precision of the features (half precision features are upcast after the gather).

Memory is bounded by ``budget_mb`` (default 512 MB of gathered windows and scores per slice),
sliced over consecutive blocks, i.e. rows of target cells: a 480p frame (60 x 107 cells, 256
channels) with 20 windowed context frames needs 28 MB per block, so a slice holds 19 of the frame's
112 blocks (6 slices; all blocks at once would take 3.1 GB).

The path is chosen by :func:`propagation_path`: ``batched`` on CUDA devices, the windowed path on
CPUs (where it is faster); ``VOSBENCH_PROPAGATION=batched|windowed`` or the ``path`` argument of
:func:`~vosbench.propagation.engine.propagate_many` forces one (the tests run this path on CPU).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from vosbench.core.errors import ConfigError
from vosbench.propagation.blocks import window_reach
from vosbench.propagation.context import ContextFrame, Workspace, split_context
from vosbench.propagation.mixing import Candidates, mix, off_frame_part
from vosbench.propagation.scheduling import small_tensor
from vosbench.propagation.protocol import Protocol

#: Environment variable that forces a propagation path (``auto``, ``windowed`` or ``batched``).
PATH_ENV = "VOSBENCH_PROPAGATION"
PATHS = ("auto", "windowed", "batched")


def propagation_path(device: torch.device, requested: str | None = None) -> str:
    """``batched`` or ``windowed``: ``requested`` (else ``$VOSBENCH_PROPAGATION``, else ``auto``);
    ``auto`` is ``batched`` on CUDA devices and ``windowed`` elsewhere."""
    want = requested if requested is not None else (os.environ.get(PATH_ENV, "").strip() or "auto")
    if want not in PATHS:
        raise ConfigError(f"{PATH_ENV}={want!r}: expected one of {', '.join(PATHS)}")
    if want == "auto":
        return "batched" if device.type == "cuda" else "windowed"
    return want


# --- geometry (built once per frame size and protocol) --------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Blocks of target cells and their equally shaped windows in the padded key grid.

    The padded grid has ``Hp`` x ``Wp`` cells: frame cell (y, x) is at (y + reach, x + reach).
    Block (i, j) covers target cells ``i*block ...`` x ``j*block ...`` (those beyond the frame are
    computed and dropped); its window is padded rows ``i*block ... i*block + side`` and columns
    likewise, ``side = block + 2 * reach``.
    """

    h: int
    w: int
    block: int
    reach: int
    nby: int
    nbx: int
    Hp: int
    Wp: int
    side: int
    #: (nby * nbx, side * side): flat padded-grid index of each window cell of each block.
    idx: torch.Tensor
    #: (nby * nbx, block * block, side * side): 0 where the window cell is in the target's
    #: neighbourhood and inside the frame, -inf elsewhere (float32).
    bias: torch.Tensor
    #: (nby * nbx, side * side): flat frame index (y * w + x) of each window cell (0 outside).
    cell: torch.Tensor


@functools.lru_cache(maxsize=16)
def _plan(h: int, w: int, radius: float, window: str, block: int, device: torch.device) -> _Plan:
    reach = window_reach(Protocol(radius=radius, window=window))
    assert reach is not None
    nby, nbx = math.ceil(h / block), math.ceil(w / block)
    side = block + 2 * reach
    Hp, Wp = nby * block + 2 * reach, nbx * block + 2 * reach
    by, bx = np.meshgrid(np.arange(nby), np.arange(nbx), indexing="ij")
    cy, cx = np.mgrid[0:side, 0:side]
    py = by.reshape(-1, 1) * block + cy.reshape(1, -1)  # (blocks, side*side) padded rows
    px = bx.reshape(-1, 1) * block + cx.reshape(1, -1)
    fy, fx = py - reach, px - reach  # frame coordinates of the window cells
    valid = (fy >= 0) & (fy < h) & (fx >= 0) & (fx < w)
    ty, tx = np.mgrid[reach : reach + block, reach : reach + block]  # targets in window coordinates
    dy = cy.reshape(1, -1) - ty.reshape(-1, 1)
    dx = cx.reshape(1, -1) - tx.reshape(-1, 1)
    if window == "circle":  # Euclidean distance strictly below the radius (CRW)
        inside = dy * dy + dx * dx < radius * radius
    else:
        inside = (np.abs(dy) <= radius) & (np.abs(dx) <= radius)
    ok = inside[None, :, :] & valid[:, None, :]  # (blocks, targets, window cells)
    bias = torch.from_numpy(np.where(ok, 0.0, -np.inf).astype(np.float32))
    cell = np.where(valid, fy * w + fx, 0)
    return _Plan(
        h, w, block, reach, nby, nbx, Hp, Wp, side,
        idx=torch.from_numpy(py * Wp + px).to(device),
        bias=bias.to(device),
        cell=torch.from_numpy(cell).to(device),
    )  # fmt: skip


# --- context store ----------------------------------------------------------------------------------


class BatchedWorkspace(Workspace):
    """State reused across the frames of one video on the batched path.

    Windowed context frames are kept in padded stores, one slot per frame: features
    (Hp * Wp, slots, C) in their storage dtype and labels (Hp * Wp, slots, K) in float32, so that a
    block's window in every frame is one gather. Like :class:`~vosbench.propagation.context.Workspace`
    it copies in only the frames that are new since the previous call (recognised by tensor
    identity; the context's tensors must not be modified in place while it holds them).
    """

    def __init__(self) -> None:
        super().__init__()
        self.geom: tuple[object, ...] | None = None
        self.pkeys: torch.Tensor | None = None
        self.plabels: torch.Tensor | None = None
        self.dense_src: tuple[torch.Tensor, ...] = ()
        self.dense_keys: torch.Tensor | None = None

    def load_padded(self, frames: list[ContextFrame], plan: _Plan, capacity: int, labels: bool) -> None:
        """Place ``frames`` in slots ``0 .. len(frames)-1`` of the padded stores."""
        f0 = frames[0]
        C = f0.feats.shape[0]
        K = f0.labels.shape[0]
        nf = len(frames)
        geom = (plan.Hp, plan.Wp, plan.reach, C, K, f0.feats.dtype, f0.feats.device)
        if self.geom != geom or self.pkeys is None or self.pkeys.shape[1] < nf:
            cap = max(capacity, nf)
            dev = f0.feats.device
            # zeros: padding cells are masked by -inf, and a NaN there would survive the mask
            self.pkeys = torch.zeros(plan.Hp * plan.Wp, cap, C, device=dev, dtype=f0.feats.dtype)
            self.plabels = torch.zeros(plan.Hp * plan.Wp, cap, K, device=dev, dtype=torch.float32)
            self.owner_feats = [None] * cap
            self.owner_labels = [None] * cap
            self.geom = geom
        assert self.plabels is not None
        r, h, w = plan.reach, plan.h, plan.w
        grid_k = self.pkeys.view(plan.Hp, plan.Wp, -1, C)[r : r + h, r : r + w]
        grid_l = self.plabels.view(plan.Hp, plan.Wp, -1, K)[r : r + h, r : r + w]
        taken: set[int] = set()
        slot: list[int | None] = []
        for f in frames:  # frames already in an active slot stay there
            j = next((j for j in range(nf) if j not in taken and self.owner_feats[j] is f.feats), None)
            if j is not None:
                taken.add(j)
            slot.append(j)
        free = iter(j for j in range(nf) if j not in taken)
        for i, f in enumerate(frames):
            j = slot[i]
            if j is None:
                j = next(free)
                grid_k[:, :, j] = f.feats.permute(1, 2, 0)
                self.owner_feats[j] = f.feats
                self.owner_labels[j] = None
                slot[i] = j
            if labels and self.owner_labels[j] is not f.labels:
                grid_l[:, :, j] = f.labels.permute(1, 2, 0)
                self.owner_labels[j] = f.labels
        self.slots = [int(j) for j in slot]  # type: ignore[arg-type]

    def dense(self, frames: list[ContextFrame]) -> torch.Tensor:
        """(C, F * hw) float32 keys of the unrestricted frames, kept while they stay the same
        tensors (CRW's first frame: built once per video)."""
        src = tuple(f.feats for f in frames)
        if self.dense_keys is None or len(src) != len(self.dense_src) or any(
            a is not b for a, b in zip(src, self.dense_src)
        ):
            C = frames[0].feats.shape[0]
            self.dense_keys = torch.cat([f.feats.reshape(C, -1).float() for f in frames], dim=1)
            self.dense_src = src
        return self.dense_keys


# --- matching -----------------------------------------------------------------------------------------


def _budget_elems(budget_mb: float | None) -> int:
    return int((512.0 if budget_mb is None else budget_mb) * 2**20) // 4


def _to_frame_order(x: torch.Tensor, plan: _Plan) -> torch.Tensor:
    """(blocks, block*block, ...) in block order -> (h*w, ...) in frame order (row-major),
    dropping the targets beyond the frame's right and bottom edges."""
    b = plan.block
    rest = x.shape[2:]
    x = x.reshape(plan.nby, plan.nbx, b, b, *rest).transpose(1, 2)
    x = x.reshape(plan.nby * b, plan.nbx * b, *rest)[: plan.h, : plan.w]
    return x.reshape(plan.h * plan.w, *rest)


def _query_blocks(q: torch.Tensor, plan: _Plan) -> torch.Tensor:
    """(h, w, C) float32 -> (blocks, block*block, C), the frame padded to whole blocks."""
    h, w, C = q.shape
    b = plan.block
    qp = torch.nn.functional.pad(q, (0, 0, 0, plan.nbx * b - w, 0, plan.nby * b - h))
    qp = qp.view(plan.nby, b, plan.nbx, b, C).transpose(1, 2)
    return qp.reshape(plan.nby * plan.nbx, b * b, C)


def _windows(ws: BatchedWorkspace, plan: _Plan, nf: int, b0: int, b1: int) -> torch.Tensor:
    """(blocks b0..b1, side*side*nf, C) float32 keys of the blocks' windows in every frame."""
    assert ws.pkeys is not None
    g = ws.pkeys[:, :nf][plan.idx[b0:b1]]  # (blocks, side*side, nf, C): one gather
    return g.reshape(b1 - b0, -1, g.shape[-1]).float()


def _slices(plan: _Plan, per_block: int, budget: int) -> list[tuple[int, int]]:
    """Slices of consecutive blocks (in row-major block order, i.e. rows of target cells) whose
    working memory, ``per_block`` elements each, fits ``budget`` elements."""
    nb = plan.nby * plan.nbx
    step = max(1, min(nb, budget // max(1, per_block)))
    return [(b0, min(nb, b0 + step)) for b0 in range(0, nb, step)]


def candidates(
    query: torch.Tensor,
    context: list[ContextFrame],
    protocol: Protocol,
    k: int,
    block: int = 8,
    workspace: Workspace | None = None,
    budget_mb: float | None = None,
) -> Candidates:
    """The best ``k`` candidates of each target cell, as :func:`vosbench.propagation.knn.candidates`
    (same arguments and result) computed in batched kernels. ``workspace`` is reused only when it
    is a :class:`BatchedWorkspace`."""
    C, h, w = query.shape
    hw = h * w
    dev = query.device
    budget = _budget_elems(budget_mb)
    dense, local = split_context(context, protocol)
    cands = Candidates(hw, dev, torch.float32)
    q = query.permute(1, 2, 0).float()  # (h, w, C)
    ws = workspace if isinstance(workspace, BatchedWorkspace) else BatchedWorkspace()
    if dense:
        keys = ws.dense([context[i] for i in dense])
        m = keys.shape[1]
        kk = min(k, m)
        pv, pc, pf, pcell = cands.new_part(kk)
        counts = torch.cat([torch.full((hw,), float(context[i].count), device=dev) for i in dense])
        frame_of = small_tensor(dense, dev, torch.long).repeat_interleave(hw)
        qf = q.reshape(hw, C)
        step = max(1, min(hw, budget // m))
        for r0 in range(0, hw, step):
            r1 = min(hw, r0 + step)
            v, i = torch.topk(qf[r0:r1] @ keys, kk, dim=1)
            pv[r0:r1] = v
            pc[r0:r1] = counts[i]
            pf[r0:r1] = frame_of[i]
            pcell[r0:r1] = i % hw
    if local:
        plan = _plan(h, w, float(protocol.radius), protocol.window, block, dev)  # type: ignore[arg-type]
        ws.load_padded([context[i] for i in local], plan, protocol.context, labels=False)
        nf = len(local)
        by_slot = sorted(zip(ws.slots, local))
        fcnt = small_tensor([float(context[i].count) for _, i in by_slot], dev, torch.float32)
        slot_frame = small_tensor([i for _, i in by_slot], dev, torch.long)
        win = plan.side * plan.side
        kk = min(k, win * nf)
        qb = _query_blocks(q, plan)
        nb, n = qb.shape[0], block * block
        val = torch.empty(nb, n, kk, device=dev)  # in block order
        pos = torch.empty(nb, n, kk, device=dev, dtype=torch.long)
        # gathered windows (+ their float32 copy for half precision), scores, top-k's work space
        per_block = win * nf * (C * (1 + (query.element_size() < 4)) + 2 * n)
        for b0, b1 in _slices(plan, per_block, budget):
            s = torch.bmm(qb[b0:b1], _windows(ws, plan, nf, b0, b1).transpose(1, 2))  # (blocks, n, win*nf)
            s = s.view(b1 - b0, n, win, nf).add_(plan.bias[b0:b1, :, :, None])
            torch.topk(s.view(b1 - b0, n, win * nf), kk, dim=2, out=(val[b0:b1], pos[b0:b1]))
        cell = torch.gather(plan.cell[:, None, :].expand(-1, n, -1), 2, pos // nf)
        slot = pos % nf
        pv, pc, pf, pcell = cands.new_part(kk)
        pv.copy_(_to_frame_order(val, plan))
        pc.copy_(_to_frame_order(fcnt[slot], plan))
        pf.copy_(_to_frame_order(slot_frame[slot], plan))
        pcell.copy_(_to_frame_order(cell, plan))
    return cands


def predict(
    query: torch.Tensor,
    context: list[ContextFrame],
    protocol: Protocol,
    block: int = 8,
    workspace: Workspace | None = None,
    budget_mb: float | None = None,
) -> torch.Tensor:
    """Propagate labels from ``context`` to the cells of ``query``: the batched equivalent of
    :func:`vosbench.propagation.knn.predict` (same arguments; result (K, h, w) float32)."""
    C, h, w = query.shape
    hw = h * w
    k = protocol.topk
    if k is not None and k < hw * sum(f.count for f in context):
        cands = candidates(query, context, protocol, k, block, workspace, budget_mb)
        return mix(cands, [f.labels for f in context], k, protocol.temperature)
    # softmax over every candidate (no top-k, e.g. CorrFlow): each part's (max, weighted label
    # sum, weight sum) per target, merged as log-sum-exp (no indexed writes: whole-tensor ops)
    dev = query.device
    K = context[0].labels.shape[0]
    budget = _budget_elems(budget_mb)
    inv_t = 1.0 / protocol.temperature
    dense, local = split_context(context, protocol)
    q = query.permute(1, 2, 0).float()
    ws = workspace if isinstance(workspace, BatchedWorkspace) else BatchedWorkspace()
    parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    if dense:
        keys = ws.dense([context[i] for i in dense])
        m = keys.shape[1]
        counts = torch.cat([torch.full((hw,), float(context[i].count), device=dev) for i in dense])
        labels = torch.cat([context[i].labels.reshape(K, hw).t() for i in dense], dim=0).float()
        mx_d = torch.empty(hw, device=dev)
        num_d = torch.empty(hw, K, device=dev)
        den_d = torch.empty(hw, device=dev)
        qf = q.reshape(hw, C)
        step = max(1, min(hw, budget // m))
        for r0 in range(0, hw, step):
            r1 = min(hw, r0 + step)
            s = qf[r0:r1] @ keys
            mx = s.amax(dim=1, keepdim=True)
            e = s.sub_(mx).mul_(inv_t).exp_().mul_(counts)
            mx_d[r0:r1] = mx[:, 0]
            torch.matmul(e, labels, out=num_d[r0:r1])
            torch.sum(e, dim=1, out=den_d[r0:r1])
        parts.append((mx_d, num_d, den_d))
    if local:
        plan = _plan(h, w, float(protocol.radius), protocol.window, block, dev)  # type: ignore[arg-type]
        ws.load_padded([context[i] for i in local], plan, protocol.context, labels=True)
        assert ws.plabels is not None
        nf = len(local)
        by_slot = sorted(zip(ws.slots, local))
        fcnt = small_tensor([float(context[i].count) for _, i in by_slot], dev, torch.float32)
        win = plan.side * plan.side
        qb = _query_blocks(q, plan)
        nb, n = qb.shape[0], block * block
        mxs = torch.empty(nb, n, device=dev)  # in block order
        nums = torch.empty(nb, n, K, device=dev)
        dens = torch.empty(nb, n, device=dev)
        per_block = win * nf * (C * (1 + (query.element_size() < 4)) + n + K)
        for b0, b1 in _slices(plan, per_block, budget):
            s = torch.bmm(qb[b0:b1], _windows(ws, plan, nf, b0, b1).transpose(1, 2))
            s = s.view(b1 - b0, n, win, nf).add_(plan.bias[b0:b1, :, :, None])
            # finite for targets in the frame (a target's own cell is in its window); blocks'
            # targets beyond the frame may get NaN here, and are dropped below
            mx = s.amax(dim=(2, 3), keepdim=True)
            e = s.sub_(mx).mul_(inv_t).exp_().mul_(fcnt).view(b1 - b0, n, win * nf)
            lab = ws.plabels[:, :nf][plan.idx[b0:b1]].reshape(b1 - b0, win * nf, K)
            torch.bmm(e, lab, out=nums[b0:b1])
            torch.sum(e, dim=2, out=dens[b0:b1])
            mxs[b0:b1] = mx.view(b1 - b0, n)
        parts.append((_to_frame_order(mxs, plan), _to_frame_order(nums, plan), _to_frame_order(dens, plan)))
        if protocol.border == "zeros":
            copies = float(sum(context[i].count for i in local))
            parts.append(off_frame_part(h, w, float(protocol.radius), copies, K, dev, torch.float32))  # type: ignore[arg-type]
    num, den = _merge_parts(parts, inv_t)
    return (num / den[:, None]).t().reshape(K, h, w)


def _merge_parts(
    parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], inv_t: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge per-part (max, weighted label sum, weight sum) of each target as log-sum-exp: the
    label sums and weight sums of one softmax over every part's candidates."""
    mx, num, den = parts[0]
    for m2, n2, d2 in parts[1:]:
        m1, n1, d1 = mx, num, den
        mx = torch.maximum(m1, m2)
        safe = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
        a, b = torch.exp((m1 - safe) * inv_t), torch.exp((m2 - safe) * inv_t)
        num = n1 * a[:, None] + n2 * b[:, None]
        den = d1 * a + d2 * b
    return num, den
