"""DINOv3 ViTs (Siméoni et al., 2025): the gated weights, where to get them and what to do with them.

The backbone files are behind a licence form (facebookresearch/dinov3 README: request access at
https://ai.meta.com/resources/models-and-libraries/dinov3-downloads/, then download the e-mailed URLs
with wget). Their names follow ``dinov3/hub/backbones.py``:
``dinov3_<arch>_pretrain_lvd1689m-<hash>.pth``; ``--checkpoint FILE`` names it. Without one, ``vosbench run``
says in one line where to request the file and what to do with it (the catalog entry's description).

Loading the released format is not implemented: the official ViT (RoPE positions, 4 storage tokens,
a masked key bias, LayerScale) was not restated and checked here. Until it is, every path ends in a
one-line error that says what to do; ``--model hf:facebook/dinov3-vits16-pretrain-lvd1689m``
(transformers >= 4.56, the same licence gate on the Hugging Face hub) or
``--model timm:vit_small_patch16_dinov3.lvd1689m`` (timm >= 1.0.20) run DINOv3 through those libraries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vosbench.core.errors import ConfigError
from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.catalog_vit import gated_note

#: timm's converted copies of the same weights (timm >= 1.0.20, fetched from the Hugging Face hub)
TIMM = {
    "dinov3-vits16": "vit_small_patch16_dinov3.lvd1689m",
    "dinov3-vits16plus": "vit_small_plus_patch16_dinov3.lvd1689m",
    "dinov3-vitb16": "vit_base_patch16_dinov3.lvd1689m",
    "dinov3-vitl16": "vit_large_patch16_dinov3.lvd1689m",
    "dinov3-vith16plus": "vit_huge_plus_patch16_dinov3.lvd1689m",
}


def build_dinov3(spec: ModelSpec, checkpoint: str | Path | None = None, **options: Any) -> Encoder:
    """Refuse in one line: without the gated file, where to get it; with it, what runs instead."""
    if checkpoint is None:
        raise ConfigError(f"model {spec.name!r}: {gated_note(spec.name)}")
    arch = spec.name.removeprefix("dinov3-")
    raise ConfigError(
        f"model {spec.name!r}: loading DINOv3's released format ({Path(checkpoint).name}) is not implemented yet; "
        f"run the same weights through timm (--model timm:{TIMM[spec.name]}) or transformers "
        f"(--model hf:facebook/dinov3-{arch}-pretrain-lvd1689m) instead"
    )
