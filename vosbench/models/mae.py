"""MAE encoders (He et al., CVPR 2022) and CropMAE / SiamMAE (Eymael et al., ECCV 2024).

All are plain ViTs with the parameter names of DINO's (timm's ``Block``: ``norm1``, ``attn.qkv``,
``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``; no LayerScale), so they run on
:class:`vosbench.models.dino.VisionTransformer`; what differs is the file and the features' origin.

* MAE (facebookresearch/mae): ``mae_pretrain_vit_{base,large}.pth`` hold ``{'model': state dict}``
  of the encoder (``models_vit.py`` names, with the final ``norm``); a training checkpoint of
  ``models_mae.py`` (same ``model`` key) also carries the decoder (``decoder_*``, ``mask_token``),
  dropped here. Features: the last block + ``norm`` patch tokens, as MAE's ``forward_encoder``
  ends. MAE ships no DAVIS script; positional embeddings are resized as DINO's script does
  (bicubic, scale factor (n + 0.1) / 14), the rule the published re-runs with DINO's script use.
* CropMAE and SiamMAE (alexandre-eymael/CropMAE): training checkpoints ``{'model', 'optimizer',
  'epoch', 'scaler', 'args'}`` (``misc.save_model``) of a ``MAEViT``: encoder + decoder. Its
  propagation code (``downstreams/propagation/src/models_mae.py``) keeps the encoder keys, runs
  ``blocks`` then ``norm`` and drops the CLS token (``test.py``), resizing positional embeddings with
  the same +0.1 scale factor as DINO (``interpolate_pos_encoding``): exactly this module's forward.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import torch

from vosbench.core.errors import CheckpointError, ConfigError
from vosbench.core.specs import ModelSpec
from vosbench.models.checkpoints import CheckpointLayout, build_encoder, strip_prefix
from vosbench.models.dino import DinoEncoder

#: (embed_dim, depth, num_heads) by size letter (``vit_base_patch16`` ... in the official code).
VARIANTS: dict[str, tuple[int, int, int]] = {"s": (384, 12, 6), "b": (768, 12, 12), "l": (1024, 24, 16)}
#: what each family's files are, for messages
FORMATS = {
    "mae": "MAE's mae_pretrain_vit_{size}.pth ({{'model': encoder state dict}}) or a models_mae.py checkpoint",
    "cropmae": "a CropMAE training checkpoint ({{'model', 'optimizer', 'epoch', 'scaler', 'args'}})",
    "siammae": "a SiamMAE checkpoint of the CropMAE repository ({{'model', 'optimizer', 'epoch', 'scaler', 'args'}})",
}
_SIZE_NAMES = {"s": "small", "b": "base", "l": "large"}


def variant_of(spec: ModelSpec) -> tuple[str, str]:
    """(family, size letter) from a name ``<mae|cropmae|siammae>-vit<s|b|l>16``."""
    m = re.fullmatch(r"(mae|cropmae|siammae)-vit([sbl])16", spec.name)
    if m is None or spec.stride != 16 or spec.input_multiple != 16:
        raise ConfigError(f"model {spec.name!r}: expected a name <mae|cropmae|siammae>-vit<s|b|l>16 with stride 16")
    return m.group(1), m.group(2)


def _check(family: str, size: str) -> Callable[[dict[str, Any], str], None]:
    """One-line refusal of another family's ViT (LayerScale, registers) or another width."""
    dim = VARIANTS[size][0]

    def check(state: dict[str, Any], source: str) -> None:
        keys = strip_prefix(state, ("module.",))
        pos = keys.get("pos_embed")
        width = int(pos.shape[-1]) if isinstance(pos, torch.Tensor) and pos.ndim == 3 else 0
        why = ""
        if "blocks.0.attn.qkv.weight" not in keys or width == 0:
            why = "no ViT keys (pos_embed, blocks.0.attn.qkv.weight)"
        elif any(".ls1." in k for k in keys) or "register_tokens" in keys:
            why = "it has LayerScale/register tokens: a DINOv2-style ViT (try --model dinov2-...)"
        elif width != dim:
            why = f"its width is {width}, not {dim} (ViT-{size.upper()}): another size of the model"
        if why:
            raise CheckpointError(f"checkpoint {source} is not {layout_expected(family, size)}: {why}")

    return check


def layout_expected(family: str, size: str) -> str:
    return FORMATS[family].format(size=_SIZE_NAMES[size])


def mae_layout(family: str, size: str) -> CheckpointLayout:
    """MAE / CropMAE / SiamMAE files: the weights under ``model``, decoder keys dropped."""
    dim, depth, _ = VARIANTS[size]
    return CheckpointLayout(
        weights_key="model",
        expected=layout_expected(family, size),
        hint=f"expected ViT keys (patch_embed.proj.*, cls_token, pos_embed, blocks.*, norm.*) of width {dim}, "
        f"depth {depth}, patch 16",
        strip=("module.",),
        check=_check(family, size),
        drop_prefixes=("decoder_", "mask_token"),
        target="vit",
        wrapped_only=True,
    )


def build_mae(spec: ModelSpec, checkpoint: str | Path | None = None, seed: int = 0, **options: Any) -> DinoEncoder:
    """Build an MAE / CropMAE / SiamMAE ViT/16 and load its file (``None``: random init with ``seed``)."""
    family, size = variant_of(spec)
    dim, depth, heads = VARIANTS[size]
    return build_encoder(
        spec,
        lambda: DinoEncoder(spec, dim, depth, heads),
        checkpoint,
        mae_layout(family, size),
        seed=seed,
        options=options,
    )
