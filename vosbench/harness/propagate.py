"""k-NN label propagation in feature space (the engine's core).

For a target frame, every context frame offers candidates: its feature cells, each with a label
vector. A target cell scores each candidate by cosine similarity (or raw dot product), keeps only
candidates inside its spatial window on radius-limited frames, keeps the top-k over all context
frames jointly, and takes the softmax-weighted (temperature) mean of their labels.

The naive way (CRW ``test.py``) computes the full (hw x T*hw) affinity and masks it afterwards.
Here radius-limited frames are matched block by block: the target cells of a small block are
compared with the window that covers the block in each context frame only (one dense matrix
product per block), and out-of-radius entries are dropped before the top-k. Unrestricted frames
(CRW's first frame) are one dense product per block. The result equals the naive computation
up to float ties in the top-k. Nothing of size (hw x hw) beyond one unrestricted frame's rows of
a block is ever built, so memory does not grow with the number of context frames or the video.

Duplicated context frames (CRW pads the context with copies of frame 0 while fewer than
``context`` frames precede the target) are kept once with a multiplicity: a candidate that
appears m times occupies m places in the top-k and m times the weight, exactly as the copies do.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vosbench.harness.protocol import Protocol


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


def _window_mask(
    ty: torch.Tensor, tx: torch.Tensor, wy: torch.Tensor, wx: torch.Tensor, protocol: Protocol
) -> torch.Tensor:
    """Boolean (n_targets, n_window) mask of candidates inside each target's window."""
    dy = (wy[None, :] - ty[:, None]).float()
    dx = (wx[None, :] - tx[:, None]).float()
    r = float(protocol.radius)  # type: ignore[arg-type]
    if protocol.window == "circle":
        return dy * dy + dx * dx < r * r
    return (dy.abs() <= r) & (dx.abs() <= r)


def _combine(
    scores: torch.Tensor, counts: torch.Tensor, labels: torch.Tensor, protocol: Protocol
) -> torch.Tensor:
    """Top-k (with multiplicities) + softmax over ``scores`` (n, m); returns (n, K) label mix.

    ``scores`` hold similarity / temperature with ``-inf`` for excluded candidates; ``counts``
    (m,) the multiplicity of each candidate column; ``labels`` (m, K).
    """
    k = protocol.topk
    if k is None or k >= int(counts.sum()):
        vmax = scores.amax(dim=1, keepdim=True)
        w = torch.exp(scores - vmax) * counts[None, :]
        w = w / w.sum(dim=1, keepdim=True)
        return w @ labels
    kk = min(k, scores.shape[1])
    vals, idx = torch.topk(scores, kk, dim=1)  # sorted, descending
    c = counts[idx]
    before = torch.cumsum(c, dim=1) - c  # places taken by better candidates
    take = (k - before).clamp(min=0)
    take = torch.minimum(take, c)
    w = torch.exp(vals - vals[:, :1]) * take
    w = w / w.sum(dim=1, keepdim=True)
    return torch.einsum("nk,nkc->nc", w, labels[idx])


def predict(query: torch.Tensor, context: list[ContextFrame], protocol: Protocol, block: int = 8) -> torch.Tensor:
    """Propagate labels from ``context`` to the cells of ``query``.

    Args:
        query: (C, h, w) features of the target frame (normalised like the context's).
        context: Context frames (same h, w). ``restricted`` frames are limited to the protocol's
            window around each target cell; others are matched everywhere.
        protocol: Supplies radius, window shape, top-k and temperature.
        block: Side of the square blocks of target cells processed together.

    Returns:
        (K, h, w) propagated label vectors (convex combinations of context labels).
    """
    C, h, w = query.shape
    K = context[0].labels.shape[0]
    dev, dt = query.device, query.dtype
    reach = window_reach(protocol)
    dense = [f for f in context if not f.restricted or reach is None]
    local = [f for f in context if f.restricted and reach is not None]
    inv_t = 1.0 / protocol.temperature

    if dense:
        d_feats = torch.cat([f.feats.reshape(C, h * w) for f in dense], dim=1)  # (C, Fd*hw)
        d_labels = torch.cat([f.labels.reshape(K, h * w).t() for f in dense], dim=0).to(dt)  # (Fd*hw, K)
        d_counts = torch.cat(
            [torch.full((h * w,), float(f.count), device=dev, dtype=dt) for f in dense]
        )
    if local:
        l_feats = torch.stack([f.feats for f in local])  # (Fl, C, h, w)
        l_labels = torch.stack([f.labels.to(dt) for f in local])  # (Fl, K, h, w)
        l_counts = torch.tensor([float(f.count) for f in local], device=dev, dtype=dt)

    out = torch.empty(h * w, K, device=dev, dtype=dt)
    q_all = query.reshape(C, h * w)
    ys = torch.arange(h, device=dev)
    xs = torch.arange(w, device=dev)
    for y0 in range(0, h, block):
        y1 = min(h, y0 + block)
        for x0 in range(0, w, block):
            x1 = min(w, x0 + block)
            ty = ys[y0:y1].repeat_interleave(x1 - x0)
            tx = xs[x0:x1].repeat(y1 - y0)
            tidx = ty * w + tx
            q = q_all[:, tidx].t()  # (n, C)
            parts_s, parts_c, parts_l = [], [], []
            if dense:
                parts_s.append((q @ d_feats) * inv_t)
                parts_c.append(d_counts)
                parts_l.append(d_labels)
            if local:
                wy0, wy1 = max(0, y0 - reach), min(h, y1 + reach)
                wx0, wx1 = max(0, x0 - reach), min(w, x1 + reach)
                nwin = (wy1 - wy0) * (wx1 - wx0)
                wf = l_feats[:, :, wy0:wy1, wx0:wx1].reshape(len(local), C, nwin)
                s = torch.matmul(q[None], wf) * inv_t  # (Fl, n, nwin)
                wy = ys[wy0:wy1].repeat_interleave(wx1 - wx0)
                wx = xs[wx0:wx1].repeat(wy1 - wy0)
                ok = _window_mask(ty, tx, wy, wx, protocol)
                s = s.masked_fill(~ok[None], float("-inf"))
                parts_s.append(s.permute(1, 0, 2).reshape(q.shape[0], len(local) * nwin))
                parts_c.append(l_counts.repeat_interleave(nwin))
                wl = l_labels[:, :, wy0:wy1, wx0:wx1].reshape(len(local), K, nwin)
                parts_l.append(wl.permute(0, 2, 1).reshape(len(local) * nwin, K))
            scores = torch.cat(parts_s, dim=1) if len(parts_s) > 1 else parts_s[0]
            counts = torch.cat(parts_c) if len(parts_c) > 1 else parts_c[0]
            labels = torch.cat(parts_l) if len(parts_l) > 1 else parts_l[0]
            out[tidx] = _combine(scores, counts, labels, protocol)
    return out.t().reshape(K, h, w)


class ContextBuffer:
    """The rolling context of one video: frame 0 plus the last ``protocol.context`` frames.

    Holds at most ``context + 1`` frames' features and labels, whatever the video length.
    """

    def __init__(self, protocol: Protocol):
        self.protocol = protocol
        self.first: tuple[torch.Tensor, torch.Tensor] | None = None
        self.recent: deque[tuple[torch.Tensor, torch.Tensor]] = deque(maxlen=max(1, protocol.context))
        self.n_seen = 0

    def start(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """Frame 0 with its ground-truth labels."""
        self.first = (feats, labels)
        self.recent.clear()
        self.n_seen = 1
        if not self.protocol.first_frame or self.protocol.pad_with_first:
            # frame 0 is also a "previous frame" of frame 1 (CorrFlow, CRW); for DINO-style context
            # it is only the long-term frame.
            self.recent.append((feats, labels))

    def push(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """Append a processed frame (its features and the labels it now carries)."""
        self.recent.append((feats, labels))
        self.n_seen += 1

    def replace_labels(self, labels: torch.Tensor) -> None:
        """Replace the labels of the most recent frame (e.g. after merging a new object's mask)."""
        feats, _ = self.recent[-1]
        self.recent[-1] = (feats, labels)

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
