"""Base class of vosbench encoders.

An encoder takes RGB images as float tensors in [0, 1] of shape (B, 3, H, W), applies its own
input normalisation (from its :class:`~vosbench.core.specs.ModelSpec`), and returns features
of shape (B, C, ceil(H / s), ceil(W / s)), where ``s = encoder.stride``
(:mod:`vosbench.core.contract`).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vosbench.core.contract import check_shape
from vosbench.core.specs import ModelSpec


class Encoder(nn.Module):
    """Normalises, pads to the model's input multiple, runs :meth:`forward_features`, crops.

    Subclasses implement ``forward_features(x)`` on normalised input whose height and width are
    multiples of ``spec.input_multiple``; its output must have the contract's shape for that
    padded input (checked before the crop, so that a finer map than the stride says is refused
    instead of cut to size).
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.stride = spec.stride
        #: the checkpoint file the weights came from (set by ``create_model``; recorded with its hash)
        self.checkpoint_path: Path | None = None
        mean = torch.tensor(spec.mean if spec.mean is not None else (0.0, 0.0, 0.0)).view(1, 3, 1, 1)
        std = torch.tensor(spec.std if spec.std is not None else (1.0, 1.0, 1.0)).view(1, 3, 1, 1)
        self.register_buffer("input_mean", mean, persistent=False)
        self.register_buffer("input_std", std, persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.mean is None and self.spec.std is None:
            return x
        mean, std = self.get_buffer("input_mean"), self.get_buffer("input_std")
        return (x - mean) / std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{self.spec.name}: expected RGB input of shape (B, 3, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        x = self.normalize(x)
        m = self.spec.input_multiple
        if m > 1 and (h % m or w % m):
            x = F.pad(x, (0, (-w) % m, 0, (-h) % m), mode="replicate")
        f = check_shape(self.forward_features(x), x, self.stride, f"model {self.spec.name}")
        oh, ow = math.ceil(h / self.stride), math.ceil(w / self.stride)
        return f[..., :oh, :ow]
