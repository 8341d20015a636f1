"""The windowed propagation equals the naive full-affinity computation, and known cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vosbench.propagation.knn import ContextBuffer, ContextFrame, predict
from vosbench.propagation.protocol import PRESETS, get_protocol

from tests.support.propagation import naive


def rand_frames(n, C, h, w, K, gen, counts=None, restricted=None):
    frames = []
    for j in range(n):
        f = F.normalize(torch.randn(C, h, w, generator=gen), dim=0)
        lab = torch.softmax(torch.randn(K, h, w, generator=gen) * 3, 0)
        frames.append(
            ContextFrame(
                f,
                lab,
                count=counts[j] if counts else 1,
                restricted=restricted[j] if restricted else True,
            )
        )
    return frames


@pytest.mark.parametrize(
    "h,w,radius,window,topk,counts,restricted",
    [
        (9, 13, 3.0, "circle", 10, [1, 1, 1], [False, True, True]),
        (11, 7, 2.5, "circle", 5, [1, 4, 1], [False, True, True]),
        (10, 10, 4.0, "square", 5, [1, 1], [True, True]),
        (17, 23, 12.0, "circle", 10, [1, 20], [False, True]),  # CRW frame 1: 20 copies of frame 0
        (7, 5, 1.0, "square", None, [1], [True]),  # CorrFlow-like: no top-k
        (6, 9, None, "circle", 7, [1, 2, 1], [True, True, True]),  # unrestricted
        (12, 15, 5.0, "circle", 3, [1, 1, 1, 1], [True, False, True, True]),
    ],
)
def test_windowed_equals_naive(h, w, radius, window, topk, counts, restricted):
    gen = torch.Generator().manual_seed(h * 100 + w)
    C, K = 16, 4
    frames = rand_frames(len(counts), C, h, w, K, gen, counts, restricted)
    q = F.normalize(torch.randn(C, h, w, generator=gen), dim=0)
    p = get_protocol("crw").replace(radius=radius, window=window, topk=topk, temperature=0.07)
    for block in (1, 4, 8):
        got = predict(q, frames, p, block=block)
        want = naive(q, frames, p)
        assert torch.allclose(got, want, atol=1e-5), (block, (got - want).abs().max())


def test_shifted_features_propagate_shifted_labels():
    """A target whose features are the context's shifted by (dy, dx) gets the labels shifted too."""
    gen = torch.Generator().manual_seed(0)
    C, h, w, dy, dx = 32, 16, 20, 2, 3
    base = F.normalize(torch.randn(C, h + dy, w + dx, generator=gen), dim=0)
    ctx_feat = base[:, dy:, dx:]  # context sees the scene moved by (-dy, -dx)
    q = base[:, :h, :w]
    labels = torch.zeros(2, h + dy, w + dx)
    labels[1, 5:12, 6:14] = 1
    labels[0] = 1 - labels[1]
    ctx_lab = labels[:, dy:, dx:]
    p = get_protocol("crw").replace(topk=1, radius=6.0)
    out = predict(q, [ContextFrame(ctx_feat, ctx_lab, restricted=True)], p)
    # interior target cells (whose match lies inside the context frame) get exactly the shifted labels
    assert torch.equal(out[:, dy:, dx:].argmax(0), labels[:, dy:h, dx:w].argmax(0))


def test_radius_excludes_far_matches_but_not_on_first_frame_under_crw():
    """Under crw the first frame is matched everywhere; previous frames only within the radius."""
    C, h, w = 4, 1, 40
    feats = torch.zeros(C, h, w)
    feats[0] = 1.0
    feats[1, 0, 30] = 50.0  # the only distinctive cell, far to the right
    feats = F.normalize(feats, dim=0)
    q = torch.zeros(C, h, w)
    q[0] = 1.0
    q[1, 0, 0] = 50.0  # target cell 0 looks like context cell 30
    q = F.normalize(q, dim=0)
    lab = torch.zeros(2, h, w)
    lab[0] = 1
    lab[:, 0, 30] = torch.tensor([0.0, 1.0])
    p = PRESETS["crw"].replace(topk=1)
    first = ContextFrame(feats, lab, restricted=p.radius_on_first)
    assert predict(q, [first], p)[1, 0, 0] == 1.0  # found 30 cells away: first frame is exempt
    prev = ContextFrame(feats, lab, restricted=True)
    assert predict(q, [prev], p)[1, 0, 0] == 0.0  # 30 cells > radius 12 in a previous frame
    p_dino = PRESETS["dino"].replace(topk=1)
    assert predict(q, [ContextFrame(feats, lab, restricted=p_dino.radius_on_first)], p_dino)[1, 0, 0] == 0.0


def test_context_buffer_crw_padding_and_length():
    p = PRESETS["crw"]
    buf = ContextBuffer(p)
    f = [torch.full((1, 2, 2), float(i)) for i in range(30)]
    buf.start(f[0], f[0])
    fr = buf.frames()
    assert [(x.count, x.restricted) for x in fr] == [(1, False), (20, True)]  # frame 0 + 20 copies
    for i in range(1, 3):
        buf.push(f[i], f[i])
    fr = buf.frames()  # target 3: previous real frames -17..2 -> 18 copies of 0, then 1, 2
    assert [x.count for x in fr] == [1, 18, 1, 1]
    for i in range(3, 30):
        buf.push(f[i], f[i])
    fr = buf.frames()  # target 30: frames 10..29
    assert len(fr) == 21 and fr[1].feats[0, 0, 0] == 10 and fr[-1].feats[0, 0, 0] == 29
    assert len(buf.recent) == 20  # bounded, whatever the video length


def test_context_buffer_dino_and_corrflow():
    f = [torch.full((1, 2, 2), float(i)) for i in range(12)]
    dino = ContextBuffer(PRESETS["dino"])
    dino.start(f[0], f[0])
    assert [(x.count, x.restricted) for x in dino.frames()] == [(1, True)]  # frame 1 sees only frame 0
    for i in range(1, 12):
        dino.push(f[i], f[i])
    fr = dino.frames()
    assert [x.feats[0, 0, 0].item() for x in fr] == [0, 5, 6, 7, 8, 9, 10, 11]  # frame 0 + 7 previous
    cf = ContextBuffer(PRESETS["corrflow"])
    cf.start(f[0], f[0])
    assert [x.feats[0, 0, 0].item() for x in cf.frames()] == [0]
    cf.push(f[1], f[1])
    assert [x.feats[0, 0, 0].item() for x in cf.frames()] == [1]


def test_topk_multiplicity_matches_expanded_copies():
    """A candidate present m times takes m places in the top-k (CRW's padded context)."""
    gen = torch.Generator().manual_seed(3)
    frames = rand_frames(2, 8, 6, 6, 3, gen, counts=[1, 7], restricted=[False, True])
    q = F.normalize(torch.randn(8, 6, 6, generator=gen), dim=0)
    p = get_protocol("crw").replace(radius=2.0, topk=10)
    expanded = [frames[0]] + [ContextFrame(frames[1].feats, frames[1].labels, 1, True)] * 7
    assert torch.allclose(predict(q, frames, p), predict(q, expanded, p), atol=1e-6)
    assert not math.isnan(predict(q, frames, p).sum().item())
