"""CRW: ``pretrained.pth`` in its released structure loads strictly and gives the features of CRW's
encoder (ajabri/videowalk, code/resnet.py).

The reference restates the encoder from ajabri/videowalk (code/resnet.py, code/utils/__init__.py)
with functional ops: ResNet-18 with reflect padding on every convolution, stride 1 in layer3,
output of layer3, on ImageNet-normalised input.
"""

from __future__ import annotations

import argparse
import fractions
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import vosbench
from vosbench.core.errors import CheckpointError

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
# (channels, stride of block 0) of torchvision ResNet-18's layer1..4 before CRW's modification
LAYERS = [(64, 1), (128, 2), (256, 2), (512, 2)]


def official_model_state(seed: int = 0, padded_conv_keys: bool = False) -> OrderedDict:
    """CRW's ``model`` state dict: encoder.model.<ResNet-18 names> (layer4 included) + head."""
    g = torch.Generator().manual_seed(seed)
    sd: OrderedDict = OrderedDict()
    enc = "encoder.model."

    def conv(name, cout, cin, k):
        # older CRW files wrap convolutions as Sequential(pad, conv): '<name>.1.weight'
        key = f"{enc}{name}.1.weight" if padded_conv_keys and name.split(".")[-1] in ("conv1", "conv2") else f"{enc}{name}.weight"
        sd[key] = torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5

    def bn(name, c):
        sd[f"{enc}{name}.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
        sd[f"{enc}{name}.bias"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{enc}{name}.running_mean"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{enc}{name}.running_var"] = 0.5 + torch.rand(c, generator=g)
        sd[f"{enc}{name}.num_batches_tracked"] = torch.tensor(99)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    cin = 64
    for i, (cout, stride) in enumerate(LAYERS, start=1):
        for b in range(2):
            p = f"layer{i}.{b}"
            conv(f"{p}.conv1", cout, cin if b == 0 else cout, 3)
            bn(f"{p}.bn1", cout)
            conv(f"{p}.conv2", cout, cout, 3)
            bn(f"{p}.bn2", cout)
            if b == 0 and (stride != 1 or cin != cout):
                conv(f"{p}.downsample.0", cout, cin, 1)
                bn(f"{p}.downsample.1", cout)
        cin = cout
    sd["selfsim_fc.0.weight"] = 0.01 * torch.randn(128, 512, generator=g)
    sd["selfsim_fc.0.bias"] = torch.zeros(128)
    return sd


def save_official(path, model_state, extra_args=None):
    """CRW train.py's structure: {'model', 'optimizer', 'lr_scheduler', 'epoch', 'args'}."""
    args = argparse.Namespace(
        model_type="scratch", temp=0.05, remove_layers=["layer4"], head_depth=0, lr_milestones=[1000], **(extra_args or {})
    )
    optimizer = {"state": {}, "param_groups": [{"lr": 1e-4, "momentum": 0.9, "weight_decay": 1e-4, "params": [0, 1]}]}
    scheduler = {"milestones": {1000: 1}, "gamma": 0.1, "base_lrs": [1e-4], "last_epoch": 5, "_step_count": 6}
    torch.save({"model": model_state, "optimizer": optimizer, "lr_scheduler": scheduler, "epoch": 5, "args": args}, path)
    return path


def reference_features(x: torch.Tensor, sd: dict) -> torch.Tensor:
    """CRW's encoder (ajabri/videowalk, code/resnet.py) restated with functional ops."""
    w = {}
    for k, v in sd.items():
        if k.startswith("encoder.model."):
            k = k[len("encoder.model.") :].replace("conv1.1.weight", "conv1.weight").replace("conv2.1.weight", "conv2.weight")
            w[k] = v

    def conv(t, name, stride, pad):
        if pad:
            t = F.pad(t, (pad, pad, pad, pad), mode="reflect")
        return F.conv2d(t, w[name + ".weight"], stride=stride)

    def bn(t, name):
        return F.batch_norm(t, w[name + ".running_mean"], w[name + ".running_var"], w[name + ".weight"], w[name + ".bias"], eps=1e-5)

    t = (x - MEAN) / STD
    t = F.relu(bn(conv(t, "conv1", 2, 3), "bn1"))
    t = F.max_pool2d(t, 3, stride=2, padding=1)
    for i, stride in ((1, 1), (2, 2), (3, 1)):  # layer3: stride 1 (CRW), layer4 not used
        for b in range(2):
            p = f"layer{i}.{b}"
            s = stride if b == 0 else 1
            y = F.relu(bn(conv(t, p + ".conv1", s, 1), p + ".bn1"))
            y = bn(conv(y, p + ".conv2", 1, 1), p + ".bn2")
            short = bn(conv(t, p + ".downsample.0", s, 0), p + ".downsample.1") if p + ".downsample.0.weight" in w else t
            t = F.relu(y + short)
    return t


@pytest.fixture(scope="module")
def frame(davis16_mini) -> torch.Tensor:
    img = Image.open(davis16_mini / "JPEGImages/480p/car-shadow/00020.jpg").convert("RGB").resize((214, 120))
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("padded_conv_keys", [False, True])
def test_official_checkpoint_loads_and_matches_reference(tmp_path, frame, padded_conv_keys):
    sd = official_model_state(seed=5, padded_conv_keys=padded_conv_keys)
    path = save_official(tmp_path / "pretrained.pth", sd)
    model = vosbench.create_model("crw", checkpoint=path)
    assert model.stride == 8
    x = torch.cat([frame, torch.rand(1, 3, 120, 214, generator=torch.Generator().manual_seed(2))])
    with torch.inference_mode():
        got = model(x)
        want = reference_features(x, sd)
    assert got.shape == (2, 256, 15, 27)
    assert (got - want).abs().max().item() <= 1e-5
    assert want.abs().mean() > 0.05
    # reflect padding matters: the same weights with zero padding give other features
    zero = vosbench.create_model("resnet18-imagenet", checkpoint=_as_torchvision(sd, tmp_path))
    with torch.inference_mode():
        assert (zero(x) - got).abs().max() > 1e-3


def _as_torchvision(sd, tmp_path):
    plain = {k[len("encoder.model.") :].replace("conv1.1.", "conv1.").replace("conv2.1.", "conv2."): v for k, v in sd.items() if k.startswith("encoder.model.")}
    torch.save(plain, tmp_path / "tv.pth")
    return tmp_path / "tv.pth"


def test_non_allowlisted_global_is_refused_with_advice(tmp_path):
    path = save_official(tmp_path / "odd.pth", official_model_state(), extra_args={"ratio": fractions.Fraction(1, 3)})
    with pytest.raises(CheckpointError) as e:
        vosbench.create_model("crw", checkpoint=path)
    msg = str(e.value)
    assert "fractions.Fraction" in msg and "weights_only=True" in msg
    assert "c['model']" in msg  # tells the user how to extract the weights from a trusted file


def test_bare_model_state_and_errors(tmp_path):
    sd = official_model_state(seed=1)
    torch.save(sd, tmp_path / "bare.pth")
    model = vosbench.create_model("crw", checkpoint=tmp_path / "bare.pth")
    assert torch.equal(model.model.conv1.weight, sd["encoder.model.conv1.weight"])

    del sd["encoder.model.layer2.0.downsample.0.weight"]
    sd["encoder.model.layer3.0.extra.weight"] = torch.zeros(1)
    save_official(tmp_path / "broken.pth", sd)
    with pytest.raises(CheckpointError) as e:
        vosbench.create_model("crw", checkpoint=tmp_path / "broken.pth")
    assert "missing keys: layer2.0.downsample.0.weight" in str(e.value)
    assert "unexpected keys: layer3.0.extra.weight" in str(e.value)

    torch.save({"model": {"conv1.weight": torch.zeros(64, 3, 7, 7)}}, tmp_path / "tv.pth")
    with pytest.raises(CheckpointError, match="not a CRW checkpoint"):
        vosbench.create_model("crw", checkpoint=tmp_path / "tv.pth")
