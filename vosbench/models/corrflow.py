"""CorrFlow (Lai & Xie, BMVC 2019, "Self-supervised Learning for Video Correspondence Flow").

Architecture (zlai0/CorrFlow, models/submodule.py and models/corrflow.py), restated here:
a ResNet-18-like trunk on RGB in [0, 1] (no mean/std)

* ``conv1`` = Sequential(conv 7x7 stride 2 padding 3 without bias, BatchNorm, ReLU), 3 -> 64
  channels, no max-pool;
* four stages of two residual blocks each: ``layer1`` 64 ch stride 1, ``layer2`` 128 ch stride 2,
  ``layer3`` 256 ch stride 1, ``layer4`` 256 ch stride 1. A block computes
  ``relu(left(x) + shortcut(x))`` with ``left`` = Sequential(conv 3x3 (stride s), BN, ReLU,
  conv 3x3, BN) (bias-free convolutions, so the parameters sit at ``left.{0,1,3,4}``) and
  ``shortcut`` = Sequential(conv 1x1 stride s, BN) where the stride or width changes (the first
  blocks of ``layer2`` and ``layer3``), the identity elsewhere;
* ``post_convolution`` = conv 3x3 padding 1 with bias, 256 -> 64, no activation.

Output stride 4, 64 channels: 848x480 -> 212x120. 5,291,648 parameters.

Checkpoint (zlai0/CorrFlow, main.py): ``{'epoch', 'state_dict', 'optimizer'}`` saved from
``nn.DataParallel``,
so every key starts with ``module.`` (``module.feature_extraction.*``,
``module.post_convolution.*``); with or without BatchNorm ``num_batches_tracked`` entries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import CheckpointLayout, build_encoder


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a (projected when needed) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.left = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.left(x) + self.shortcut(x))


class CorrFlowTrunk(nn.Module):
    """CorrFlow's ``feature_extraction`` network (stride 4, 256 channels)."""

    # (channels, stride) of layer1..layer4
    STAGES = ((64, 1), (128, 2), (256, 1), (256, 1))

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        cin = 64
        for i, (cout, stride) in enumerate(self.STAGES, start=1):
            self.add_module(f"layer{i}", nn.Sequential(ResidualBlock(cin, cout, stride), ResidualBlock(cout, cout, 1)))
            cin = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return x


class CorrFlowEncoder(Encoder):
    """``post_convolution(feature_extraction(rgb))``: 64 channels at stride 4."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.feature_extraction = CorrFlowTrunk()
        self.post_convolution = nn.Conv2d(256, 64, 3, stride=1, padding=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.post_convolution(self.feature_extraction(x))


CORRFLOW_LAYOUT = CheckpointLayout(
    weights_key="state_dict",
    expected="a CorrFlow checkpoint {'epoch', 'state_dict', 'optimizer'} as saved by CorrFlow's main.py",
    hint="expected CorrFlow keys module.feature_extraction.{conv1,layer1-4}.*, module.post_convolution.*",
)


def build_corrflow(
    spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any
) -> CorrFlowEncoder:
    """Build the CorrFlow encoder and load an official CorrFlow checkpoint.

    Args:
        spec: The model's spec (stride 4, 64 channels, no input normalisation).
        checkpoint: ``corrflow.pth`` as released (``{'epoch', 'state_dict', 'optimizer'}``) or a
            bare state dict, with or without the ``module.`` prefix. ``None`` gives a random
            initialisation with ``seed`` (used by tests; ``create_model`` requires a file).
        seed: Seed of the random initialisation.
    """
    return build_encoder(spec, lambda: CorrFlowEncoder(spec), checkpoint, CORRFLOW_LAYOUT, seed=seed, options=options)
