"""Candidate lists and label mixing: the top-k and softmax ends of k-NN propagation.

:class:`Candidates` holds each target cell's best candidates (found by
:func:`vosbench.propagation.knn.candidates` or its batched GPU twin); :func:`mix` turns them into
labels for one top-k and temperature. :class:`SoftmaxSums` is the softmax over all candidates
(no top-k), merged part by part. :func:`top_columns` is the exact, cheap top-k of wide rows.
"""

from __future__ import annotations

import torch


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


class SoftmaxSums:
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


def off_frame_part(
    h: int, w: int, radius: float, copies: float, n_labels: int, dev: torch.device, dt: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The softmax part (max, label sum, weight sum) per target cell of the positions of its square
    window (|dx|, |dy| <= ``radius``) that lie beyond the h x w frame, in ``copies`` windowed frames,
    each a candidate of similarity 0 and no label (``border="zeros"``: MAST's zero padding)."""
    r = int(radius)
    y, x = torch.arange(h, device=dev), torch.arange(w, device=dev)
    ny = (y + r).clamp(max=h - 1) - (y - r).clamp(min=0) + 1
    nx = (x + r).clamp(max=w - 1) - (x - r).clamp(min=0) + 1
    outside = ((2 * r + 1) ** 2 - ny[:, None] * nx[None, :]).reshape(-1).to(dt) * copies
    m = torch.where(outside > 0, torch.zeros_like(outside), torch.full_like(outside, float("-inf")))
    return m, torch.zeros(h * w, n_labels, device=dev, dtype=dt), outside


def softmax_weights(
    s: torch.Tensor, counts: torch.Tensor, inv_t: float, dims: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Max of scores ``s`` over ``dims`` and the weights exp((s - max) / T) * ``counts``."""
    m = torch.amax(s, dim=dims, keepdim=True)
    safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return m, torch.exp((s - safe) * inv_t) * counts


def top_columns(s: torch.Tensor, k: int, groups: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
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

