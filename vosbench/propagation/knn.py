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
reorders top-k candidates and reweights the softmax visibly. On a multi-core CPU the independent pieces of a frame (slices of rows, chunks of blocks) run on one
worker thread per core (see :func:`_run_tasks`).
"""

from __future__ import annotations

import functools
import math
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from vosbench.propagation.protocol import Protocol


@dataclass
class ContextFrame:
    """A context frame: L2-normalised (or raw) features (C, h, w) and labels (K, h, w)."""

    feats: torch.Tensor
    labels: torch.Tensor
    count: int = 1
    restricted: bool = True


def window_reach(protocol: Protocol) -> int | None:
    """Largest |dy| (and |dx|) a candidate may be from its target, in cells (``None`` = any)."""
    r = protocol.radius
    if r is None:
        return None
    if protocol.window == "circle":  # Euclidean distance strictly below r
        return max(0, math.ceil(r) - 1)
    return int(math.floor(r))  # square: |dy|, |dx| <= r


# --- block plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
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
def _block_plan(
    h: int, w: int, radius: float, window: str, block: int, device: torch.device, dtype: torch.dtype
) -> tuple[_Group, ...]:
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
                _Group(
                    y0, x0, nby, nbx, bh, bw, oy, ox, wh, ww,
                    bias=bias.to(device, dtype),
                    bias_rows=rows.to(device, dtype),
                    cells=cells.to(device),
                )
            )  # fmt: skip
    return tuple(groups)


# --- context layout --------------------------------------------------------------------------------


class Workspace:
    """State that :func:`predict` reuses across the frames of one video.

    Keeps the windowed (restricted) context frames in the layout the block products read, slots
    last: features (C, h, w, slots) and labels (h, w, slots, K), and copies in only the frames
    that are new since the previous call (one per frame once the context is full) instead of
    restacking the whole context. Frames are recognised by tensor identity, so the context's
    tensors must not be modified in place while a workspace holds them (ContextBuffer never
    does). Memory: one context's worth of features and labels, whatever the video length.
    """

    def __init__(self) -> None:
        self.keys: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.owner_feats: list[torch.Tensor | None] = []
        self.owner_labels: list[torch.Tensor | None] = []
        self.slots: list[int] = []

    def clear(self) -> None:
        """Drop everything (e.g. between videos, to release memory early)."""
        self.__init__()  # type: ignore[misc]

    def load(self, frames: list[ContextFrame], capacity: int, dtype: torch.dtype, labels: bool = True) -> None:
        """Place ``frames`` in slots ``0 .. len(frames)-1`` (the order of slots does not matter);
        their labels too when ``labels`` (only the softmax-over-all path reads them here)."""
        f0 = frames[0]
        C, h, w = f0.feats.shape
        K = f0.labels.shape[0]
        nf = len(frames)
        if (
            self.keys is None
            or self.labels is None
            or self.keys.shape[:3] != (C, h, w)
            or self.keys.shape[3] < nf
            or self.keys.dtype != dtype
            or self.keys.device != f0.feats.device
            or self.labels.shape[3] != K
            or self.labels.dtype != dtype
        ):
            cap = max(capacity, nf)
            self.keys = torch.empty(C, h, w, cap, device=f0.feats.device, dtype=dtype)  # matched in dtype
            self.labels = torch.empty(h, w, cap, K, device=f0.feats.device, dtype=dtype)
            self.owner_feats = [None] * cap
            self.owner_labels = [None] * cap
        taken: set[int] = set()
        slot: list[int | None] = []
        for f in frames:  # frames already in an active slot stay there
            j = next(
                (j for j in range(nf) if j not in taken and self.owner_feats[j] is f.feats),
                None,
            )
            if j is not None:
                taken.add(j)
            slot.append(j)
        free = iter(j for j in range(nf) if j not in taken)
        for i, f in enumerate(frames):
            if slot[i] is None:
                j = next(free)
                self.keys[..., j] = f.feats
                self.owner_feats[j] = f.feats
                self.owner_labels[j] = None
                slot[i] = j
            j = slot[i]
            assert j is not None
            if labels and self.owner_labels[j] is not f.labels:
                self.labels[:, :, j] = f.labels.permute(1, 2, 0)
                self.owner_labels[j] = f.labels
        self.slots = [int(j) for j in slot]  # type: ignore[arg-type]


# --- candidate accumulation ------------------------------------------------------------------------


class Candidates:
    """Each target cell's best candidates, before labels are attached.

    :meth:`merged` gives four (n, P) tensors, one row per target cell (n = h*w):
    ``vals``, the raw similarity (not divided by the temperature; ``-inf`` pads short lists);
    ``counts``, the candidate's multiplicity (CRW's padded copies of frame 0); ``frame``, the
    index of its frame in the context list; ``cell``, its flat cell index (y * w + x).

    Each part of the context (unrestricted frames; windowed frames) contributes its own best
    ``k`` distinct candidates per target. A candidate with multiplicity >= 1 takes at least one
    of the k places, so the overall top-k' for any k' <= k is always among them: one candidate
    list serves every top-k and temperature (what protocol sweeps share between grid points).
    """

    def __init__(self, n: int, dev: torch.device, dt: torch.dtype):
        self.n, self.dev, self.dt = n, dev, dt
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def new_part(self, kk: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Buffers (n, kk): values, multiplicities, frame indices, cell indices."""
        part = (
            torch.empty(self.n, kk, device=self.dev, dtype=self.dt),
            torch.empty(self.n, kk, device=self.dev, dtype=self.dt),
            torch.empty(self.n, kk, device=self.dev, dtype=torch.long),
            torch.empty(self.n, kk, device=self.dev, dtype=torch.long),
        )
        self.parts.append(part)
        return part

    def merged(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(vals, counts, frame, cell) of all parts side by side."""
        if len(self.parts) == 1:
            return self.parts[0]
        return tuple(torch.cat(x, dim=1) for x in zip(*self.parts))  # type: ignore[return-value]


def mix(cands: Candidates, labels: list[torch.Tensor], topk: int, temperature: float) -> torch.Tensor:
    """Softmax-weighted mean of the labels of each target's ``topk`` best candidates.

    Args:
        cands: From :func:`candidates` with a ``k`` of at least ``topk``.
        labels: The labels (K, h, w) of each context frame, in the context list's order.
        topk: Number of places (a candidate of multiplicity m takes m of them).
        temperature: Softmax temperature on the similarities.

    Returns:
        (K, h, w) label mix.
    """
    vals, counts, frame, cell = cands.merged()
    K, h, w = labels[0].shape
    table = torch.stack([lab.reshape(K, h * w) for lab in labels]).to(cands.dt)  # (F, K, hw)
    table = table.transpose(1, 2).reshape(-1, K)  # row = frame * hw + cell
    vals, pos = torch.topk(vals, min(topk, vals.shape[1]), dim=1)  # sorted, descending
    c = torch.gather(counts, 1, pos)
    before = torch.cumsum(c, dim=1) - c  # places already taken by better candidates
    take = torch.minimum((topk - before).clamp(min=0), c)
    wgt = torch.exp((vals - vals[:, :1]) / temperature) * take
    wgt = wgt / wgt.sum(dim=1, keepdim=True)
    rows = torch.gather(frame, 1, pos) * (h * w) + torch.gather(cell, 1, pos)
    out = torch.einsum("nk,nkc->nc", wgt, table[rows])
    return out.t().reshape(K, h, w)


class _SoftmaxSums:
    """Softmax over all candidates (no top-k), merged part by part as running log-sum-exp sums."""

    def __init__(self, n: int, n_labels: int, inv_t: float, dev: torch.device, dt: torch.dtype):
        self.inv_t = inv_t
        self.m = torch.full((n,), float("-inf"), device=dev, dtype=dt)
        self.num = torch.zeros(n, n_labels, device=dev, dtype=dt)
        self.den = torch.zeros(n, device=dev, dtype=dt)

    def add(self, rows: torch.Tensor, m: torch.Tensor, num: torch.Tensor, den: torch.Tensor) -> None:
        """Merge a part's (max, weighted label sum, weight sum) for the targets ``rows``."""
        old = self.m[rows]
        new = torch.maximum(old, m)
        safe = torch.where(torch.isfinite(new), new, torch.zeros_like(new))
        a = torch.exp((old - safe) * self.inv_t)
        b = torch.exp((m - safe) * self.inv_t)
        self.num[rows] = self.num[rows] * a[:, None] + num * b[:, None]
        self.den[rows] = self.den[rows] * a + den * b
        self.m[rows] = new

    def result(self) -> torch.Tensor:
        return self.num / self.den[:, None]


def _softmax_weights(
    s: torch.Tensor, counts: torch.Tensor, inv_t: float, dims: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Max of scores ``s`` over ``dims`` and the weights exp((s - max) / T) * ``counts``."""
    m = torch.amax(s, dim=dims, keepdim=True)
    safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return m, torch.exp((s - safe) * inv_t) * counts


def _top_columns(s: torch.Tensor, k: int, groups: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.topk(s, k, dim=1)`` values and indices for the rows of ``s`` (n, m), ranked cheaply.

    The columns are dealt into ``m // groups`` chunks of ``groups`` columns each (column c goes to
    chunk c mod (m // groups), so a chunk's maximum is a reduction over rows of a contiguous
    view). The k largest values of a row lie in the k chunks with the largest maxima (a value
    outside them is beaten by k chunk maxima), so only the chunk maxima and the members of k
    chunks (plus a ragged tail) are ranked.
    """
    n, m = s.shape
    nch = m // groups
    if nch <= 4 * k:
        return torch.topk(s, min(k, m), dim=1)
    full = nch * groups
    top = torch.topk(s[:, :full].view(n, groups, nch).amax(dim=1), k, dim=1).indices  # (n, k)
    cols = (top[:, :, None] + torch.arange(groups, device=s.device) * nch).reshape(n, k * groups)
    if full < m:
        cols = torch.cat([cols, torch.arange(full, m, device=s.device).expand(n, m - full)], dim=1)
    v, j = torch.topk(torch.gather(s, 1, cols), k, dim=1)
    return v, torch.gather(cols, 1, j)


# --- CPU scheduling ------------------------------------------------------------------------------

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A reusable per-thread CPU buffer for a large temporary (the scores of a product).

    Reusing it instead of allocating megabytes per block keeps the C allocator from fragmenting
    its per-thread heaps, which otherwise made peak memory drift with the length of a run. GPU
    tensors come from torch's caching allocator instead.
    """
    numel = math.prod(shape)
    if device.type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device)
    bufs = _SCRATCH.__dict__.setdefault("bufs", {})
    buf = bufs.get((name, dtype))
    if buf is None or buf.numel() < numel:
        buf = torch.empty(numel, dtype=dtype)
        bufs[(name, dtype)] = buf
    return buf[:numel].view(shape)


def _run_or_defer(tasks: list[Callable[[], None]] | None, task: Callable[[], None]) -> None:
    if tasks is None:
        task()
    else:
        tasks.append(task)


def _run_tasks(tasks: list[Callable[[], None]], device: torch.device) -> None:
    """Run independent pieces of work (they write disjoint rows of the result).

    On a multi-core CPU the pieces are shared out to one worker thread per core, each running
    its torch operations single-threaded. The many small operations of a frame then do not each
    wait at a parallel-region barrier for every core, which on a busy machine (cores shared with
    other processes) made them several times slower than the same work on one core.
    """
    global _POOL
    n = torch.get_num_threads()
    if device.type != "cpu" or n <= 1 or len(tasks) <= 1 or not _POOL_LOCK.acquire(blocking=False):
        for task in tasks:  # GPU (one stream), one core, or another caller owns the workers
            task()
        return
    try:
        if _POOL is None or _POOL._max_workers != n:
            _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="vosbench-propagate")
        torch.set_num_threads(1)
        try:
            for f in [_POOL.submit(task) for task in tasks]:
                f.result()
        finally:
            torch.set_num_threads(n)
    finally:
        _POOL_LOCK.release()


# --- prediction ----------------------------------------------------------------------------------


def _small(values: list[int] | list[float], dev: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A small tensor of Python values on ``dev``. On a GPU it goes through pinned memory with an
    asynchronous copy, so the host does not wait for the queued work (no round trip)."""
    t = torch.tensor(values, dtype=dtype)
    if dev.type == "cuda":
        return t.pin_memory().to(dev, non_blocking=True)
    return t.to(dev)


def _label_dtype(dtype: torch.dtype) -> torch.dtype:
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _budget(query: torch.Tensor, budget_mb: float | None) -> int:
    if budget_mb is None:  # CPU: small enough for the allocator to recycle; GPU: batch blocks
        budget_mb = 24.0 if query.device.type == "cpu" else 512.0
    return int(budget_mb * 2**20) // query.element_size()  # in elements


def _split(context: list[ContextFrame], protocol: Protocol) -> tuple[list[int], list[int]]:
    """Indices of the unrestricted and of the windowed context frames."""
    windowed = protocol.radius is not None
    dense = [i for i, f in enumerate(context) if not (f.restricted and windowed)]
    local = [i for i, f in enumerate(context) if f.restricted and windowed]
    return dense, local


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
    dt = _label_dtype(query.dtype)  # half precision features are matched in float32
    dense, local = _split(context, protocol)
    cands = Candidates(hw, query.device, dt)
    q = query.permute(1, 2, 0).to(dt).contiguous()  # (h, w, C): the rows of a block are contiguous
    budget = _budget(q, budget_mb)
    tasks: list[Callable[[], None]] = []
    if dense:
        _dense_part(q.view(hw, C), context, dense, k, budget, dt, cands, None, None, tasks)
    if local:
        ws = workspace if workspace is not None else Workspace()
        ws.load([context[i] for i in local], protocol.context, dt, labels=False)
        plan = _block_plan(h, w, float(protocol.radius), protocol.window, block, q.device, q.dtype)  # type: ignore[arg-type]
        _local_part(q, context, local, ws, plan, block, k, budget, dt, cands, None, None, tasks)
    _run_tasks(tasks, query.device)
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
    dt = _label_dtype(query.dtype)
    dense, local = _split(context, protocol)
    sums = _SoftmaxSums(hw, K, 1.0 / protocol.temperature, query.device, dt)
    q = query.permute(1, 2, 0).to(dt).contiguous()
    budget = _budget(q, budget_mb)
    if dense:
        _dense_part(q.view(hw, C), context, dense, None, budget, dt, None, sums, K)
    if local:
        ws = workspace if workspace is not None else Workspace()
        ws.load([context[i] for i in local], protocol.context, dt, labels=True)
        plan = _block_plan(h, w, float(protocol.radius), protocol.window, block, q.device, q.dtype)  # type: ignore[arg-type]
        _local_part(q, context, local, ws, plan, block, None, budget, dt, None, sums, K)
    return sums.result().t().reshape(K, h, w)


def _dense_part(
    q: torch.Tensor,
    context: list[ContextFrame],
    which: list[int],
    k: int | None,
    budget: int,
    dt: torch.dtype,
    cands: Candidates | None,
    sums: _SoftmaxSums | None,
    K: int | None,
    tasks: list[Callable[[], None]] | None = None,
) -> None:
    """Unrestricted frames: every target against every cell, in slices of target rows (run now,
    or appended to ``tasks``)."""
    hw, C = q.shape
    dev = q.device
    frames = [context[i] for i in which]
    if len(frames) == 1:
        keys = frames[0].feats.reshape(C, hw).to(dt)
    else:
        keys = torch.cat([f.feats.reshape(C, hw).to(dt) for f in frames], dim=1)  # (C, Fd*hw)
    counts = torch.cat([torch.full((hw,), float(f.count), device=dev, dtype=dt) for f in frames])
    frame_of = _small(which, dev, torch.long).repeat_interleave(hw)  # column -> context index
    m = keys.shape[1]
    step = max(1, min(hw, budget // m))
    if sums is not None:
        assert K is not None
        labels = torch.cat([f.labels.reshape(K, hw).t() for f in frames], dim=0).to(dt)
    else:
        assert cands is not None and k is not None
        kk = min(k, m)
        pv, pc, pf, pcell = cands.new_part(kk)

    def rows(r0: int, r1: int) -> None:
        s = torch.matmul(q[r0:r1], keys, out=_scratch("dense", (r1 - r0, m), q.dtype, dev))  # (rows, Fd*hw)
        if sums is not None:
            mx, e = _softmax_weights(s.to(dt), counts, sums.inv_t, (1,))
            sums.add(torch.arange(r0, r1, device=dev), mx[:, 0], e @ labels, e.sum(dim=1))
            return
        v, i = _top_columns(s, kk)
        pv[r0:r1] = v
        pc[r0:r1] = counts[i]
        pf[r0:r1] = frame_of[i]
        pcell[r0:r1] = i % hw

    for r0 in range(0, hw, step):
        _run_or_defer(tasks, functools.partial(rows, r0, min(hw, r0 + step)))


def _local_part(
    q: torch.Tensor,
    context: list[ContextFrame],
    which: list[int],
    ws: Workspace,
    plan: tuple[_Group, ...],
    block: int,
    k: int | None,
    budget: int,
    dt: torch.dtype,
    cands: Candidates | None,
    sums: _SoftmaxSums | None,
    K: int | None,
    tasks: list[Callable[[], None]] | None = None,
) -> None:
    """Windowed frames: each block of targets against its window in every frame at once (the
    chunks of blocks run now, or are appended to ``tasks``)."""
    h, w, C = q.shape
    dev = q.device
    keys = ws.keys
    assert keys is not None
    nf = len(which)
    by_slot = sorted(zip(ws.slots, which))  # (slot, context index), every slot 0..nf-1 once
    fcnt = _small([float(context[i].count) for _, i in by_slot], dev, dt)  # multiplicity per slot
    slot_frame = _small([i for _, i in by_slot], dev, torch.long)  # slot -> context index
    ks, qs = keys.stride(), q.stride()
    gather = dev.type != "cpu"
    if sums is None:
        assert cands is not None and k is not None
        kk = min(k, nf * max(g.wh * g.ww for g in plan))
        pv, pc, pf, pcell = (t.view(h, w, -1) for t in cands.new_part(kk))
    else:
        assert ws.labels is not None and K is not None
        ls = ws.labels.stride()

    def chunk(g: _Group, by0: int, bx0: int, nby: int, nbx: int) -> None:
        n, nc = g.bh * g.bw, g.wh * g.ww
        cy, cx = min(nby, g.nby - by0), min(nbx, g.nbx - bx0)
        nb = cy * cx
        ty0, tx0 = g.y0 + by0 * block, g.x0 + bx0 * block
        wy0, wx0 = ty0 - g.oy, tx0 - g.ox
        # windows as a strided view (blocks, wh, C, ww * slots): one GEMM per window row
        win = keys[..., :nf].as_strided(
            (cy, cx, g.wh, C, g.ww, nf),
            (block * ks[1], block * ks[2], ks[1], ks[0], ks[2], ks[3]),
            keys.storage_offset() + wy0 * ks[1] + wx0 * ks[2],
        )
        qb = q.as_strided(
            (cy, cx, g.bh, g.bw, C),
            (block * qs[0], block * qs[1], qs[0], qs[1], qs[2]),
            q.storage_offset() + ty0 * qs[0] + tx0 * qs[1],
        ).reshape(nb, 1, n, C)
        if gather:  # GPU: copy the windows out and run one batched product
            s = torch.matmul(qb, win.reshape(nb, g.wh, C, g.ww * nf))
        else:  # CPU: each block's product reads its window in place (no copy)
            s = _scratch("local", (nb, g.wh, n, g.ww * nf), q.dtype, dev)
            for b in range(nb):
                torch.matmul(qb[b, 0], win[b // cx, b % cx].reshape(g.wh, C, g.ww * nf), out=s[b])
        s = s.view(nb, g.wh, n, g.ww, nf)  # (blocks, window row, target, window col, slot)
        origin = (  # flat frame index of each block's window origin
            (wy0 + torch.arange(cy, device=dev) * block)[:, None] * w
            + (wx0 + torch.arange(cx, device=dev) * block)[None, :]
        ).reshape(nb, 1, 1)
        if sums is not None:
            assert ws.labels is not None and K is not None
            s = s.to(dt) + g.bias.to(dt)[None, :, :, :, None]
            lw = ws.labels[:, :, :nf].as_strided(
                (cy, cx, g.wh, g.ww, nf, K),
                (block * ls[0], block * ls[1], ls[0], ls[1], ls[2], ls[3]),
                ws.labels.storage_offset() + wy0 * ls[0] + wx0 * ls[1],
            ).reshape(nb, g.wh, g.ww * nf, K)
            mx, e = _softmax_weights(s, fcnt, sums.inv_t, (1, 3, 4))
            num = torch.matmul(e.view(nb, g.wh, n, g.ww * nf), lw).sum(1)
            den = e.sum(dim=(1, 3, 4))
            tgt = (origin + g.oy * w + g.ox) + (
                torch.arange(g.bh, device=dev)[:, None] * w + torch.arange(g.bw, device=dev)[None, :]
            ).reshape(1, 1, n)
            sums.add(tgt.reshape(-1), mx.reshape(-1), num.reshape(-1, K), den.reshape(-1))
            return
        # rank window cells by their best frame (+ the neighbourhood bias); the k best
        # candidates lie in the k best cells (the argument of _top_columns).
        kc = min(kk, nc)
        if gather:
            cm = s.amax(dim=4)
        else:  # on CPU max_pool1d is a much faster max over a short innermost dim than amax
            cm = torch.nn.functional.max_pool1d(s.view(-1, 1, g.ww * nf), nf).view(nb, g.wh, n, g.ww)
        cm = (cm + g.bias).transpose(1, 2).reshape(nb, n, nc)
        ci = torch.topk(cm, kc, dim=2).indices  # (nb, n, kc) window cells
        r, c = ci // g.ww, ci % g.ww
        row = ((torch.arange(nb, device=dev)[:, None, None] * g.wh + r) * n
               + torch.arange(n, device=dev)[None, :, None]) * g.ww + c  # fmt: skip
        val = s.reshape(-1, nf)[row.reshape(-1)].view(nb, n, kc, nf)
        val = val + torch.gather(g.bias_rows.expand(nb, n, nc), 2, ci)[..., None]
        kb = min(kk, kc * nf)
        v, j = torch.topk(val.reshape(nb, n, kc * nf), kb, dim=2)
        cell = origin + g.cells[torch.gather(ci, 2, j // nf)]  # (nb, n, kb) frame cells
        slot = j % nf
        ys = slice(ty0, ty0 + cy * g.bh)
        xs = slice(tx0, tx0 + cx * g.bw)

        def put(dst: torch.Tensor, val: torch.Tensor, fill: float) -> None:
            # (blocks, targets, kb) -> the rows and columns of the frame they cover
            val = val.reshape(cy, cx, g.bh, g.bw, kb).transpose(1, 2)
            dst[ys, xs, :kb] = val.reshape(cy * g.bh, cx * g.bw, kb)
            if kb < kk:  # a tiny window offers fewer than k candidates
                dst[ys, xs, kb:] = fill

        put(pv, v.to(dt), float("-inf"))
        put(pc, fcnt[slot], 0.0)
        put(pf, slot_frame[slot], 0)
        put(pcell, cell, 0)

    for g in plan:
        n, nc = g.bh * g.bw, g.wh * g.ww
        per_block = (C + n) * nc * nf if gather else n * nc * nf  # copied windows + scores
        nbx = max(1, min(g.nbx, budget // per_block))
        nby = max(1, min(g.nby, budget // (per_block * nbx)))
        for by0 in range(0, g.nby, nby):
            for bx0 in range(0, g.nbx, nbx):
                _run_or_defer(tasks, functools.partial(chunk, g, by0, bx0, nby, nbx))


# --- rolling context -----------------------------------------------------------------------------


class ContextBuffer:
    """The rolling context of one video: frame 0 plus the last ``protocol.context`` frames.

    Holds at most ``context + 1`` frames' features and labels, whatever the video length, plus a
    :class:`Workspace` (``self.workspace``) to hand to :func:`predict`.
    """

    def __init__(self, protocol: Protocol):
        self.protocol = protocol
        self.first: tuple[torch.Tensor, torch.Tensor] | None = None
        self.recent: deque[tuple[torch.Tensor, torch.Tensor]] = deque(maxlen=max(1, protocol.context))
        self.n_seen = 0
        self.workspace = Workspace()

    def start(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """Frame 0 with its ground-truth labels."""
        self.first = (feats, labels)
        self.recent.clear()
        self.workspace.clear()
        self.n_seen = 1
        p = self.protocol
        if not p.first_frame or p.pad_with_first or p.first_in_window:
            # frame 0 is also a "previous frame" of frame 1 (CorrFlow, CRW, VFS); for DINO-style context
            # it is only the long-term frame.
            self.recent.append((feats, labels))

    def push(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """Append a processed frame (its features and the labels it now carries)."""
        self.recent.append((feats, labels))
        self.n_seen += 1

    def frames(self) -> list[ContextFrame]:
        """Context for the next target frame."""
        p = self.protocol
        assert self.first is not None, "start() first"
        out: list[ContextFrame] = []
        if p.first_frame:
            out.append(ContextFrame(*self.first, count=1, restricted=p.radius_on_first))
        if p.context == 0:
            return out
        recent = list(self.recent)[-p.context :]
        if p.pad_with_first and len(recent) < p.context:
            # CRW pads the frame list with copies of frame 0: the missing previous frames are
            # frame 0, so frame 0's multiplicity in the short-term context grows accordingly.
            missing = p.context - len(recent)
            f0, l0 = recent[0]
            out.append(ContextFrame(f0, l0, count=1 + missing, restricted=True))
            recent = recent[1:]
        out.extend(ContextFrame(f, lab, count=1, restricted=True) for f, lab in recent)
        return out
