"""Image self-supervised ResNet-50s: MoCo v1/v2 (facebookresearch/moco), SimSiam
(facebookresearch/simsiam), PixPro (zdaxie/PixPro) and VICRegL (facebookresearch/VICRegL), with
CRW's stride-8 modification.

Architecture: the torchvision ResNet-50 both repositories train (``torchvision.models.__dict__
[args.arch]``), read at layer3 with the stride of layer3 set to 1 (stride 8, 1024 channels) as
the ``resnet50`` models of :mod:`vosbench.models.resnet`; ImageNet mean/std on RGB.

Checkpoints, as ``main_moco.py`` / ``main_simsiam.py`` save them from ``DistributedDataParallel``:
``{'epoch', 'arch', 'state_dict', 'optimizer'}``.

* MoCo: ``state_dict`` holds ``module.encoder_q.*`` (the query encoder, torchvision names),
  ``module.encoder_k.*`` (the momentum encoder), ``module.queue`` and ``module.queue_ptr``. As
  ``main_lincls.py`` does, only ``encoder_q`` is kept and its ``fc`` (v1: a linear layer, v2:
  an MLP ``fc.0`` / ``fc.2``) is dropped.
* SimSiam: ``module.encoder.*`` (torchvision names with a 3-layer projection MLP as ``fc``) and
  ``module.predictor.*``; as its ``main_lincls.py`` does, only ``encoder`` without ``fc`` is kept.

* PixPro (zdaxie/PixPro ``main_pretrain.py``): ``{'opt', 'model', 'optimizer', 'scheduler', 'epoch'}``,
  ``model`` holding ``module.encoder.*`` (torchvision names with the default 7x7 stem),
  ``module.encoder_k.*``, ``module.projector*`` and the pixel-propagation module; only ``encoder``
  is kept, as its ``main_linear.py`` does.
* VICRegL (facebookresearch/VICRegL ``hubconf.py``): the released backbone files
  (``resnet50_alpha0.9.pth``, ``resnet50_alpha0.75.pth``) are flat state dicts of its ``resnet.py``
  ResNet-50, torchvision names without ``fc``. Its stem pads by 1 (``ConstantPad2d``) and then
  convolves with padding 2: the same zero padding of 3 as torchvision's stem.

``layer4`` is dropped as well (the encoder ends at layer3). A file of another format is refused
with a one-line error naming what it holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import CheckpointLayout, build_encoder, keep_prefixed, refuse_layout, require_key
from vosbench.models.resnet import ResNetEncoder


_MOCO_EXPECTED = "a MoCo checkpoint ({'state_dict': module.encoder_q.*, ...} as saved by main_moco.py)"
_SIMSIAM_EXPECTED = "a SimSiam checkpoint ({'state_dict': module.encoder.*, ...} as saved by main_simsiam.py)"


def _layout(prefix: str, expected: str, weights_key: str = "state_dict") -> CheckpointLayout:
    """``weights_key`` entries under ``module.<prefix>`` in torchvision names; the rest dropped."""
    return CheckpointLayout(
        weights_key=weights_key,
        expected=expected,
        hint=f"expected module.{prefix}{{conv1,bn1,layer1-3}}.* (torchvision ResNet-50 names)",
        check=require_key(prefix + "conv1.weight", expected),
        convert=keep_prefixed(prefix),
        drop_prefixes=("layer4.", "fc."),
        target="model",
    )


_PIXPRO_EXPECTED = "a PixPro checkpoint ({'model': module.encoder.*, 'opt', 'optimizer', ...} as saved by main_pretrain.py)"
_VICREGL_EXPECTED = "a VICRegL backbone file (a flat torchvision-named ResNet-50 state dict without fc, resnet50_alpha*.pth)"


def _check_vicregl(state: dict[str, Any], source: str) -> None:
    if "conv1.weight" not in state or "layer1.0.conv1.weight" not in state or "fc.weight" in state:
        raise refuse_layout(state, source, _VICREGL_EXPECTED)


LAYOUTS = {
    "moco": _layout("encoder_q.", _MOCO_EXPECTED),
    "simsiam": _layout("encoder.", _SIMSIAM_EXPECTED),
    "pixpro": _layout("encoder.", _PIXPRO_EXPECTED, weights_key="model"),
    "vicregl": CheckpointLayout(
        weights_key="model",
        expected=_VICREGL_EXPECTED,
        hint="expected conv1.weight, bn1.*, layer1-3.* (torchvision ResNet-50 names)",
        check=_check_vicregl,
        drop_prefixes=("layer4.",),
        target="model",
    ),
}


def build_ssl_resnet(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> Encoder:
    """Build a stride-8 ResNet-50 and load a MoCo (``moco-*``) or SimSiam (``simsiam-*``) checkpoint.

    Args:
        spec: The model's spec (stride 8, 1024 channels, ImageNet mean/std).
        checkpoint: The released pre-training checkpoint; ``None`` gives a random initialisation
            with ``seed`` (tests; ``create_model`` requires a file).
        seed: Seed of the random initialisation.
    """
    layout = LAYOUTS[spec.name.split("-")[0]]
    return build_encoder(spec, lambda: ResNetEncoder(spec, "resnet50"), checkpoint, layout, seed=seed, options=options)
