"""TimeCycle (xiaolonw/TimeCycle @16d33ac): the released checkpoint's 3-D kernels (temporal size 1)
load as 2-D ones, and the encoder equals layer3 of a stride-8 ResNet-50, ``afterconv1`` and a ReLU,
as ``CycleTime.forward`` computes the features its DAVIS test matches."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import vosbench
from tests.resnet_reference import reference_layer3, torchvision_state_dict
from vosbench.core.errors import CheckpointError


def timecycle_file(path, seed: int = 0, time: int = 1) -> tuple[dict, torch.Tensor]:
    """{'epoch', 'state_dict'} of DataParallel(CycleTime): inflated 5-D kernels, no num_batches_tracked."""
    enc = {k: v for k, v in torchvision_state_dict(50, seed=seed).items() if not k.endswith("num_batches_tracked")}
    state = {"module.encoderVideo." + k: (v.unsqueeze(2).repeat(1, 1, time, 1, 1) if v.dim() == 4 else v) for k, v in enc.items()}
    head = torch.randn(512, 1024, 1, 1, 1, generator=torch.Generator().manual_seed(seed)) * 0.05
    state["module.afterconv1.weight"] = head
    state["module.afterconv3_trans.weight"] = torch.randn(128, 900, 4, 4)
    state["module.afterconv4_trans.weight"] = torch.randn(64, 128, 4, 4)
    state["module.linear2.weight"], state["module.linear2.bias"] = torch.randn(6, 1024), torch.zeros(6)
    torch.save({"epoch": 14, "state_dict": state}, path)
    return enc, head


def test_released_layout_loads_and_matches_reference(tmp_path):
    enc, head = timecycle_file(tmp_path / "checkpoint_14.pth.tar", seed=5)
    assert enc["layer1.0.conv1.weight"].dim() == 4
    model = vosbench.create_model("timecycle", checkpoint=tmp_path / "checkpoint_14.pth.tar")
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1))  # square, as its DAVIS loader
    with torch.inference_mode():
        got = model(x)
        want = F.relu(F.conv2d(reference_layer3(x, enc, 50), head[:, :, 0]))
    assert got.shape == (1, 512, 6, 6) == want.shape
    assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item()
    assert want.abs().mean() > 1e-3


def test_kernels_over_several_frames_and_other_formats_are_refused(tmp_path):
    timecycle_file(tmp_path / "t3.pth", time=3)
    with pytest.raises(CheckpointError, match="3-D kernel over 3 frames"):
        vosbench.create_model("timecycle", checkpoint=tmp_path / "t3.pth")
    torch.save({"epoch": 1, "state_dict": {"module.gray_encoder." + k: v for k, v in torchvision_state_dict(18).items()}},
               tmp_path / "uvc.pth")
    with pytest.raises(CheckpointError) as e:
        vosbench.create_model("timecycle", checkpoint=tmp_path / "uvc.pth")
    assert "\n" not in str(e.value) and "is not a TimeCycle checkpoint" in str(e.value) and "a UVC checkpoint (--model uvc)" in str(e.value)
