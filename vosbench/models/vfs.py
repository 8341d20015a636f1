"""VFS (Xu & Wang, ICCV 2021, "Rethinking Self-supervised Correspondence Learning: A Video Frame-level
Similarity Perspective"), ResNet-18 and ResNet-50.

Architecture (xvjiarui/VFS ``mmaction/models/backbones/resnet.py`` and ``tools/test.py``): the
test script builds a ``VanillaTracker`` around the config's backbone with the config's
``test_cfg.strides = (1, 2, 1, 1)`` and ``test_cfg.out_indices = (2,)``, i.e. an ordinary
ResNet (zero padding, 7x7 stem, max-pool, torchvision block layout: the stride sits on the
first 3x3 convolution of a basic block and on the 3x3 convolution of a bottleneck) whose
layer3 and layer4 have stride 1, read at layer3 ("res4"): stride 8, 256 channels (ResNet-18) or
1024 (ResNet-50). That is vosbench's stride-8 ResNet (:mod:`vosbench.models.resnet`); layer4
is not needed. Inputs are RGB normalised with the ImageNet mean/std (the config's
``img_norm_cfg`` in 0-255 units).

Checkpoints: ``tools/test.py`` passes the released file to the backbone's ``pretrained`` with
mmaction's default ``torchvision_pretrain=True``, whose loader
(``ResNet._load_torchvision_checkpoint``) reads ``file['state_dict']`` in torchvision key names
(``conv1.weight``, ``bn1.*``, ``layerI.J.{conv,bn}K.*``, ``layerI.J.downsample.{0,1}.*``): the
release files (``r18_nc_sgd_cos_100e_r2_1xNx8_k400-db1a4c0d.pth``, ...) are
``{'state_dict': <torchvision names, layer4 included, no fc>, 'meta': {...}}``, as written by the
repository's ``tools/convert_weights/convert_to_pretrained.py``. A training checkpoint of the
mmaction tracker (``backbone.conv1.conv.weight``, ``backbone.layerI.J.convK.bn.*``, plus
``img_head.*`` and the ``iteration`` buffer) loads too: its backbone keys are renamed as that
script does, everything else is dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import (
    CheckpointLayout,
    build_encoder,
    keep_prefixed,
    mmcv_resnet_to_torchvision,
    refuse_layout,
)
from vosbench.models.resnet import ResNetEncoder

BACKBONE = "backbone."
EXPECTED = (
    "a VFS checkpoint ({'state_dict': torchvision ResNet names conv1/bn1/layer1-4, 'meta'} as released, "
    "or an mmaction training checkpoint with backbone.* keys)"
)


def _check_vfs(state: dict[str, Any], source: str) -> None:
    keys = set(state)
    if "conv1.weight" in keys and "layer1.0.conv1.weight" in keys and "fc.weight" not in keys:
        return
    if f"{BACKBONE}conv1.conv.weight" in keys:
        return
    raise refuse_layout(state, source, EXPECTED)


def vfs_state_to_resnet(state: dict[str, Any]) -> dict[str, Any]:
    """Released files are already in torchvision names; training checkpoints keep ``backbone.*``."""
    if not any(k.startswith(BACKBONE) for k in state):
        return state
    return mmcv_resnet_to_torchvision(keep_prefixed(BACKBONE)(state))


VFS_LAYOUT = CheckpointLayout(
    weights_key="state_dict",
    expected=EXPECTED,
    hint="expected torchvision ResNet names conv1.weight, bn1.*, layer1-3.* (layer4 is dropped)",
    check=_check_vfs,
    convert=vfs_state_to_resnet,
    drop_prefixes=("layer4.",),
    target="model",
)


def build_vfs(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> Encoder:
    """Build a VFS encoder (ResNet-18 or -50 by the spec's name) and load a VFS checkpoint.

    Args:
        spec: ``vfs-r18`` (256 channels) or ``vfs-r50`` (1024 channels), stride 8.
        checkpoint: A released VFS file or an mmaction training checkpoint; ``None`` gives a
            random initialisation with ``seed`` (tests; ``create_model`` requires a file).
        seed: Seed of the random initialisation.
    """
    arch = "resnet50" if spec.name.endswith("r50") else "resnet18"
    return build_encoder(spec, lambda: ResNetEncoder(spec, arch), checkpoint, VFS_LAYOUT, seed=seed, options=options)
