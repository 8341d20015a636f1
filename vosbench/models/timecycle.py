"""TimeCycle / CycleTime (Wang, Jabri, Efros, CVPR 2019, "Learning Correspondence from the
Cycle-Consistency of Time").

Encoder (xiaolonw/TimeCycle ``models/videos/model_test.py:CycleTime``,
``models/videos/inflated_resnet.py``, ``models/videos/resnet_res4s1.py``): ``encoderVideo`` is a
torchvision-layout ResNet-50 whose layer3 has stride 1 ("res4s1"), inflated to 3-D convolutions
with a temporal kernel size of 1 (each frame is processed on its own), read at layer3 (stride 8,
1024 channels); then ``afterconv1`` (1x1 convolution 1024 -> 512, no bias) and a ReLU. The
DAVIS test script L2-normalises these 512-channel features (the protocol's ``l2_normalize``).
Inputs: RGB with the ImageNet mean/std (``models/dataset/davis_test.py``). The repository's
``convert_model.ipynb`` produces a standard ResNet-50 instead (stride 16, no ``afterconv1``):
not what its DAVIS test reads.

Checkpoint: ``{'epoch', 'state_dict', ...}`` saved from ``nn.DataParallel`` (PyTorch 0.4: no
``num_batches_tracked``): ``module.encoderVideo.{conv1,bn1,layer1-4}.*`` with 5-D kernels
(out, in, 1, kh, kw), ``module.afterconv1.weight`` (512, 1024, 1, 1, 1), and the training heads
(``afterconv3_trans``, ``afterconv4_trans``, ``linear2``), which are dropped, as is layer4.
``test_davis.py`` loads it with ``partial_load`` (matching keys only); vosbench loads strictly.

TimeCycle's own DAVIS propagation (``test_davis.py``: frames squashed to a cropSize x cropSize
square, per-frame softmax of cos x sqrt(512), top-5 per frame, min-max-normalised labels fed
back) is the ``timecycle`` preset, the model's native protocol: the features it reads are these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import CheckpointLayout, build_encoder, refuse_layout, squeeze_time_kernels
from vosbench.models.resnet import ResNetEncoder

ENCODER = "encoderVideo."
HEAD = "afterconv1.weight"
EXPECTED = "a TimeCycle checkpoint ({'state_dict': module.encoderVideo.*, module.afterconv1.weight, ...})"


class TimeCycleEncoder(ResNetEncoder):
    """Stride-8 ResNet-50 trunk (``model``), ``afterconv1`` and a ReLU: 512 channels at stride 8."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec, "resnet50")
        self.afterconv1 = nn.Conv2d(1024, 512, kernel_size=1, bias=False)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.afterconv1(super().forward_features(x)))


def _check_timecycle(state: dict[str, Any], source: str) -> None:
    if not any(k in state for k in (f"module.{ENCODER}conv1.weight", f"{ENCODER}conv1.weight")):
        raise refuse_layout(state, source, EXPECTED)


def timecycle_state(state: dict[str, Any], source: str = "checkpoint") -> dict[str, Any]:
    """``encoderVideo.*`` -> ``model.*`` and ``afterconv1.weight`` with 2-D kernels; heads dropped."""
    kept = {"model." + k[len(ENCODER) :]: v for k, v in state.items() if k.startswith(ENCODER)}
    if HEAD in state:
        kept[HEAD] = state[HEAD]
    return squeeze_time_kernels(kept, source)


TIMECYCLE_LAYOUT = CheckpointLayout(
    weights_key="state_dict",
    expected=EXPECTED,
    hint="expected module.encoderVideo.{conv1,bn1,layer1-3}.* (ResNet-50 names, 5-D kernels) and module.afterconv1.weight",
    check=_check_timecycle,
    convert=timecycle_state,
    drop_prefixes=("model.layer4.",),
)


def build_timecycle(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> Encoder:
    """Build the TimeCycle encoder and load the released checkpoint (``checkpoint_14.pth.tar``).

    Args:
        spec: The model's spec (stride 8, 512 channels, ImageNet mean/std).
        checkpoint: The released TimeCycle checkpoint; ``None`` gives a random initialisation
            with ``seed`` (tests; ``create_model`` requires a file).
        seed: Seed of the random initialisation.
    """
    return build_encoder(spec, lambda: TimeCycleEncoder(spec), checkpoint, TIMECYCLE_LAYOUT, seed=seed, options=options)
