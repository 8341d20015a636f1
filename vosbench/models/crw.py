"""CRW (Jabri et al., NeurIPS 2020, "Space-Time Correspondence as a Contrastive Random Walk").

Architecture (ajabri/videowalk, code/resnet.py and code/utils/__init__.py): torchvision
ResNet-18 with every convolution switched to reflect padding, stride 1 on every convolution of
layer3 (and layer4), layer4/avgpool/fc removed. The output is layer3 at stride 8 with 256
channels; the max-pool keeps its ordinary padding. Only the encoder is used at test time; the
training head is not applied.

Checkpoint (ajabri/videowalk, code/train.py and code/test.py): the released ``pretrained.pth`` is
what CRW's ``train.py`` saves,
``{'model': state_dict, 'optimizer', 'lr_scheduler', 'epoch', 'args': argparse.Namespace}``.
The state dict holds ``encoder.model.<torchvision ResNet-18 names>`` plus the projection head
``selfsim_fc.*``. Older files store some convolutions as ``Sequential(pad, conv)``, i.e. keys
ending in ``conv1.1.weight`` / ``conv2.1.weight``; those are renamed to ``conv1.weight`` /
``conv2.weight`` as CRW's ``test.py`` does. The head and, when present, ``layer4`` and ``fc``
are ignored; every other key must match exactly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


from vosbench.core.errors import CheckpointError
from vosbench.core.specs import ModelSpec
from vosbench.models.checkpoints import CheckpointLayout, build_encoder, strip_prefix
from vosbench.models.resnet import ResNetEncoder

ENCODER_PREFIX = "encoder.model."
HEAD_PREFIX = "selfsim_fc."
# A convolution once wrapped as Sequential(padding, conv): its weight sits at index 1.
_PADDED_CONV = re.compile(r"(conv[12])\.1\.weight$")


def crw_state_to_resnet(state: dict[str, Any]) -> dict[str, Any]:
    """Map a CRW ``model`` state dict onto torchvision ResNet names.

    Keys under ``encoder.model.`` lose that prefix (and the old ``conv*.1.weight`` naming); the
    projection head ``selfsim_fc.*`` is dropped. Any other key is kept unchanged so that strict
    loading reports it as unexpected.
    """
    out: dict[str, Any] = {}
    for key, value in strip_prefix(state, ("module.",)).items():
        if key.startswith(HEAD_PREFIX):
            continue
        if key.startswith(ENCODER_PREFIX):
            key = _PADDED_CONV.sub(r"\1.weight", key[len(ENCODER_PREFIX) :])
        out[key] = value
    return out


def _check_crw(state: dict[str, Any], source: str) -> None:
    if not any(k.startswith(ENCODER_PREFIX) for k in strip_prefix(state, ("module.",))):
        raise CheckpointError(
            f"checkpoint {source} has no 'encoder.model.*' keys, so it is not a CRW checkpoint "
            f"(first keys: {', '.join(list(state)[:4])}). A plain torchvision ResNet state dict "
            f"belongs to --model resnet18 / resnet18-imagenet."
        )


CRW_LAYOUT = CheckpointLayout(
    weights_key="model",
    expected="a CRW checkpoint {'model': {'encoder.model.*': ...}, ...} as saved by CRW's train.py",
    hint="expected CRW keys encoder.model.{conv1,bn1,layer1-3}.* (ResNet-18 names)",
    check=_check_crw,
    convert=crw_state_to_resnet,
    drop_prefixes=("layer4.", "fc."),
    target="model",
)


def build_crw(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> ResNetEncoder:
    """Build the CRW encoder and load a CRW checkpoint (``pretrained.pth`` layout).

    Args:
        spec: The model's spec (stride 8, 256 channels, ImageNet mean/std).
        checkpoint: CRW training checkpoint, or its bare ``model`` state dict. ``None`` gives a
            random initialisation with ``seed`` (used by tests; ``create_model`` requires a file).
        seed: Seed of the random initialisation.
    """
    return build_encoder(
        spec, lambda: ResNetEncoder(spec, "resnet18", padding="reflect"), checkpoint, CRW_LAYOUT, seed=seed, options=options
    )
