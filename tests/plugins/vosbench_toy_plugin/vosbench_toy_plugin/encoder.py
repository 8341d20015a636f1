"""The toy encoder: one fixed random convolution with kernel = stride = 8."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from vosbench import ConfigError, ModelSpec
from vosbench.models.base import Encoder


class ToyEncoder(Encoder):
    """Projects each 8x8 patch of the (padded) image with fixed random weights."""

    def __init__(self, spec: ModelSpec, seed: int = 0):
        super().__init__(spec)
        g = torch.Generator().manual_seed(seed)
        weight = torch.randn(spec.channels, 3, spec.stride, spec.stride, generator=g) / spec.stride
        self.register_buffer("weight", weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, stride=self.stride)


def build(spec: ModelSpec, checkpoint: Any = None, seed: int = 0, **options: Any) -> ToyEncoder:
    """Factory named by the spec: ``build(spec, checkpoint=None, **options) -> Encoder``."""
    if checkpoint is not None or options:
        raise ConfigError(f"model {spec.name!r} takes no checkpoint and only the option 'seed'")
    return ToyEncoder(spec, seed).eval()
