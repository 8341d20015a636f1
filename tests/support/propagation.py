"""The naive propagation reference: full affinity to every cell of every context frame (copies
expanded), masked afterwards, in float64, the way CRW's ``code/test.py`` computes it. The fast
paths (windowed, batched, half precision) are tested against it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vosbench.propagation.knn import ContextFrame
from vosbench.propagation.protocol import Protocol


def naive(query: torch.Tensor, frames: list[ContextFrame], protocol: Protocol) -> torch.Tensor:
    """Label probabilities ``(K, h, w)`` (float32) of ``query`` ``(C, h, w)`` from ``frames``."""
    C, h, w = query.shape
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([yy.flatten(), xx.flatten()], 1).double()
    d = pos[:, None, :] - pos[None, :, :]
    if protocol.radius is None:
        inside = torch.ones(h * w, h * w, dtype=torch.bool)
    elif protocol.window == "circle":
        inside = (d**2).sum(-1) < protocol.radius**2
    else:
        inside = (d.abs() <= protocol.radius).all(-1)
    keys, labels, masks = [], [], []
    for f in frames:
        for _ in range(f.count):
            keys.append(f.feats.reshape(C, -1).double())
            labels.append(f.labels.reshape(f.labels.shape[0], -1).t().double())
            masks.append(inside if f.restricted else torch.ones_like(inside))
    A = query.reshape(C, -1).t().double() @ torch.cat(keys, 1)
    A = A.masked_fill(~torch.cat(masks, 1), float("-inf")) / protocol.temperature
    L = torch.cat(labels, 0)
    if protocol.topk is None or protocol.topk >= A.shape[1]:
        out = torch.softmax(A, 1) @ L
    else:
        v, i = A.topk(protocol.topk, dim=1)
        out = (torch.softmax(v, 1)[..., None] * L[i]).sum(1)
    return out.t().reshape(-1, h, w).float()


def rand_frame(C: int, h: int, w: int, K: int, gen: torch.Generator, count: int = 1,
               restricted: bool = True) -> ContextFrame:
    """A context frame of unit-norm random features and soft random labels of ``K`` objects."""
    f = F.normalize(torch.randn(C, h, w, generator=gen), dim=0)
    lab = torch.softmax(torch.randn(K, h, w, generator=gen) * 3, 0)
    return ContextFrame(f, lab, count=count, restricted=restricted)
