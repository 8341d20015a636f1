"""Spa-then-Temp (Li & Liu, CVPR 2023, "Spatial-then-Temporal Self-Supervised Learning for Video
Correspondence"), ResNet-18 and ResNet-50 read at layer3, at stride 4 or 8.

Architecture (qianduoduolr/Spa-then-Temp @4c94362 ``vcl/models/backbones/resnet.py``,
``configs/test/res{18,50}_d{4,8}.py``): an mmcv ResNet (torchvision block layout; the stride sits
on the first 3x3 convolution of a block and on its 1x1 projection) whose stem is ``conv1`` (7x7,
stride 2, BN, ReLU) followed by the config's ``pool_type``; the output is layer3 (``out_indices
(2,)``):

* ``d8``: ``strides (1, 2, 2, 1)``, ``pool_type 'none'``: no pooling after the stem, stride 8;
* ``d4``: ``strides (1, 1, 1, 1)``, ``pool_type 'mean'``: ``AvgPool2d(3, stride 2, padding 1)``
  (zero padding counted in the mean), stride 4.

256 channels (ResNet-18) or 1024 (ResNet-50). Input (``configs/test/base_data.py``): RGB / 255
converted with ``cv2.cvtColor(..., COLOR_RGB2Lab)`` in float and normalised with mean (50, 0, 0),
std (50, 127, 127), as MAST (:func:`vosbench.models.mast.normalised_lab`).

Checkpoints: ``tools/test.py`` builds a ``VanillaTracker`` (``backbone.*``) and loads the file with
mmcv's ``load_checkpoint`` (``file['state_dict']``, ``module.`` stripped, other entries ignored).
vosbench reads ``backbone.*`` (mmcv ``ConvModule`` names: ``conv1.conv``, ``conv1.bn``,
``layerI.J.convK.{conv,bn}``, ``downsample.{conv,bn}``), renames them to torchvision's, drops
``layer4`` and refuses a file without a complete backbone. Every other entry of the file (a
training run's teacher ``backbone_t.*``, heads) is dropped. A VFS training checkpoint has the same
``backbone.*`` layout and cannot be told apart from the keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision import models as tvm

from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import CheckpointLayout, build_encoder, refuse_layout
from vosbench.models.mast import normalised_lab
from vosbench.models.vfs import BACKBONE, vfs_state_to_resnet

EXPECTED = (
    "a Spa-then-Temp checkpoint (mmcv: {'meta', 'state_dict': backbone.conv1.conv.*, backbone.layerI.J.convK.{conv,bn}.*, ...})"
)


def _set_stage_stride(layer: nn.Module, stride: int) -> None:
    """Set the stride of a torchvision stage's first block (its first 3x3 convolution and projection)."""
    block: Any = layer[0]  # type: ignore[index]
    conv = block.conv2 if isinstance(block, tvm.resnet.Bottleneck) else block.conv1
    conv.stride = (stride, stride)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)


class SpaThenTempEncoder(Encoder):
    """The test config's ResNet trunk through layer3, on normalised Lab input."""

    def __init__(self, spec: ModelSpec, arch: str, stride: int):
        super().__init__(spec)
        net = tvm.resnet50(weights=None) if arch == "resnet50" else tvm.resnet18(weights=None)
        if stride == 4:  # pool_type 'mean', strides (1, 1, 1, 1)
            net.maxpool = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
            _set_stage_stride(net.layer2, 1)
            _set_stage_stride(net.layer3, 1)
        else:  # pool_type 'none', strides (1, 2, 2, 1): torchvision's own stage strides
            net.maxpool = nn.Identity()
        del net.layer4, net.fc, net.avgpool
        self.model = net

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        m: Any = self.model
        t = m.maxpool(m.relu(m.bn1(m.conv1(normalised_lab(x)))))
        out: torch.Tensor = m.layer3(m.layer2(m.layer1(t)))
        return out


def _check(state: dict[str, Any], source: str) -> None:
    if f"{BACKBONE}conv1.conv.weight" not in state and f"module.{BACKBONE}conv1.conv.weight" not in state:
        raise refuse_layout(state, source, EXPECTED)


def _backbone(state: dict[str, Any]) -> dict[str, Any]:
    return vfs_state_to_resnet({k: v for k, v in state.items() if k.startswith(BACKBONE)})


SPA_THEN_TEMP_LAYOUT = CheckpointLayout(
    weights_key="state_dict",
    expected=EXPECTED,
    hint="expected backbone.conv1.{conv,bn}.*, backbone.layer1-3.* (mmcv ConvModule names)",
    check=_check,
    convert=_backbone,
    drop_prefixes=("layer4.",),
    target="model",
)


def build_spa_then_temp(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> Encoder:
    """Build a Spa-then-Temp encoder (depth and stride from the spec: ``spa-then-temp-r18-d8``, ...)
    and load a released checkpoint.

    Args:
        spec: Its name ends in ``-r18-d4``, ``-r18-d8``, ``-r50-d4`` or ``-r50-d8``.
        checkpoint: A released (mmcv) file; ``None`` gives a random initialisation with ``seed``.
        seed: Seed of the random initialisation.
    """
    arch = "resnet50" if "-r50-" in spec.name else "resnet18"
    return build_encoder(
        spec, lambda: SpaThenTempEncoder(spec, arch, spec.stride), checkpoint, SPA_THEN_TEMP_LAYOUT, seed=seed, options=options
    )
