"""DUL (Araslanov, Schaub-Meyer, Roth, NeurIPS 2021, "Dense Unsupervised Learning for Video
Segmentation"), ResNet-18 read at ``res4``.

Architecture (visinf/dense-ulearn-vos @88e5e35 ``models/resnet18.py``, ``models/net.py``,
``infer_vos.py``): a torchvision ResNet-18 whose ``modify()`` sets every convolution of layer3 and
layer4 to stride 1 (zero padding, max-pool kept); ``Net.forward`` returns ``res4`` = layer4 (the
``infer_vos.sh`` default ``KEY=res4``), L2-normalised by the engine: stride 8, 512 channels.
Frames are RGB normalised with the ImageNet mean/std (``datasets/dataloader_base.py``).

Checkpoint (``utils/checkpoints.py``, ``infer_vos.py``): ``{'model', 'opt', 'score', 'epoch'}``;
``model`` is the ``Framework`` state dict (``module.`` stripped when present):
``fast_net.backbone.{conv1,bn1,layer1-4}.*`` in torchvision names and the projection
``fast_net.emb_q.*`` (dropped: inference at ``res4`` does not use it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import CheckpointLayout, build_encoder, require_key
from vosbench.models.resnet import stride8_resnet

BACKBONE = "fast_net.backbone."
EXPECTED = (
    "a DUL snapshot ({'model': fast_net.backbone.* (torchvision ResNet-18 names), fast_net.emb_q.*, "
    "'opt', 'score', 'epoch'} as its utils/checkpoints.py saves it)"
)


class DULEncoder(Encoder):
    """ResNet-18 with layer3 and layer4 at stride 1, read at layer4 (512 channels, stride 8)."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.model = stride8_resnet("resnet18", keep_layer4=True)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        m: Any = self.model
        t = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        out: torch.Tensor = m.layer4(m.layer3(m.layer2(m.layer1(t))))
        return out


def _backbone(state: dict[str, Any]) -> dict[str, Any]:
    """``fast_net.backbone.X`` -> ``X``; any key outside the backbone is left for strict loading to
    report, except the projection ``fast_net.emb_q.*`` (dropped)."""
    return {k[len(BACKBONE) :] if k.startswith(BACKBONE) else k: v for k, v in state.items()}


DUL_LAYOUT = CheckpointLayout(
    weights_key="model",
    expected=EXPECTED,
    hint="expected fast_net.backbone.{conv1,bn1,layer1-4}.* (torchvision ResNet-18 names)",
    check=require_key(f"{BACKBONE}conv1.weight", EXPECTED),
    convert=_backbone,
    drop_prefixes=("fast_net.emb_q.",),
    target="model",
    wrapped_only=True,
)


def build_dul(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> Encoder:
    """Build DUL's encoder and load a released snapshot (``ytvos_e060_res4.pth``, ...).

    Args:
        spec: The model's spec (stride 8, 512 channels, ImageNet mean/std).
        checkpoint: A DUL snapshot; ``None`` gives a random initialisation with ``seed``.
        seed: Seed of the random initialisation.
    """
    return build_encoder(spec, lambda: DULEncoder(spec), checkpoint, DUL_LAYOUT, seed=seed, options=options)
