"""Contract tests of the model zoo on a real DAVIS frame, and the ImageNet ResNet files.

Every zoo model: output (B, C, ceil(H/s), ceil(W/s)) with the spec's channels, finite values,
deterministic for a fixed seed, and self-matching: L2-normalised features of a frame matched
against themselves (nearest neighbour, the model's native locality) give back the frame-0 mask
with J = 1. Weights are the factory's seeded random initialisation (no checkpoint download).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import models as tvm

import vosbench
from vosbench.core.errors import ConfigError
from vosbench.core.labels import read_label_png
from vosbench.propagation.knn import ContextFrame, predict
from vosbench.propagation.protocol import PRESETS
from vosbench.core.registry import models
from vosbench.core.specs import resolve

ZOO = {
    "corrflow": (4, 64),
    "crw": (8, 256),
    "resnet18-imagenet": (8, 256),
    "resnet50-imagenet": (8, 1024),
    "dino-vits16": (16, 384),
    "dino-vits8": (8, 384),
    "dino-vitb16": (16, 768),
    "dino-vitb8": (8, 768),
}
H, W = 120, 214  # a 480x854 DAVIS frame downscaled by 4 (not a multiple of 8 or 16)


@pytest.fixture(scope="module")
def sample(davis16_mini):
    root = davis16_mini
    img = Image.open(root / "JPEGImages/480p/blackswan/00000.jpg").convert("RGB").resize((W, H), Image.BILINEAR)
    mask = read_label_png(root / "Annotations/480p/blackswan/00000.png", binary=True)
    mask = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((W, H), Image.NEAREST))
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255
    return x, torch.from_numpy(mask.astype(np.int64))


def build(name: str, seed: int = 0):
    spec = models.get(name)
    return resolve(spec.factory)(spec, checkpoint=None, seed=seed)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_contract_on_a_real_frame(name, sample):
    x, mask = sample
    stride, channels = ZOO[name]
    spec = models.get(name)
    assert (spec.stride, spec.channels, spec.checkpoint) == (stride, channels, "required")
    model = build(name)
    assert model.stride == stride
    with torch.inference_mode():
        f1 = model(x)
        f2 = build(name)(x)  # a second build with the same seed
    hf, wf = -(-H // stride), -(-W // stride)
    assert f1.shape == (1, channels, hf, wf)
    assert torch.isfinite(f1).all()
    assert torch.equal(f1, f2)

    # self-matching: each cell's nearest neighbour among the frame's own cells is itself
    protocol = PRESETS[spec.native_protocol].replace(topk=1, label_downsample="nearest")
    feats = F.normalize(f1[0], dim=0)
    small = F.interpolate(mask[None, None].float(), size=(hf, wf), mode="nearest-exact")[0, 0].long()
    labels = F.one_hot(small, 2).permute(2, 0, 1).float()
    assert labels[1].sum() > 5  # the swan is visible at feature resolution
    out = predict(feats, [ContextFrame(feats, labels, restricted=True)], protocol).argmax(0)
    inter = ((out == 1) & (small == 1)).sum().item()
    union = ((out == 1) | (small == 1)).sum().item()
    assert inter / union == 1.0


def test_zoo_models_need_a_checkpoint():
    for name in ZOO:
        with pytest.raises(ConfigError, match="needs --checkpoint"):
            vosbench.create_model(name)


def _stride8(net: torch.nn.Module) -> torch.nn.Module:
    for m in net.layer3.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.stride = (1, 1)
    return net.eval()


def _trunk(net, x):
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    t = net.maxpool(net.relu(net.bn1(net.conv1((x - mean) / std))))
    return net.layer3(net.layer2(net.layer1(t)))


@pytest.mark.parametrize("legacy", [False, True])
def test_imagenet_resnet18_current_and_legacy_files(tmp_path, sample, legacy):
    torch.manual_seed(7)
    net = tvm.resnet18(weights=None)
    sd = net.state_dict()  # plain torchvision keys: conv1.weight, bn1.*, layer1-4.*, fc.*
    for m in net.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    if legacy:  # pre-1.0 files have no num_batches_tracked
        sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    name = "resnet18-5c106cde.pth" if legacy else "resnet18-f37072fd.pth"
    torch.save(sd, tmp_path / name)
    model = vosbench.create_model("resnet18-imagenet", checkpoint=tmp_path / name)
    x, _ = sample
    with torch.inference_mode():
        got = model(x)
        want = _trunk(_stride8(net), x)
    assert got.shape == (1, 256, 15, 27)
    assert (got - want).abs().max().item() <= 1e-5


def test_imagenet_resnet50_file_loads(tmp_path):
    torch.manual_seed(8)
    sd = tvm.resnet50(weights=None).state_dict()
    torch.save(sd, tmp_path / "resnet50-19c8e357.pth")
    model = vosbench.create_model("resnet50-imagenet", checkpoint=tmp_path / "resnet50-19c8e357.pth")
    assert torch.equal(model.model.layer3[5].conv3.weight, sd["layer3.5.conv3.weight"])
    assert model.model.layer3[0].conv2.stride == (1, 1)
