"""Cheap deterministic encoders for propagation tests."""

from __future__ import annotations

import torch

from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder


class PatchConv(Encoder):
    """A seeded ``stride`` x ``stride`` convolution with stride ``stride``: features with spatial variety."""

    def __init__(self, name: str, stride: int, channels: int, seed: int):
        super().__init__(ModelSpec(name=name, description="test", factory="-", stride=stride, channels=channels))
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, channels, stride, stride=stride)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)
