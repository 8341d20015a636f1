"""Windowed (radius-limited) context frames: each block of targets against its window in every
frame at once (see :mod:`vosbench.propagation.knn` for the method).

:class:`WindowedFrames` reads the windows of a :class:`~vosbench.propagation.context.Workspace`
chunk by chunk; :func:`windowed_topk` keeps each target's best candidates, :func:`windowed_softmax`
adds every candidate to the softmax sums (no top-k). The chunks run now, or are appended to
``tasks`` for :func:`~vosbench.propagation.scheduling.run_tasks`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from vosbench.propagation.blocks import BlockGroup
from vosbench.propagation.context import ContextFrame, Workspace
from vosbench.propagation.mixing import Candidates, SoftmaxSums, softmax_weights
from vosbench.propagation.scheduling import run_or_defer, scratch, small_tensor


@dataclass(frozen=True)
class Chunk:
    """``cy`` x ``cx`` neighbouring blocks of one group, the first covering target cell (ty0, tx0)."""

    g: BlockGroup
    cy: int
    cx: int
    ty0: int
    tx0: int

    @property
    def nb(self) -> int:
        return self.cy * self.cx

    @property
    def wy0(self) -> int:  # first window row of the first block
        return self.ty0 - self.g.oy

    @property
    def wx0(self) -> int:
        return self.tx0 - self.g.ox


@dataclass(frozen=True)
class WindowedFrames:
    """The windowed context frames of one target, as the block products read them.

    ``q`` is the target's features (h, w, C), ``keys`` the workspace's (C, h, w, slots) of which
    the first ``nf`` slots are in use; ``fcnt`` is each slot's multiplicity and ``slot_frame`` its
    index in the context list.
    """

    q: torch.Tensor
    keys: torch.Tensor
    plan: tuple[BlockGroup, ...]
    block: int
    nf: int
    fcnt: torch.Tensor
    slot_frame: torch.Tensor

    @classmethod
    def of(
        cls,
        q: torch.Tensor,
        context: list[ContextFrame],
        which: list[int],
        ws: Workspace,
        plan: tuple[BlockGroup, ...],
        block: int,
        dt: torch.dtype,
    ) -> WindowedFrames:
        """The frames ``which`` of ``context``, loaded in ``ws``, for the target features ``q``."""
        assert ws.keys is not None
        dev = q.device
        by_slot = sorted(zip(ws.slots, which))  # (slot, context index), every slot 0..nf-1 once
        fcnt = small_tensor([float(context[i].count) for _, i in by_slot], dev, dt)  # multiplicity per slot
        slot_frame = small_tensor([i for _, i in by_slot], dev, torch.long)  # slot -> context index
        return cls(q, ws.keys, plan, block, len(which), fcnt, slot_frame)

    @property
    def gather(self) -> bool:
        """GPU: copy the windows out and run one batched product; CPU: read them in place."""
        return self.q.device.type != "cpu"

    def chunks(self, budget: int) -> Iterator[Chunk]:
        """The chunks of blocks whose scores fit ``budget`` elements, group by group."""
        C = self.q.shape[2]
        for g in self.plan:
            n, nc = g.bh * g.bw, g.wh * g.ww
            per_block = (C + n) * nc * self.nf if self.gather else n * nc * self.nf  # copied windows + scores
            nbx = max(1, min(g.nbx, budget // per_block))
            nby = max(1, min(g.nby, budget // (per_block * nbx)))
            for by0 in range(0, g.nby, nby):
                for bx0 in range(0, g.nbx, nbx):
                    yield Chunk(
                        g,
                        min(nby, g.nby - by0),
                        min(nbx, g.nbx - bx0),
                        g.y0 + by0 * self.block,
                        g.x0 + bx0 * self.block,
                    )

    def scores(self, c: Chunk) -> torch.Tensor:
        """(blocks, window row, target, window col, slot) similarities of a chunk's blocks."""
        g, nf, block, q, keys = c.g, self.nf, self.block, self.q, self.keys
        C = q.shape[2]
        n, nb = g.bh * g.bw, c.nb
        ks, qs = keys.stride(), q.stride()
        # windows as a strided view (blocks, wh, C, ww * slots): one GEMM per window row
        win = keys[..., :nf].as_strided(
            (c.cy, c.cx, g.wh, C, g.ww, nf),
            (block * ks[1], block * ks[2], ks[1], ks[0], ks[2], ks[3]),
            keys.storage_offset() + c.wy0 * ks[1] + c.wx0 * ks[2],
        )
        qb = q.as_strided(
            (c.cy, c.cx, g.bh, g.bw, C),
            (block * qs[0], block * qs[1], qs[0], qs[1], qs[2]),
            q.storage_offset() + c.ty0 * qs[0] + c.tx0 * qs[1],
        ).reshape(nb, 1, n, C)
        if self.gather:  # GPU: copy the windows out and run one batched product
            s = torch.matmul(qb, win.reshape(nb, g.wh, C, g.ww * nf))
        else:  # CPU: each block's product reads its window in place (no copy)
            s = scratch("local", (nb, g.wh, n, g.ww * nf), q.dtype, q.device)
            for b in range(nb):
                torch.matmul(qb[b, 0], win[b // c.cx, b % c.cx].reshape(g.wh, C, g.ww * nf), out=s[b])
        return s.view(nb, g.wh, n, g.ww, nf)

    def origins(self, c: Chunk) -> torch.Tensor:
        """(blocks, 1, 1): flat frame index of each block's window origin."""
        dev, block, w = self.q.device, self.block, self.q.shape[1]
        return (
            (c.wy0 + torch.arange(c.cy, device=dev) * block)[:, None] * w
            + (c.wx0 + torch.arange(c.cx, device=dev) * block)[None, :]
        ).reshape(c.nb, 1, 1)


def windowed_topk(
    frames: WindowedFrames,
    k: int,
    budget: int,
    dt: torch.dtype,
    cands: Candidates,
    tasks: list[Callable[[], None]] | None = None,
) -> None:
    """Each target's best ``k`` candidates among the windowed frames, as a part of ``cands``."""
    h, w, _ = frames.q.shape
    kk = min(k, frames.nf * max(g.wh * g.ww for g in frames.plan))
    parts = tuple(t.view(h, w, -1) for t in cands.new_part(kk))
    for c in frames.chunks(budget):
        run_or_defer(tasks, functools.partial(_topk_chunk, frames, c, kk, dt, parts))


def _topk_chunk(
    frames: WindowedFrames,
    c: Chunk,
    kk: int,
    dt: torch.dtype,
    parts: tuple[torch.Tensor, ...],
) -> None:
    """Rank window cells by their best frame (+ the neighbourhood bias); the k best candidates
    lie in the k best cells (the argument of :func:`~vosbench.propagation.mixing.top_columns`)."""
    g, nf, nb, dev = c.g, frames.nf, c.nb, frames.q.device
    n, nc = g.bh * g.bw, g.wh * g.ww
    s = frames.scores(c)
    origin = frames.origins(c)
    kc = min(kk, nc)
    if frames.gather:
        cm = s.amax(dim=4)
    else:  # on CPU max_pool1d is a much faster max over a short innermost dim than amax
        cm = torch.nn.functional.max_pool1d(s.view(-1, 1, g.ww * nf), nf).view(nb, g.wh, n, g.ww)
    cm = (cm + g.bias).transpose(1, 2).reshape(nb, n, nc)
    ci = torch.topk(cm, kc, dim=2).indices  # (nb, n, kc) window cells
    r, col = ci // g.ww, ci % g.ww
    row = ((torch.arange(nb, device=dev)[:, None, None] * g.wh + r) * n
           + torch.arange(n, device=dev)[None, :, None]) * g.ww + col  # fmt: skip
    val = s.reshape(-1, nf)[row.reshape(-1)].view(nb, n, kc, nf)
    val = val + torch.gather(g.bias_rows.expand(nb, n, nc), 2, ci)[..., None]
    kb = min(kk, kc * nf)
    v, j = torch.topk(val.reshape(nb, n, kc * nf), kb, dim=2)
    cell = origin + g.cells[torch.gather(ci, 2, j // nf)]  # (nb, n, kb) frame cells
    slot = j % nf
    ys = slice(c.ty0, c.ty0 + c.cy * g.bh)
    xs = slice(c.tx0, c.tx0 + c.cx * g.bw)

    def put(dst: torch.Tensor, val: torch.Tensor, fill: float) -> None:
        # (blocks, targets, kb) -> the rows and columns of the frame they cover
        val = val.reshape(c.cy, c.cx, g.bh, g.bw, kb).transpose(1, 2)
        dst[ys, xs, :kb] = val.reshape(c.cy * g.bh, c.cx * g.bw, kb)
        if kb < kk:  # a tiny window offers fewer than k candidates
            dst[ys, xs, kb:] = fill

    pv, pc, pf, pcell = parts
    put(pv, v.to(dt), float("-inf"))
    put(pc, frames.fcnt[slot], 0.0)
    put(pf, frames.slot_frame[slot], 0)
    put(pcell, cell, 0)


def windowed_softmax(frames: WindowedFrames, labels: torch.Tensor, budget: int, dt: torch.dtype, sums: SoftmaxSums) -> None:
    """Every candidate of the windowed frames into the softmax ``sums``; ``labels`` is the
    workspace's (h, w, slots, K)."""
    for c in frames.chunks(budget):
        _softmax_chunk(frames, c, labels, dt, sums)


def _softmax_chunk(frames: WindowedFrames, c: Chunk, labels: torch.Tensor, dt: torch.dtype, sums: SoftmaxSums) -> None:
    g, nf, nb, block, dev = c.g, frames.nf, c.nb, frames.block, frames.q.device
    n, w, K = g.bh * g.bw, frames.q.shape[1], labels.shape[3]
    s = frames.scores(c)
    origin = frames.origins(c)
    s = s.to(dt) + g.bias.to(dt)[None, :, :, :, None]
    ls = labels.stride()
    lw = labels[:, :, :nf].as_strided(
        (c.cy, c.cx, g.wh, g.ww, nf, K),
        (block * ls[0], block * ls[1], ls[0], ls[1], ls[2], ls[3]),
        labels.storage_offset() + c.wy0 * ls[0] + c.wx0 * ls[1],
    ).reshape(nb, g.wh, g.ww * nf, K)
    mx, e = softmax_weights(s, frames.fcnt, sums.inv_t, (1, 3, 4))
    num = torch.matmul(e.view(nb, g.wh, n, g.ww * nf), lw).sum(1)
    den = e.sum(dim=(1, 3, 4))
    tgt = (origin + g.oy * w + g.ox) + (
        torch.arange(g.bh, device=dev)[:, None] * w + torch.arange(g.bw, device=dev)[None, :]
    ).reshape(1, 1, n)
    sums.add(tgt.reshape(-1), mx.reshape(-1), num.reshape(-1, K), den.reshape(-1))
