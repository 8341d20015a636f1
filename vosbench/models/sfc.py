"""SFC (Hu, Wang, Zhang, Gao, ECCV 2022, "Semantic-Aware Fine-Grained Correspondence").

Two encoders (Alxead/SFC @c4e349a ``code/models/encoder.py``, ``code/models/resnet.py``,
``code/test_vos.py``), both CRW's stride-8 ResNet (``modify()``: every convolution of layer3 and
layer4 at stride 1, layer4 removed, zero padding) read at layer3 on ImageNet-normalised RGB:

* the fine-grained correspondence network ``sfc-fc-r18``: a ResNet-18 (256 channels), loaded from
  ``pretrained_fc.pth`` = ``{'model': FineGrained state dict, 'optimizer', ...}``: its
  ``online_encoder.*`` in torchvision names (``target_encoder``, projectors and predictor dropped);
* the semantic network: MoCo-v1 ResNet-50 (``moco_v1_200ep_pretrain.pth.tar``, 1024 channels; loaded
  as ``--model moco-v1-r50`` loads it).

Late fusion (``test_vos.py``): each encoder's features are L2-normalised, concatenated as
``[lambd * f_fc, f_semantic]`` and L2-normalised again (``lambd`` 1.75 in the README command). Both
maps have stride 8, so the fused cosine similarity is ``(lambd^2 A_fc + A_sem) / (1 + lambd^2)``: a
weighted sum of the two cosine affinities, before top-k and softmax. ``sfc`` returns
``[lambd * f_fc / |f_fc|, f_sem / |f_sem|]`` (1280 channels); the engine's L2 normalisation is the
second one of ``test_vos.py``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vosbench.core.errors import ConfigError
from vosbench.core.registry import models
from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import CheckpointLayout, build_encoder, keep_prefixed, require_key
from vosbench.models.factory import create_model
from vosbench.models.resnet import ResNetEncoder
from vosbench.models.ssl_resnet import build_ssl_resnet

ONLINE = "online_encoder."
EXPECTED = "an SFC fine-grained checkpoint ({'model': online_encoder.*, target_encoder.*, ..., 'optimizer'} as train.py saves it)"
#: the README's fusion weight (``--lambd 1.75``, also the argument's default)
LAMBD = 1.75


FC_LAYOUT = CheckpointLayout(
    weights_key="model",
    expected=EXPECTED,
    hint="expected online_encoder.{conv1,bn1,layer1-3}.* (torchvision ResNet-18 names)",
    check=require_key(f"{ONLINE}conv1.weight", EXPECTED),
    convert=keep_prefixed(ONLINE),
    drop_prefixes=("layer4.",),
    target="model",
    wrapped_only=True,
)


def build_sfc_fc(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> Encoder:
    """SFC's fine-grained correspondence network alone (``pretrained_fc.pth``); ``None``: random init."""
    return build_encoder(spec, lambda: ResNetEncoder(spec, "resnet18"), checkpoint, FC_LAYOUT, seed=seed, options=options)


class SFCEncoder(Encoder):
    """``[lambd * normalize(fc(x)), normalize(semantic(x))]``; each part normalises its own input."""

    def __init__(self, spec: ModelSpec, fc: Encoder, semantic: Encoder, lambd: float):
        super().__init__(spec)
        self.fc, self.semantic, self.lambd = fc, semantic, lambd

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        a = F.normalize(self.fc(x), dim=1) * self.lambd
        return torch.cat([a, F.normalize(self.semantic(x), dim=1)], dim=1)


def build_sfc(
    spec: ModelSpec,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    semantic: str | Path | None = None,
    lambd: float | str = LAMBD,
    **options: Any,
) -> Encoder:
    """SFC's late fusion of the fine-grained network (``checkpoint``) and MoCo-v1 (``semantic``).

    Args:
        spec: The ``sfc`` spec (stride 8, 1280 channels, no normalisation of its own).
        checkpoint: ``pretrained_fc.pth``; ``None`` (tests): both parts random with ``seed``.
        seed: Seed of the random initialisation.
        semantic: The MoCo-v1 ResNet-50 file (``--option semantic=PATH`` or the cached name
            ``moco-v1-r50``); required with a checkpoint.
        lambd: Weight of the fine-grained features (``--option lambd=1.75``).
    """
    if options:
        raise ConfigError(f"model {spec.name!r}: unknown options {', '.join(options)} (valid: seed, semantic, lambd)")
    try:
        weight = float(lambd)
    except ValueError:
        weight = math.nan
    if not (math.isfinite(weight) and weight > 0):
        raise ConfigError(f"model {spec.name!r}: option lambd={lambd!r} must be a number > 0")
    fc = build_sfc_fc(models.get("sfc-fc-r18"), checkpoint, seed=seed)
    if checkpoint is None and semantic is None:
        sem = build_ssl_resnet(models.get("moco-v1-r50"), None, seed=seed)
    elif semantic is None:
        raise ConfigError(
            f"model {spec.name!r} fuses two encoders: give the MoCo-v1 ResNet-50 file with --option "
            f"semantic=PATH (or semantic=moco-v1-r50 after `vosbench weights download moco-v1-r50`)"
        )
    else:
        sem = create_model("moco-v1-r50", checkpoint=semantic)
    return SFCEncoder(spec, fc, sem, weight)
