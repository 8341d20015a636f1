"""ResNets with CRW's stride-8 modification (ajabri/videowalk, code/resnet.py ``ResNet.modify``).

torchvision ResNet; every convolution of layer3 and layer4 gets stride 1 (downsample included),
layer4, the pooling head and the classifier are removed. Output = layer3 (res4): 256 channels
for ResNet-18, 1024 for ResNet-50, at stride 8. ``padding="reflect"`` switches every
convolution to reflect padding (CRW's own encoder).
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchvision import models as tvm

from vosbench.core.errors import ConfigError
from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import CheckpointLayout, build_encoder

ARCHS = {"resnet18": tvm.resnet18, "resnet50": tvm.resnet50}


def stride8_resnet(arch: str, padding: str = "zeros", keep_layer4: bool = False) -> nn.Module:
    """torchvision ``arch`` with every convolution of layer3 and layer4 at stride 1 and avgpool/fc
    removed; layer4 is removed too unless ``keep_layer4`` (UVC and DUL read layer4 at stride 8)."""
    net = ARCHS[arch](weights=None)
    for layer in (net.layer3, net.layer4):
        for m in layer.modules():
            if isinstance(m, nn.Conv2d):
                m.stride = (1, 1)
    if padding != "zeros":
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.padding_mode = padding  # type: ignore[assignment]  # checked by Conv2d at call time
    if not keep_layer4:
        del net.layer4
    del net.fc, net.avgpool
    return net


class ResNetEncoder(Encoder):
    """Stride-8 ResNet trunk (conv1, bn1, relu, maxpool, layer1-3) as an :class:`Encoder`.

    The torchvision module sits under ``self.model``, so its state-dict keys are ``model.*``.
    """

    def __init__(self, spec: ModelSpec, arch: str, padding: str = "zeros"):
        super().__init__(spec)
        self.model: nn.Module = stride8_resnet(arch, padding)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        m: Any = self.model  # a torchvision ResNet without layer4/fc
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        out: torch.Tensor = m.layer3(m.layer2(m.layer1(x)))
        return out


def _arch_of(spec: ModelSpec) -> str:
    for arch in ARCHS:
        if spec.name.startswith(arch):
            return arch
    raise ConfigError(f"model {spec.name!r}: cannot tell the ResNet depth from its name")


def _torchvision_hint(state: Mapping[str, Any]) -> str:
    hint = "expected a torchvision ResNet state dict (conv1.weight, bn1.*, layer1-3.*)"
    if any(k.startswith("encoder.model.") for k in state):
        hint += "; this is a CRW checkpoint (encoder.model.*): use --model crw"
    return hint


TORCHVISION_LAYOUT = CheckpointLayout(
    weights_key="state_dict",
    expected="a torchvision ResNet state dict (e.g. resnet18-f37072fd.pth or resnet18-5c106cde.pth)",
    hint=_torchvision_hint,
    drop_prefixes=("layer4.", "fc."),
    target="model",
)


def build_resnet(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> Encoder:
    """Build a stride-8 ResNet; load a torchvision/ImageNet state dict, else random init (``seed``).

    Both the legacy ImageNet files (``resnet18-5c106cde.pth``, ``resnet50-19c8e357.pth``) and the
    current torchvision ones (``resnet18-f37072fd.pth``, ``resnet50-0676ba61.pth``) use the plain
    torchvision key names; ``layer4.*`` and ``fc.*`` are dropped, everything else must match.
    """
    arch = _arch_of(spec)
    return build_encoder(spec, lambda: ResNetEncoder(spec, arch), checkpoint, TORCHVISION_LAYOUT, seed=seed, options=options)
