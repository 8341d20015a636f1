"""Spa-then-Temp (qianduoduolr/Spa-then-Temp @4c94362): the mmcv checkpoint layout its test.py
loads, the stride-4 and stride-8 test configurations of the ResNet, and the ``spa-then-temp``
preset against VFS's tracker loop with the square neighbourhood of ``spatial_neighbor``.

Encoder (``configs/test/res{18,50}_d{4,8}.py`` + ``vcl/models/backbones/resnet.py``): normalised
float Lab; ``conv1`` (7x7 stride 2, BN, ReLU); d8: no pooling, stage strides (1, 2, 2); d4: a 3x3
average pool (stride 2, padding 1, zeros counted), stage strides (1, 1, 1); layer3 out.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import vosbench
from tests.resnet_reference import reference_trunk, torchvision_state_dict
from tests.support.cli import invoke
from tests.test_models_dinov2 import one_line_error
from tests.test_models_mast import mast_file, normalised_lab
from tests.test_models_vfs import PatchEncoder, small_sequence, to_mmaction, vfs_pipeline
from vosbench.core.errors import CheckpointError
from vosbench.core.registry import models
from vosbench.propagation.engine import Timings, propagate_vos
from vosbench.propagation.protocol import PRESETS


def stt_file(path, depth: int, seed: int = 0) -> dict:
    """An mmcv checkpoint of the training Framework: backbone.* (with layer4), a teacher backbone_t.*."""
    sd = torchvision_state_dict(depth, seed=seed)
    state = to_mmaction(sd)
    state["backbone_t.conv1.conv.weight"] = torch.randn(64, 3, 7, 7)
    torch.save({"meta": {"mmcv_version": "1.3.18", "epoch": 100}, "state_dict": state}, path)
    return sd


@pytest.mark.parametrize("depth, stride", [(18, 8), (18, 4)])
def test_checkpoint_loads_and_encoder_matches_the_test_config(tmp_path, depth, stride):
    sd = stt_file(tmp_path / "stt.pth", depth, seed=depth + stride)
    model = vosbench.create_model(f"spa-then-temp-r{depth}-d{stride}", checkpoint=tmp_path / "stt.pth")
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(1))
    strides, pool = ((1, 2, 2), "none") if stride == 8 else ((1, 1, 1), "mean")
    with torch.inference_mode():
        got = model(x)
        want = reference_trunk(normalised_lab(x), sd, depth, strides, pool)
    assert got.shape == (1, 256 if depth == 18 else 1024, 40 // stride, 56 // stride) == want.shape
    assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item()


def test_other_formats_are_refused_in_one_line(tmp_path):
    mast_file(tmp_path / "mast.pt")
    with pytest.raises(CheckpointError) as e:
        vosbench.create_model("spa-then-temp-r18-d8", checkpoint=tmp_path / "mast.pt")
    msg = str(e.value)
    assert "\n" not in msg and "is not a Spa-then-Temp checkpoint" in msg and "a MAST checkpoint" in msg


def test_run_refuses_another_format_and_runs_the_released_layout(tmp_path, tiny_davis17):
    mast_file(tmp_path / "mast.pt")
    stt_file(tmp_path / "stt.pth", 18)
    base = ("run", "--model", "spa-then-temp-r18-d8", "--dataset", "davis17-val", "--data-root", tiny_davis17,
            "--sequences", "seq0", "--device", "cpu", "--protocol", "native", "--out", tmp_path / "r", "--checkpoint")
    assert "is not a Spa-then-Temp checkpoint" in one_line_error(invoke(*base, tmp_path / "mast.pt"))
    r = invoke(*base, tmp_path / "stt.pth")
    assert r.exit_code == 0, r.output
    assert "spa-then-temp v1" in r.output


def test_presets_are_the_test_configs():
    assert [models.get(f"spa-then-temp-r{d}-d{s}").native_protocol for d in (18, 50) for s in (8, 4)] == [
        "spa-then-temp", "spa-then-temp-d4"] * 2
    for name, radius in (("spa-then-temp", 12.0), ("spa-then-temp-d4", 35.0)):  # neighbor_range 24 / 70, // 2
        assert PRESETS[name].settings() == PRESETS["vfs"].replace(window="square", radius=radius).settings()


def square_neighbour(h: int, w: int, neighbor_range: int) -> torch.Tensor:
    """``spatial_neighbor(mode='square')``: [key cell, query cell] within neighbor_range // 2 rows and columns."""
    mask = torch.zeros(h, w, h, w, dtype=torch.bool)
    r = neighbor_range // 2
    for i in range(h):
        for j in range(w):
            mask[max(0, i - r) : min(h, i + r + 1), max(0, j - r) : min(w, j + r + 1), i, j] = True
    return mask.view(h * w, h * w)


def test_spa_then_temp_preset_equals_the_tracker_loop(davis16_mini, tmp_path):
    """8 real frames at 224x128: a 28x16 grid, wider and taller than the 25x25 square."""
    seq, paths, seg0 = small_sequence(davis16_mini, tmp_path, "car-shadow", 8, (224, 128))
    encoder = PatchEncoder().eval()
    ours = dict(propagate_vos(seq, encoder, PRESETS["spa-then-temp"], torch.device("cpu"), Timings()))
    frames = [torch.from_numpy(np.asarray(Image.open(p)).copy()).permute(2, 0, 1).float() / 255 for p in paths]
    ref = vfs_pipeline(encoder, frames, seg0.astype(np.uint8), mask=square_neighbour(16, 28, 24))
    assert all(np.array_equal(ours[t], ref[t - 1]) for t in range(1, len(paths)))
    circle = dict(propagate_vos(seq, encoder, PRESETS["vfs"], torch.device("cpu"), Timings()))
    assert any(not np.array_equal(circle[t], ours[t]) for t in range(1, len(paths)))
