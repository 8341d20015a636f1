"""CorrFlow: the released checkpoint layout loads strictly and gives the features of
CorrFlow's encoder (zlai0/CorrFlow, models/submodule.py).

The reference below restates the architecture from zlai0/CorrFlow (models/submodule.py,
models/corrflow.py) with functional ops only, reading the weights straight from a state dict built
key by key in the official layout (zlai0/CorrFlow, main.py saves the ``nn.DataParallel`` model's
state dict).
"""

from __future__ import annotations

import argparse
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import vosbench
from vosbench.core.errors import CheckpointError

# (channels, stride) of layer1..4 and whether block 0 has a projection shortcut (zlai0/CorrFlow,
# models/submodule.py)
STAGES = [(64, 1, False), (128, 2, True), (256, 1, True), (256, 1, False)]


def official_state_dict(seed: int = 0, batches_tracked: bool = True) -> OrderedDict:
    """A CorrFlow state dict with every key of the released file (``module.`` prefixed)."""
    g = torch.Generator().manual_seed(seed)

    def conv(cout, cin, k):
        return torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5

    def bn(prefix, c):
        sd[prefix + "weight"] = 1 + 0.1 * torch.randn(c, generator=g)
        sd[prefix + "bias"] = 0.1 * torch.randn(c, generator=g)
        sd[prefix + "running_mean"] = 0.1 * torch.randn(c, generator=g)
        sd[prefix + "running_var"] = 0.5 + torch.rand(c, generator=g)
        if batches_tracked:
            sd[prefix + "num_batches_tracked"] = torch.tensor(1234)

    sd: OrderedDict = OrderedDict()
    fe = "module.feature_extraction."
    sd[fe + "conv1.0.weight"] = conv(64, 3, 7)
    bn(fe + "conv1.1.", 64)
    cin = 64
    for i, (cout, stride, proj) in enumerate(STAGES, start=1):
        for b in range(2):
            p = f"{fe}layer{i}.{b}."
            sd[p + "left.0.weight"] = conv(cout, cin if b == 0 else cout, 3)
            bn(p + "left.1.", cout)
            sd[p + "left.3.weight"] = conv(cout, cout, 3)
            bn(p + "left.4.", cout)
            if b == 0 and proj:
                sd[p + "shortcut.0.weight"] = conv(cout, cin, 1)
                bn(p + "shortcut.1.", cout)
        cin = cout
    sd["module.post_convolution.weight"] = conv(64, 256, 3)
    sd["module.post_convolution.bias"] = 0.1 * torch.randn(64, generator=g)
    return sd


def reference_features(x: torch.Tensor, sd: dict) -> torch.Tensor:
    """CorrFlow's encoder (zlai0/CorrFlow, models/submodule.py) restated: conv1 (7x7 s2, BN, ReLU), 4 stages of residual blocks, post-conv."""
    sd = {k[len("module.") :]: v for k, v in sd.items()}

    def bn(t, p):
        return F.batch_norm(t, sd[p + "running_mean"], sd[p + "running_var"], sd[p + "weight"], sd[p + "bias"], eps=1e-5)

    def block(t, p, stride, proj):
        y = F.relu(bn(F.conv2d(t, sd[p + "left.0.weight"], stride=stride, padding=1), p + "left.1."))
        y = bn(F.conv2d(y, sd[p + "left.3.weight"], padding=1), p + "left.4.")
        s = bn(F.conv2d(t, sd[p + "shortcut.0.weight"], stride=stride), p + "shortcut.1.") if proj else t
        return F.relu(y + s)

    fe = "feature_extraction."
    t = F.relu(bn(F.conv2d(x, sd[fe + "conv1.0.weight"], stride=2, padding=3), fe + "conv1.1."))
    for i, (_, stride, proj) in enumerate(STAGES, start=1):
        t = block(t, f"{fe}layer{i}.0.", stride, proj)
        t = block(t, f"{fe}layer{i}.1.", 1, False)
    return F.conv2d(t, sd["post_convolution.weight"], sd["post_convolution.bias"], padding=1)


def save_official(path, sd):
    """The file structure of CorrFlow's main.py: {'epoch', 'state_dict', 'optimizer'}."""
    names = list(sd)
    optimizer = {
        "state": {0: {"step": torch.tensor(10.0), "exp_avg": torch.zeros_like(sd[names[0]])}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "params": [0]}],
    }
    torch.save({"epoch": 7, "state_dict": sd, "optimizer": optimizer}, path)
    return path


@pytest.fixture(scope="module")
def frame(davis16_mini) -> torch.Tensor:
    img = Image.open(davis16_mini / "JPEGImages/480p/car-shadow/00010.jpg").convert("RGB").resize((142, 80))
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255


def test_official_layout_has_the_spec_counts():
    sd = official_state_dict()
    assert len(sd) == 116  # the entries of CorrFlow's models/submodule.py trunk plus post_convolution
    assert sum(v.numel() for k, v in sd.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))) == 5_291_648


@pytest.mark.parametrize("batches_tracked", [True, False])
def test_official_checkpoint_loads_and_matches_reference(tmp_path, frame, batches_tracked):
    sd = official_state_dict(seed=3, batches_tracked=batches_tracked)
    path = save_official(tmp_path / "corrflow.pth", sd)
    model = vosbench.create_model("corrflow", checkpoint=path)
    assert model.stride == 4
    x = torch.cat([frame, torch.rand(1, 3, 80, 142, generator=torch.Generator().manual_seed(1))])
    with torch.inference_mode():
        got = model(x)
        want = reference_features(x, sd)  # no mean/std: CorrFlow feeds RGB in [0, 1]
    assert got.shape == (2, 64, 20, 36)
    assert (got - want).abs().max().item() <= 1e-5
    assert want.abs().mean() > 0.05  # the comparison is not between near-zero maps


def test_bare_state_dict_without_prefix_loads(tmp_path):
    sd = official_state_dict(seed=4)
    torch.save({k[len("module.") :]: v for k, v in sd.items()}, tmp_path / "bare.pth")
    model = vosbench.create_model("corrflow", checkpoint=tmp_path / "bare.pth")
    assert torch.equal(model.post_convolution.bias, sd["module.post_convolution.bias"])


def test_missing_extra_and_misshaped_keys_are_reported(tmp_path):
    sd = official_state_dict()
    del sd["module.feature_extraction.layer3.0.shortcut.0.weight"]
    sd["module.colorizer.weight"] = torch.zeros(1)
    sd["module.post_convolution.weight"] = torch.zeros(32, 256, 3, 3)
    save_official(tmp_path / "bad.pth", sd)
    with pytest.raises(CheckpointError) as e:
        vosbench.create_model("corrflow", checkpoint=tmp_path / "bad.pth")
    msg = str(e.value)
    assert "bad.pth" in msg
    assert "missing keys: feature_extraction.layer3.0.shortcut.0.weight" in msg
    assert "unexpected keys: colorizer.weight" in msg
    assert "post_convolution.weight: file (32, 256, 3, 3) vs model (64, 256, 3, 3)" in msg


def test_wrong_structure_and_required_checkpoint(tmp_path):
    torch.save({"epoch": 1, "model": argparse.Namespace(a=1)}, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match="'state_dict'"):
        vosbench.create_model("corrflow", checkpoint=tmp_path / "odd.pth")
    with pytest.raises(vosbench.core.errors.ConfigError, match="needs --checkpoint"):
        vosbench.create_model("corrflow")
