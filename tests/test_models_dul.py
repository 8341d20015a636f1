"""DUL (visinf/dense-ulearn-vos @88e5e35): the snapshot layout ``utils/checkpoints.py`` saves, the
``res4`` encoder, and the ``dul`` preset against a restatement of ``infer_vos.py:step_seg`` with
``LabelPropVOS_CRW``.

Loop: features ``res4`` L2-normalised; context of frame t: frame 0 (no radius mask) plus
``[max(tt, 0) for tt in range(t - 20, t)]`` (masked: Euclidean distance < 12, else -1e10); the
affinity divided by T 0.05, top-10 over all context cells, softmax, the context's soft labels
mixed and fed back; labels to the grid and predictions to the frame by bilinear resizes with
``align_corners=True``; arg-max.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import vosbench
from tests.resnet_reference import IMAGENET_MEAN, IMAGENET_STD, reference_trunk, torchvision_state_dict
from tests.support.cli import invoke
from tests.test_models_dinov2 import one_line_error
from tests.test_models_mast import mast_file
from tests.test_models_vfs import PatchEncoder, small_sequence
from vosbench.core.errors import CheckpointError
from vosbench.propagation.engine import Timings, propagate_vos
from vosbench.propagation.protocol import PRESETS


def dul_file(path, seed: int = 0, prefix: str = "") -> dict:
    """A DUL snapshot: {'model': fast_net.backbone.* + fast_net.emb_q.*, 'opt', 'score', 'epoch'}."""
    sd = torchvision_state_dict(18, seed=seed)
    model = {f"{prefix}fast_net.backbone.{k}": v for k, v in sd.items()}
    g = torch.Generator().manual_seed(seed + 1)
    model[f"{prefix}fast_net.emb_q.conv1.weight"] = torch.randn(512, 512, 1, 1, generator=g)
    model[f"{prefix}fast_net.emb_q.conv2.weight"] = torch.randn(128, 512, 1, 1, generator=g)
    torch.save({"model": model, "opt": {"state": {}, "param_groups": []}, "score": 0.71, "epoch": 60}, path)
    return sd


@pytest.mark.parametrize("prefix", ["", "module."])
def test_snapshot_loads_and_encoder_is_res4(tmp_path, prefix):
    sd = dul_file(tmp_path / "dul.pth", seed=2, prefix=prefix)
    model = vosbench.create_model("dul", checkpoint=tmp_path / "dul.pth")
    x = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        got = model(x)
        want = reference_trunk((x - IMAGENET_MEAN) / IMAGENET_STD, sd, 18, (1, 2, 1, 1))
    assert got.shape == (1, 512, 6, 8) == want.shape
    assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item()


def test_other_formats_are_refused_in_one_line(tmp_path):
    mast_file(tmp_path / "mast.pt")
    torch.save({"model": {"fast_net.backbone.conv1.weight": torch.zeros(1)}}, tmp_path / "short.pth")
    with pytest.raises(CheckpointError) as e:
        vosbench.create_model("dul", checkpoint=tmp_path / "mast.pt")
    assert "\n" not in str(e.value) and "no 'model' entry" in str(e.value)
    with pytest.raises(CheckpointError, match="missing keys"):
        vosbench.create_model("dul", checkpoint=tmp_path / "short.pth")


def test_run_refuses_another_format_and_runs_the_snapshot(tmp_path, tiny_davis17):
    mast_file(tmp_path / "mast.pt")
    dul_file(tmp_path / "dul.pth")
    base = ("run", "--model", "dul", "--dataset", "davis17-val", "--data-root", tiny_davis17, "--sequences", "seq0",
            "--device", "cpu", "--protocol", "native", "--out", tmp_path / "r", "--checkpoint")
    assert "a DUL snapshot" in one_line_error(invoke(*base, tmp_path / "mast.pt"))
    r = invoke(*base, tmp_path / "dul.pth")
    assert r.exit_code == 0, r.output
    assert "dul v1" in r.output


def dul_pipeline(encoder, frames: list[torch.Tensor], seg0: np.ndarray) -> list[np.ndarray]:
    """step_seg + LabelPropVOS_CRW (CXT_SIZE 20, RADIUS 12, TEMP 0.05, KNN 10), written out."""
    with torch.inference_mode():
        feats = [F.normalize(encoder(x[None]), dim=1)[0] for x in frames]
    c, h, w = feats[0].shape
    H, W = seg0.shape
    onehot = F.one_hot(torch.from_numpy(seg0).long()).permute(2, 0, 1)[None].float()
    masks = {0: F.interpolate(onehot, (h, w), mode="bilinear", align_corners=True)[0]}
    gx, gy = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    dist = ((gx.reshape(-1, 1) - gx.reshape(1, -1)) ** 2 + (gy.reshape(-1, 1) - gy.reshape(1, -1)) ** 2).float() ** 0.5
    penalty = torch.where(dist < 12, 0.0, -1e10)  # [key cell, query cell]
    out = []
    for t in range(1, len(frames)):
        index = [0] + [max(tt, 0) for tt in range(t - 20, t)]
        keys = torch.stack([feats[j].reshape(c, -1) for j in index])  # n, C, hw
        aff = torch.einsum("nck,cq->nkq", keys, feats[t].reshape(c, -1))
        aff[1:] += penalty
        aff = aff.reshape(-1, h * w) / 0.05
        weights, ids = aff.topk(10, dim=0)
        weights = weights.softmax(dim=0)
        labels = torch.stack([masks[j].reshape(masks[0].shape[0], -1) for j in index], 1).flatten(1)  # K, n*hw
        pred = (labels[:, ids] * weights[None]).sum(1).view(-1, h, w)
        masks[t] = pred
        up = F.interpolate(pred[None], (H, W), mode="bilinear", align_corners=True)[0]
        out.append(up.argmax(0).numpy().astype(np.uint8))
    return out


def test_dul_preset_equals_infer_vos_loop(davis16_mini, tmp_path):
    """24 real frames at 160x96 (a 20x12 grid): the context fills up (t > 20) and the circle cuts."""
    seq, paths, seg0 = small_sequence(davis16_mini, tmp_path, "dog", 24, (160, 96))
    encoder = PatchEncoder().eval()
    ours = dict(propagate_vos(seq, encoder, PRESETS["dul"], torch.device("cpu"), Timings()))
    frames = [torch.from_numpy(np.asarray(Image.open(p)).copy()).permute(2, 0, 1).float() / 255 for p in paths]
    ref = dul_pipeline(encoder, frames, seg0.astype(np.uint8))
    assert all(np.array_equal(ours[t], ref[t - 1]) for t in range(1, len(paths)))
    crw = dict(propagate_vos(seq, encoder, PRESETS["crw"], torch.device("cpu"), Timings()))
    assert any(not np.array_equal(crw[t], ours[t]) for t in range(1, len(paths)))  # align_corners matters
    assert PRESETS["dul"].settings() == PRESETS["crw"].replace(align_corners=True).settings()
