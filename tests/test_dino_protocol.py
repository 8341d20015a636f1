"""The ``dino`` preset against a restatement of DINO's ``eval_video_segmentation.py``
(facebookresearch/dino @7c446df) on real DAVIS frames, with a small random-init ViT.

The restatement follows the script step by step: ``read_frame`` (cv2 uint8 resize, then /255),
``read_seg`` (PIL nearest from the original label straight to the token grid, one-hot with
``max id + 1`` channels), ``label_propagation`` (dense exp(cos / 0.1) affinity, square +/-12 mask
on every context frame, top-5 then column renormalisation, queue of the 7 previous soft maps) and
the output (bilinear x patch, ``norm_mask``, arg-max, PIL nearest to the original size). The
first-frame label is given as the ids vosbench reads (object 1), as DAVIS-2017 PNGs hold them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vosbench.core.specs import ModelSpec
from vosbench.core.video import VideoSequence
from vosbench.propagation.engine import Timings, propagate_vos
from vosbench.propagation.protocol import PRESETS

cv2 = pytest.importorskip("cv2")

PATCH, N_FRAMES = 16, 8


def dino_read_frame(path) -> torch.Tensor:
    img = cv2.imread(str(path))
    h, w = img.shape[:2]
    th, tw = (int((480 * h / w) // 64 * 64), 480) if h > w else (480, int((480 * w / h) // 64 * 64))
    img = cv2.resize(img, (tw, th)).astype(np.float32) / 255.0
    return torch.from_numpy(np.transpose(img[:, :, ::-1].copy(), (2, 0, 1))).float()


def dino_pipeline(encoder, paths, seg0: np.ndarray) -> list[np.ndarray]:
    """Predicted id maps for frames 1.. of the video, as DINO's script computes them."""
    ori_h, ori_w = seg0.shape

    def feats(path):
        x = dino_read_frame(path)  # our encoder normalises with DINO's mean/std itself
        with torch.inference_mode():
            f = encoder(x[None])[0]
        return f.flatten(1), f.shape[1], f.shape[2]  # dim x h*w

    f1, h, w = feats(paths[0])
    th, tw = h * PATCH, w * PATCH
    small = np.array(Image.fromarray(seg0).resize((tw // PATCH, th // PATCH), 0))
    n = int(small.max()) + 1
    first = F.one_hot(torch.from_numpy(small).long(), n).permute(2, 0, 1)[None].float()
    ii, jj = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    ci, cj = ii.ravel(), jj.ravel()
    mask = ((np.abs(ci[:, None] - ci[None]) <= 12) & (np.abs(cj[:, None] - cj[None]) <= 12)).astype(np.float32)
    mask = torch.from_numpy(mask)  # [query cell, key cell], as restrict_neighborhood (symmetric)
    queue: list[tuple[torch.Tensor, torch.Tensor]] = []
    out = []
    for path in paths[1:]:
        ft, _, _ = feats(path)
        srcs = torch.stack([f1] + [q[0] for q in queue])  # nctx x dim x hw
        segs = torch.cat([first] + [q[1] for q in queue])  # nctx x C x h x w
        tar = F.normalize(ft.T, dim=1, p=2)
        srcs = F.normalize(srcs, dim=1, p=2)
        aff = torch.exp(torch.bmm(tar[None].repeat(len(srcs), 1, 1), srcs) / 0.1) * mask[None]
        aff = aff.transpose(2, 1).reshape(-1, h * w)
        kmin = torch.topk(aff, dim=0, k=5)[0].min(dim=0)[0]
        aff[aff < kmin] = 0
        aff = aff / aff.sum(keepdim=True, axis=0)
        C = segs.shape[1]
        seg = (segs.reshape(len(segs), C, -1).transpose(2, 1).reshape(-1, C).T @ aff).reshape(1, C, h, w)
        if len(queue) == 7:
            queue.pop(0)
        queue.append((ft, seg.clone()))
        up = F.interpolate(seg, scale_factor=PATCH, mode="bilinear", align_corners=False, recompute_scale_factor=False)[0]
        for c in range(C):
            m = up[c]
            if m.max() > 0:
                m = m - m.min()
                up[c] = m / m.max()
        lab = np.array(torch.max(up, dim=0)[1].numpy(), dtype=np.uint8)
        out.append(np.array(Image.fromarray(lab).resize((ori_w, ori_h), 0)))
    return out


@pytest.fixture(scope="module")
def encoder():
    """A 2-block ViT (width 48, patch 16), seeded random weights; DINO's mean/std."""
    from vosbench.models.dino import DinoEncoder

    spec = ModelSpec(
        name="dino-tiny16", description="test", factory="vosbench.models.dino:build_dino", stride=PATCH,
        channels=48, mean=(0.485, 0.456, 0.406), std=(0.228, 0.224, 0.225), input_multiple=PATCH,
    )
    torch.manual_seed(5)
    enc = DinoEncoder(spec, embed_dim=48, depth=2, num_heads=3)
    with torch.no_grad():  # stronger weights than the default init, for spatially varied features
        for name, prm in enc.vit.named_parameters():
            if prm.dim() > 1 or name.endswith("pos_embed"):
                prm.normal_(0, 0.5 if name.endswith("pos_embed") else 0.1)
    return enc.eval()


def agreement(encoder, root, name: str, protocol) -> float:
    frames = sorted((root / "JPEGImages/480p" / name).glob("*.jpg"))[:N_FRAMES]
    anno = root / "Annotations/480p" / name / "00000.png"
    seq = VideoSequence(name, [p.stem for p in frames], frames, annotations={0: anno}, binary_masks=True)
    seg0 = seq.read_annotation(0).astype(np.uint8)
    ours = dict(propagate_vos(seq, encoder, protocol, torch.device("cpu"), Timings()))
    ref = dino_pipeline(encoder, frames, seg0)
    same = sum(int((ours[t] == ref[t - 1]).sum()) for t in range(1, len(frames)))
    return same / sum(r.size for r in ref)


@pytest.mark.parametrize("name", ["dog", "car-shadow"])
def test_dino_preset_equals_dinos_script(davis16_mini, encoder, name):
    assert agreement(encoder, davis16_mini, name, PRESETS["dino"]) == 1.0


def test_void_is_a_label_of_its_own_and_written_as_255(davis16_mini, encoder, tmp_path):
    frames = sorted((davis16_mini / "JPEGImages/480p/dog").glob("*.jpg"))[:3]
    ids = np.asarray(Image.open(davis16_mini / "Annotations/480p/dog/00000.png")) > 128
    lab = ids.astype(np.uint8)
    lab[:, :200] = np.where(ids[:, :200], 1, 255)  # a void band on the left
    Image.fromarray(lab).save(tmp_path / "00000.png")
    seq = VideoSequence("dog", [p.stem for p in frames], frames, annotations={0: tmp_path / "00000.png"})
    dino = dict(propagate_vos(seq, encoder, PRESETS["dino"], torch.device("cpu"), Timings()))
    as_bg = dict(propagate_vos(seq, encoder, PRESETS["dino"].replace(void_label=False), torch.device("cpu"), Timings()))
    assert (dino[1] == 255).sum() > 1000 and not (as_bg[1] == 255).any()
    ref = dino_pipeline(encoder, frames, lab)  # channels 0..255, the void one included
    assert np.array_equal(dino[1], ref[0]) and np.array_equal(dino[2], ref[1])
