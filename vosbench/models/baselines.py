"""Parameter-free baselines: ``identity`` and ``lab``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from vosbench.core.errors import ConfigError
from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder


def _no_checkpoint(spec: ModelSpec, checkpoint: Any, options: dict[str, Any]) -> None:
    if checkpoint is not None:
        raise ConfigError(f"model {spec.name!r} has no weights; drop --checkpoint")
    if options:
        raise ConfigError(f"model {spec.name!r} takes no options, got {', '.join(options)}")


class IdentityEncoder(Encoder):
    """Constant features. The engine does not propagate with them: a spec with
    ``copy_first_frame=True`` makes every prediction the first-frame labels, unchanged."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        s = self.stride
        return x.new_ones(b, 1, -(-h // s), -(-w // s))


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> CIE Lab (D65), channels (L in [0, 100], a, b)."""
    lin = torch.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    m = x.new_tensor(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
    )
    xyz = torch.einsum("ij,bjhw->bihw", m, lin)
    white = x.new_tensor([0.95047, 1.0, 1.08883]).view(1, 3, 1, 1)
    t = xyz / white
    eps = (6 / 29) ** 3
    f = torch.where(t > eps, t.clamp_min(eps) ** (1 / 3), t / (3 * (6 / 29) ** 2) + 4 / 29)
    L = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([L, a, b], dim=1)


class LabEncoder(Encoder):
    """CIE Lab colour, average-pooled over stride x stride cells (ceil mode at the borders).

    Channels are centred and scaled ((L - 50) / 50, a / 50, b / 50) so that cosine similarity
    compares colours rather than only brightness.
    """

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        lab = rgb_to_lab(x.clamp(0, 1))
        lab = torch.stack([(lab[:, 0] - 50) / 50, lab[:, 1] / 50, lab[:, 2] / 50], dim=1)
        s = self.stride
        return F.avg_pool2d(lab, kernel_size=s, stride=s, ceil_mode=True)


def build_identity(spec: ModelSpec, checkpoint: Any = None, **options: Any) -> Encoder:
    _no_checkpoint(spec, checkpoint, options)
    return IdentityEncoder(spec).eval()


def build_lab(spec: ModelSpec, checkpoint: Any = None, **options: Any) -> Encoder:
    _no_checkpoint(spec, checkpoint, options)
    return LabEncoder(spec).eval()
