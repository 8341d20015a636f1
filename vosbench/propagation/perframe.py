"""UVC's label propagation (Liusifei/UVC ``test.py``: ``forward`` + ``libs/test_utils.py:transform_topk``).

Each context frame propagates on its own: the affinity of its cells to the target's is a softmax
over all its cells of ``f_ref . f_tar / T`` (UVC multiplies by ``--temp``, 1 by default), the
weights below the k-th largest of each target cell are set to 0 without renormalising, and the
labels are mixed with what is left. The target's labels are the mean over the context frames
(frame 0 and the previous ones, each counted ``count`` times). There is no spatial window.
"""

from __future__ import annotations

import torch

from vosbench.propagation.knn import ContextFrame
from vosbench.propagation.protocol import Protocol

#: target cells per matrix product (bounds the memory of one product to chunk x reference cells)
CHUNK = 2048


def per_frame_mean(query: torch.Tensor, context: list[ContextFrame], protocol: Protocol) -> torch.Tensor:
    """(C, h, w) target features -> (K, h, w) labels, the mean of each context frame's propagation."""
    c, h, w = query.shape
    q = query.reshape(c, -1).float()
    k = protocol.topk
    total = None
    n = 0
    for frame in context:
        ref = frame.feats.reshape(c, -1).float()
        labels = frame.labels.reshape(frame.labels.shape[0], -1).float()
        out = torch.empty(labels.shape[0], h * w, dtype=torch.float32, device=query.device)
        for s in range(0, h * w, CHUNK):
            aff = torch.softmax(ref.T @ q[:, s : s + CHUNK] / protocol.temperature, dim=0)
            if k is not None and k < aff.shape[0]:
                kth = aff.topk(k, dim=0).values[-1:]
                aff = torch.where(aff < kth, torch.zeros_like(aff), aff)
            out[:, s : s + CHUNK] = labels @ aff
        total = out * frame.count if total is None else total + out * frame.count
        n += frame.count
    assert total is not None, "at least one context frame"
    return (total / n).reshape(-1, h, w)
