"""MAST (Lai, Lu, Xie, CVPR 2020, "MAST: A Memory-Augmented Self-Supervised Tracker").

Encoder (zlai0/MAST @a57b043 ``models/mast.py``, ``models/submodule.py:ResNet18``,
``functional/feeder/dataset/DavisLoaderLab.py``): the frame is read with OpenCV, divided by 255
and converted with ``cv2.cvtColor(..., COLOR_BGR2Lab)`` in floating point (L in [0, 100], a and b
in about [-127, 127]), then normalised with mean (50, 0, 0) and std (50, 127, 127). The network
is ``feature_extraction`` (the ResNet-18-like trunk CorrFlow uses: 7x7 stem at stride 2 without
max-pool, stages of 64/128/256/256 channels with strides 1/2/1/1) followed by
``post_convolution`` (3x3, 256 -> 64, with bias): stride 4, 64 channels, no normalisation of the
output (MAST's colorizer correlates raw features). vosbench converts RGB to Lab in floating point
(sRGB, D65) as OpenCV's float path does (``tests/test_models_mast.py`` measures the difference).

Checkpoint (``main.py`` saves, ``benchmark.py`` loads with a strict ``load_state_dict`` before
wrapping in ``nn.DataParallel``): ``{'epoch', 'state_dict', 'optimizer'}`` with
``state_dict = model.module.state_dict()``: ``feature_extraction.*`` and ``post_convolution.*``
without a ``module.`` prefix (the colorizer has no parameters). The same keys *with* the prefix
are a CorrFlow checkpoint (CorrFlow saves the ``nn.DataParallel`` model), and are refused here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.baselines import rgb_to_lab
from vosbench.models.checkpoints import CheckpointLayout, build_encoder, refuse_layout
from vosbench.models.corrflow import CorrFlowTrunk

#: MAST's Lab normalisation (DavisLoaderLab.py ``l_prep``)
LAB_MEAN = (50.0, 0.0, 0.0)
LAB_STD = (50.0, 127.0, 127.0)
EXPECTED = (
    "a MAST checkpoint ({'epoch', 'state_dict': feature_extraction.*, post_convolution.* without a "
    "'module.' prefix, 'optimizer'} as MAST's main.py saves it)"
)


def normalised_lab(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> float Lab normalised with mean (50, 0, 0), std (50, 127, 127)
    (MAST's and Spa-then-Temp's input)."""
    mean, std = x.new_tensor(LAB_MEAN).view(1, 3, 1, 1), x.new_tensor(LAB_STD).view(1, 3, 1, 1)
    return (rgb_to_lab(x.clamp(0, 1)) - mean) / std


class MASTEncoder(Encoder):
    """``post_convolution(feature_extraction(lab))``: 64 channels at stride 4."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.feature_extraction = CorrFlowTrunk()
        self.post_convolution = nn.Conv2d(256, 64, 3, stride=1, padding=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.post_convolution(self.feature_extraction(normalised_lab(x)))
        return out


def _check_mast(state: dict[str, Any], source: str) -> None:
    if "feature_extraction.conv1.0.weight" not in state or any(k.startswith("module.") for k in state):
        raise refuse_layout(state, source, EXPECTED)


MAST_LAYOUT = CheckpointLayout(
    weights_key="state_dict",
    expected=EXPECTED,
    hint="expected MAST keys feature_extraction.{conv1,layer1-4}.*, post_convolution.*",
    strip=(),
    check=_check_mast,
)


def build_mast(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> Encoder:
    """Build MAST's encoder and load a MAST checkpoint (``checkpoint.pt`` of the README's drive link).

    Args:
        spec: The model's spec (stride 4, 64 channels, no RGB normalisation: the encoder converts
            to Lab and normalises itself).
        checkpoint: MAST's training checkpoint; ``None`` gives a random initialisation with
            ``seed`` (tests; ``create_model`` requires a file).
        seed: Seed of the random initialisation.
    """
    return build_encoder(spec, lambda: MASTEncoder(spec), checkpoint, MAST_LAYOUT, seed=seed, options=options)
