"""k-NN label propagation in feature space (the engine's core).

For a target frame, every context frame offers candidates: its feature cells, each with a label
vector. A target cell scores each candidate by cosine similarity (or raw dot product), keeps only
candidates inside its spatial window on radius-limited frames, keeps the top-k over all context
frames jointly, and takes the softmax-weighted (temperature) mean of their labels.

The naive way (CRW ``test.py``) computes the full (hw x T*hw) affinity and masks it afterwards.
Here radius-limited frames are matched block by block: the target cells of a small square block
are compared only with the window that covers the block, in all windowed context frames at once
(one matrix product per block; on CPU it reads the window in place through a strided view of
the context, on GPU many blocks' windows are copied out and batched), and out-of-window entries
are dropped before the top-k. Unrestricted frames (CRW's first frame) are
one dense product per slice of target rows. The result equals the naive computation up to float
ties in the top-k. Nothing of size (hw x hw) beyond one slice of an unrestricted frame's rows is
ever built, so memory does not grow with the number of context frames or the video length.

The top-k is found in two steps that give exactly the values of a full ``torch.topk`` but touch
only a small part of the scores: the best candidate per window cell (max over the context
frames) ranks the cells, and the k best cells hold the k best candidates (any candidate outside
them is beaten by the maxima of k cells). Scores are ranked unscaled (dividing by a positive
temperature keeps the order); only the selected values go through the softmax.

Duplicated context frames (CRW pads the context with copies of frame 0 while fewer than
``context`` frames precede the target) are kept once with a multiplicity: a candidate that
appears m times occupies m places in the top-k and m times the weight, exactly as the copies do.

Everything is device-agnostic torch: on a GPU the whole computation stays on the device. Half
precision features (bf16/fp16) are stored in half precision and matched in float32: products in
half precision round each similarity to 8 (bf16) or 11 (fp16) bits, which at temperature 0.05
reorders top-k candidates and reweights the softmax visibly. On a multi-core CPU the independent
pieces of a frame (slices of rows, chunks of blocks) run on one worker thread per core (see
:func:`vosbench.propagation.scheduling.run_tasks`).

The parts live in their own modules: the block plan (:mod:`~vosbench.propagation.blocks`), the
context and its workspace (:mod:`~vosbench.propagation.context`), the windowed products
(:mod:`~vosbench.propagation.windowed`), candidate lists and mixing
(:mod:`~vosbench.propagation.mixing`) and the CPU scheduling (:mod:`~vosbench.propagation.scheduling`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from vosbench.propagation.blocks import block_plan, window_reach
from vosbench.propagation.context import ContextBuffer, ContextFrame, Workspace, split_context
from vosbench.propagation.mixing import Candidates, SoftmaxSums, mix, off_frame_part, softmax_weights, top_columns
from vosbench.propagation.protocol import Protocol
from vosbench.propagation.scheduling import run_or_defer, run_tasks, scratch, small_tensor
from vosbench.propagation.windowed import WindowedFrames, windowed_softmax, windowed_topk

#: the names the engine, the batched path, benchmarks and tests use, from the modules that hold them
__all__ = [
    "Candidates",
    "ContextBuffer",
    "ContextFrame",
    "Workspace",
    "candidates",
    "label_dtype",
    "mix",
    "predict",
    "window_reach",
]


def label_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype features of ``dtype`` are matched and labels mixed in (half precision: float32)."""
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _budget(query: torch.Tensor, budget_mb: float | None) -> int:
    if budget_mb is None:  # CPU: small enough for the allocator to recycle; GPU: batch blocks
        budget_mb = 24.0 if query.device.type == "cpu" else 512.0
    return int(budget_mb * 2**20) // query.element_size()  # in elements


def _windowed(
    q: torch.Tensor,
    context: list[ContextFrame],
    local: list[int],
    protocol: Protocol,
    block: int,
    workspace: Workspace | None,
    labels: bool,
) -> tuple[WindowedFrames, Workspace]:
    """The windowed frames ``local`` of ``context`` loaded in ``workspace`` (a fresh one if ``None``)."""
    h, w, _ = q.shape
    ws = workspace if workspace is not None else Workspace()
    ws.load([context[i] for i in local], protocol.context, q.dtype, labels=labels)
    plan = block_plan(h, w, float(protocol.radius), protocol.window, block, q.device, q.dtype)  # type: ignore[arg-type]
    return WindowedFrames.of(q, context, local, ws, plan, block, q.dtype), ws


def candidates(
    query: torch.Tensor,
    context: list[ContextFrame],
    protocol: Protocol,
    k: int,
    block: int = 8,
    workspace: Workspace | None = None,
    budget_mb: float | None = None,
) -> Candidates:
    """The best ``k`` candidates of each target cell of ``query`` (labels are not used).

    ``protocol`` supplies the radius and window shape; top-k and temperature are applied by
    :func:`mix`. Arguments as for :func:`predict`.
    """
    C, h, w = query.shape
    hw = h * w
    dt = label_dtype(query.dtype)  # half precision features are matched in float32
    dense, local = split_context(context, protocol)
    cands = Candidates(hw, query.device, dt)
    q = query.permute(1, 2, 0).to(dt).contiguous()  # (h, w, C): the rows of a block are contiguous
    budget = _budget(q, budget_mb)
    tasks: list[Callable[[], None]] = []
    if dense:
        _dense_topk(q.view(hw, C), context, dense, k, budget, dt, cands, tasks)
    if local:
        frames, _ = _windowed(q, context, local, protocol, block, workspace, labels=False)
        windowed_topk(frames, k, budget, dt, cands, tasks)
    run_tasks(tasks, query.device)
    return cands


def predict(
    query: torch.Tensor,
    context: list[ContextFrame],
    protocol: Protocol,
    block: int = 8,
    workspace: Workspace | None = None,
    budget_mb: float | None = None,
) -> torch.Tensor:
    """Propagate labels from ``context`` to the cells of ``query``.

    Args:
        query: (C, h, w) features of the target frame (normalised like the context's). Half
            precision features are matched (products, top-k, softmax) and mixed in float32.
        context: Context frames (same h, w). ``restricted`` frames are limited to the protocol's
            window around each target cell; others are matched everywhere.
        protocol: Supplies radius, window shape, top-k and temperature.
        block: Side of the square blocks of target cells that share one windowed product.
        workspace: Reused across the frames of a video (see :class:`Workspace`); ``None``: a
            fresh one for this call.
        budget_mb: Size of the score buffers of one product, in MB (default: 24 on CPU, small
            enough for the allocator to recycle them; 512 on GPUs, where several blocks are
            batched into one product).

    Returns:
        (K, h, w) propagated label vectors (convex combinations of context labels), float32
        (float64 for float64 features).
    """
    C, h, w = query.shape
    hw = h * w
    k = protocol.topk
    if k is not None and k < hw * sum(f.count for f in context):
        cands = candidates(query, context, protocol, k, block, workspace, budget_mb)
        return mix(cands, [f.labels for f in context], k, protocol.temperature)
    # every candidate counts (no top-k, or k beyond the number of candidates): softmax over all
    K = context[0].labels.shape[0]
    dt = label_dtype(query.dtype)
    dense, local = split_context(context, protocol)
    sums = SoftmaxSums(hw, K, 1.0 / protocol.temperature, query.device, dt)
    q = query.permute(1, 2, 0).to(dt).contiguous()
    budget = _budget(q, budget_mb)
    if dense:
        _dense_softmax(q.view(hw, C), context, dense, budget, dt, sums)
    if local:
        frames, ws = _windowed(q, context, local, protocol, block, workspace, labels=True)
        assert ws.labels is not None
        windowed_softmax(frames, ws.labels, budget, dt, sums)
        if protocol.border == "zeros":
            copies = float(sum(context[i].count for i in local))
            radius = float(protocol.radius)  # type: ignore[arg-type]
            sums.add(torch.arange(hw, device=query.device), *off_frame_part(h, w, radius, copies, K, query.device, dt))
    return sums.result().t().reshape(K, h, w)


def _dense_keys(
    q: torch.Tensor, context: list[ContextFrame], which: list[int], dt: torch.dtype
) -> tuple[list[ContextFrame], torch.Tensor, torch.Tensor]:
    """Unrestricted frames side by side: the frames, keys (C, Fd*hw) and each column's multiplicity."""
    hw, C = q.shape
    frames = [context[i] for i in which]
    if len(frames) == 1:
        keys = frames[0].feats.reshape(C, hw).to(dt)
    else:
        keys = torch.cat([f.feats.reshape(C, hw).to(dt) for f in frames], dim=1)  # (C, Fd*hw)
    counts = torch.cat([torch.full((hw,), float(f.count), device=q.device, dtype=dt) for f in frames])
    return frames, keys, counts


def _dense_topk(
    q: torch.Tensor,
    context: list[ContextFrame],
    which: list[int],
    k: int,
    budget: int,
    dt: torch.dtype,
    cands: Candidates,
    tasks: list[Callable[[], None]] | None = None,
) -> None:
    """Unrestricted frames: every target against every cell, in slices of target rows (run now,
    or appended to ``tasks``); each target's best ``k`` candidates as a part of ``cands``."""
    hw, _ = q.shape
    dev = q.device
    _, keys, counts = _dense_keys(q, context, which, dt)
    frame_of = small_tensor(which, dev, torch.long).repeat_interleave(hw)  # column -> context index
    m = keys.shape[1]
    step = max(1, min(hw, budget // m))
    kk = min(k, m)
    pv, pc, pf, pcell = cands.new_part(kk)

    def rows(r0: int, r1: int) -> None:
        s = torch.matmul(q[r0:r1], keys, out=scratch("dense", (r1 - r0, m), q.dtype, dev))  # (rows, Fd*hw)
        v, i = top_columns(s, kk)
        pv[r0:r1] = v
        pc[r0:r1] = counts[i]
        pf[r0:r1] = frame_of[i]
        pcell[r0:r1] = i % hw

    for r0 in range(0, hw, step):
        run_or_defer(tasks, functools.partial(rows, r0, min(hw, r0 + step)))


def _dense_softmax(
    q: torch.Tensor, context: list[ContextFrame], which: list[int], budget: int, dt: torch.dtype, sums: SoftmaxSums
) -> None:
    """Unrestricted frames: every target against every cell, in slices of target rows, into the
    softmax ``sums``."""
    hw, _ = q.shape
    dev = q.device
    frames, keys, counts = _dense_keys(q, context, which, dt)
    K = sums.num.shape[1]
    m = keys.shape[1]
    step = max(1, min(hw, budget // m))
    labels = torch.cat([f.labels.reshape(K, hw).t() for f in frames], dim=0).to(dt)
    for r0 in range(0, hw, step):
        r1 = min(hw, r0 + step)
        s = torch.matmul(q[r0:r1], keys, out=scratch("dense", (r1 - r0, m), q.dtype, dev))  # (rows, Fd*hw)
        mx, e = softmax_weights(s.to(dt), counts, sums.inv_t, (1,))
        sums.add(torch.arange(r0, r1, device=dev), mx[:, 0], e @ labels, e.sum(dim=1))
