"""UVC (Li et al., NeurIPS 2019, "Joint-task Self-supervised Learning for Temporal Correspondence").

Encoder (Liusifei/UVC ``test.py``, ``libs/model.py:Model_switchGTfixdot_swCC_Res``,
``libs/resnet.py``, ``libs/test_utils.py:read_frame``): only the Lab lightness reaches the
encoder. The script converts the 8-bit BGR frame with OpenCV's ``COLOR_BGR2LAB`` (L stored as
``round(L* x 255 / 100)``), keeps channel 0, maps it to ``(L8 - 128) / 128`` and, in the model,
back with ``(x + 1) / 2``: the encoder sees ``L8 / 256`` copied into three channels, each then
normalised with the ImageNet mean/std of its channel. The network is ``gray_encoder``, a
torchvision-layout ResNet-18 with ``uselayer=4``: layer3 and layer4 have stride 1 and the
output is layer4: stride 8, 512 channels.

vosbench computes L* from the RGB frame in floating point (sRGB, D65) and rounds it to 8 bits as
OpenCV does; OpenCV's 8-bit conversion runs in fixed point, so an L8 value may differ by one: on
100,000 uniformly random colours 86.2 % are equal and none differs by more than one (OpenCV 5.1.0,
``tests/test_models_uvc.py``).

Checkpoint (``test.py``): ``{'epoch', 'best_loss', 'state_dict'}`` saved from ``nn.DataParallel``:
``module.gray_encoder.*`` (torchvision ResNet-18 names, layer4 included, no fc), plus the colour
``module.rgb_encoder.*`` and ``module.decoder.*`` of training, which are dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.baselines import rgb_to_lab
from vosbench.models.catalog_resnet import IMAGENET_MEAN, IMAGENET_STD
from vosbench.models.checkpoints import CheckpointLayout, build_encoder, keep_prefixed, require_key
from vosbench.models.resnet import stride8_resnet

GRAY = "gray_encoder."
EXPECTED = "a UVC checkpoint ({'state_dict': module.gray_encoder.*, 'epoch', 'best_loss'} as UVC's test.py reads it)"


def lightness_u8(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) 8-bit Lab lightness ``round(L* x 255 / 100)``."""
    lab = rgb_to_lab(rgb.clamp(0, 1))
    return torch.round(lab[:, :1] * 2.55).clamp_(0, 255)


class UVCEncoder(Encoder):
    """``gray_encoder`` of UVC on the lightness channel: layer4 at stride 8 (512 channels)."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.model = stride8_resnet("resnet18", keep_layer4=True)
        self.register_buffer("gray_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("gray_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        gray = (lightness_u8(x) / 256).expand(-1, 3, -1, -1)
        m: Any = self.model
        t = (gray - self.get_buffer("gray_mean")) / self.get_buffer("gray_std")
        t = m.maxpool(m.relu(m.bn1(m.conv1(t))))
        out: torch.Tensor = m.layer4(m.layer3(m.layer2(m.layer1(t))))
        return out


UVC_LAYOUT = CheckpointLayout(
    weights_key="state_dict",
    expected=EXPECTED,
    hint="expected module.gray_encoder.{conv1,bn1,layer1-4}.* (torchvision ResNet-18 names)",
    check=require_key(f"{GRAY}conv1.weight", EXPECTED),
    convert=keep_prefixed(GRAY),
    target="model",
)


def build_uvc(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> Encoder:
    """Build UVC's lightness encoder and load a UVC checkpoint (``checkpoint_latest.pth.tar``).

    Args:
        spec: The model's spec (stride 8, 512 channels, no RGB normalisation: the encoder
            normalises its lightness input itself).
        checkpoint: UVC's training checkpoint; ``None`` gives a random initialisation with
            ``seed`` (tests; ``create_model`` requires a file).
        seed: Seed of the random initialisation.
    """
    return build_encoder(spec, lambda: UVCEncoder(spec), checkpoint, UVC_LAYOUT, seed=seed, options=options)
