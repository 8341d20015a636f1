"""UVC (Liusifei/UVC @4336938): the checkpoint layout test.py reads, the lightness-only encoder, and
the ``uvc`` preset against a restatement of test.py's loop.

Encoder, as ``read_frame`` + ``Model_switchGTfixdot_swCC_Res.forward`` compute it: OpenCV's 8-bit
Lab lightness L8, ``((L8 - 128) / 128 + 1) / 2`` copied to three channels, ImageNet mean/std per
channel, a ResNet-18 through layer4 with strides (1, 2, 1, 1).

Loop (``test.py:test`` / ``forward`` and ``transform_topk``): frames resized with cv2 to short side
``-s`` and long side floored to x64; first-frame labels PIL-nearest to the grid, one-hot; for each
target, ``forward`` from frame 0 and from each of up to 7 queued previous frames (their soft labels):
``softmax(f_ref^T f_tar * temp)`` over the reference cells, values below the top-5 minimum zeroed,
labels mixed, the results averaged; x8 bilinear, ``norm_mask``, arg-max, nearest to the original size.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import vosbench
from tests.resnet_reference import reference_trunk, torchvision_state_dict
from tests.test_models_vfs import PatchEncoder, small_sequence
from vosbench.core.errors import CheckpointError
from vosbench.models.uvc import lightness_u8
from vosbench.propagation.engine import Timings, propagate_vos
from vosbench.propagation.protocol import PRESETS

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def uvc_file(path, seed: int = 0) -> dict:
    gray = torchvision_state_dict(18, seed=seed)
    state = {"module.gray_encoder." + k: v for k, v in gray.items()}
    state["module.rgb_encoder.conv1.weight"] = torch.randn(64, 3, 3, 3)  # training-only colour branch
    state["module.decoder.conv.weight"] = torch.randn(3, 64, 3, 3)
    torch.save({"epoch": 30, "best_loss": 0.12, "state_dict": state}, path)
    return gray


def test_lightness_is_opencvs_8bit_l_within_one():
    rgb = np.random.default_rng(0).integers(0, 256, size=(200, 500, 3), dtype=np.uint8)
    want = cv2.cvtColor(rgb[..., ::-1].copy(), cv2.COLOR_BGR2LAB)[..., 0].astype(np.int64)
    got = lightness_u8(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)[0, 0].numpy().astype(np.int64)
    assert np.abs(got - want).max() <= 1
    assert (got == want).mean() > 0.85  # measured 0.862 (OpenCV 5.1.0): its 8-bit path runs in fixed point


def test_checkpoint_loads_and_encoder_matches_reference(tmp_path):
    sd = uvc_file(tmp_path / "checkpoint_latest.pth.tar", seed=9)
    model = vosbench.create_model("uvc", checkpoint=tmp_path / "checkpoint_latest.pth.tar")
    x = torch.rand(1, 3, 56, 72, generator=torch.Generator().manual_seed(2))
    l8 = lightness_u8(x)
    gray = (((l8 - 128) / 128 + 1) / 2).repeat(1, 3, 1, 1)  # read_frame's Normalize, then forward's (x + 1) / 2
    with torch.inference_mode():
        got = model(x)
        want = reference_trunk((gray - MEAN) / STD, sd, 18, (1, 2, 1, 1))
    assert got.shape == (1, 512, 7, 9) == want.shape
    assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item()
    # only the lightness reaches the encoder: a grey frame of the same L8 gives the same features
    grey = torch.full_like(x, 0.5)
    with torch.inference_mode():
        assert torch.equal(model(grey[:, :1].expand(-1, 3, -1, -1).contiguous()), model(grey))


def test_other_formats_are_refused_in_one_line(tmp_path):
    torch.save({"state_dict": {"module.encoder_q." + k: v for k, v in torchvision_state_dict(18).items()}}, tmp_path / "m.pth")
    with pytest.raises(CheckpointError) as e:
        vosbench.create_model("uvc", checkpoint=tmp_path / "m.pth")
    assert "\n" not in str(e.value) and "is not a UVC checkpoint" in str(e.value) and "MoCo" in str(e.value)


def uvc_pipeline(encoder, paths, seg0: np.ndarray, scale: int, pre_num: int = 7, topk: int = 5) -> list[np.ndarray]:
    ori_h, ori_w = seg0.shape
    th = scale
    tw = int((scale * ori_w / ori_h) // 64 * 64)

    def feats(p):
        img = cv2.resize(np.asarray(Image.open(p).convert("RGB")), (tw, th))
        with torch.inference_mode():
            return encoder(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)[0]

    def forward(f1, f2, seg):
        aff = torch.softmax((f1.flatten(1).T @ f2.flatten(1)) * 1.0, dim=0)
        kmin = aff.topk(topk, dim=0).values.min(dim=0, keepdim=True).values
        aff[kmin > aff] = 0
        return (seg.flatten(1) @ aff).reshape(seg.shape[0], *f2.shape[1:])

    small = np.array(Image.fromarray(seg0).resize((tw // 8, th // 8), Image.NEAREST))
    first_seg = F.one_hot(torch.from_numpy(small).long()).permute(2, 0, 1).float()
    f0 = feats(paths[0])
    queue: list[tuple[torch.Tensor, torch.Tensor]] = []
    out = []
    for p in paths[1:]:
        ft = feats(p)
        acc = forward(f0, ft, first_seg)
        for fi, si in queue:
            acc = acc + forward(fi, ft, si)
        avg = acc / (1 + len(queue))
        if len(queue) == pre_num:
            queue.pop(0)
        queue.append((ft, avg.clone()))
        up = F.interpolate(avg[None], scale_factor=8, mode="bilinear", align_corners=False)[0]
        for c in range(up.shape[0]):
            m = up[c]
            if m.max() > 0:
                m = m - m.min()
                up[c] = m / m.max()
        lab = up.argmax(0).numpy().astype(np.uint8)
        out.append(np.array(Image.fromarray(lab).resize((ori_w, ori_h), Image.NEAREST)))
    return out


def test_uvc_preset_equals_uvc_test_loop(davis16_mini, tmp_path):
    """11 real frames at 250x140 run with -s 128 (128x192 inputs): queue full after frame 8."""
    seq, paths, seg0 = small_sequence(davis16_mini, tmp_path, "dog", 11, (250, 140))
    encoder = PatchEncoder().eval()
    with torch.no_grad():
        encoder.conv.weight.mul_(0.05)  # raw dot products of a moderate size: softmax neither flat nor one-hot
    protocol = PRESETS["uvc"].replace(size=128)
    ours = dict(propagate_vos(seq, encoder, protocol, torch.device("cpu"), Timings()))
    ref = uvc_pipeline(encoder, paths, seg0.astype(np.uint8), 128)
    same = sum(int((ours[t] == ref[t - 1]).sum()) for t in range(1, len(paths)))
    assert same / sum(r.size for r in ref) == 1.0
    joint = dict(propagate_vos(seq, encoder, protocol.replace(mixing="joint"), torch.device("cpu"), Timings()))
    assert any(not np.array_equal(joint[t], ours[t]) for t in range(1, len(paths)))
