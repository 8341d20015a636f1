"""ResNets with CRW's stride-8 modification (SPEC §1.2).

torchvision ResNet; every convolution of layer3 and layer4 gets stride 1 (downsample included),
layer4, the pooling head and the classifier are removed. Output = layer3 (res4): 256 channels
for ResNet-18, 1024 for ResNet-50, at stride 8. ``padding="reflect"`` switches every
convolution to reflect padding (CRW's own encoder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision import models as tvm

from vosbench.harness.errors import ConfigError
from vosbench.harness.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import load_checkpoint_file, load_strict, strip_prefix

ARCHS = {"resnet18": tvm.resnet18, "resnet50": tvm.resnet50}


def stride8_resnet(arch: str, padding: str = "zeros") -> nn.Module:
    """torchvision ``arch`` with layer3 strides set to 1 and layer4/avgpool/fc removed."""
    net = ARCHS[arch](weights=None)
    for layer in (net.layer3, net.layer4):
        for m in layer.modules():
            if isinstance(m, nn.Conv2d):
                m.stride = (1, 1)
    if padding != "zeros":
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.padding_mode = padding
    del net.layer4, net.fc, net.avgpool
    return net


class ResNetEncoder(Encoder):
    def __init__(self, spec: ModelSpec, arch: str, padding: str = "zeros"):
        super().__init__(spec)
        self.model = stride8_resnet(arch, padding)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        return m.layer3(m.layer2(m.layer1(x)))


def _arch_of(spec: ModelSpec) -> str:
    for arch in ARCHS:
        if spec.name.startswith(arch):
            return arch
    raise ConfigError(f"model {spec.name!r}: cannot tell the ResNet depth from its name")


def build_resnet(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> Encoder:
    """Build a stride-8 ResNet; load a torchvision/ImageNet state dict, else random init (``seed``)."""
    if options:
        raise ConfigError(f"model {spec.name!r}: unknown options {', '.join(options)} (valid: seed)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        enc = ResNetEncoder(spec, _arch_of(spec))
    if checkpoint is not None:
        state = load_checkpoint_file(checkpoint)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        state = strip_prefix(state, ("module.",))
        load_strict(
            enc.model,
            state,
            source=str(checkpoint),
            drop_prefixes=("layer4.", "fc."),
            hint="expected a torchvision ResNet state dict (conv1.weight, bn1.*, layer1-3.*)",
        )
    return enc.eval()
