"""Built-in ViT models beyond DINO: DINOv2 (hub format), as data (see :mod:`vosbench.models.catalog`)."""

from __future__ import annotations

from vosbench.core.specs import ModelSpec, WeightFile

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)  # DINOv2's IMAGENET_DEFAULT_STD (dinov2/data/transforms.py)
_DINOV2 = "https://dl.fbaipublicfiles.com/dinov2/"
_DINOV2_PAPER = "Oquab et al.: DINOv2: Learning Robust Visual Features without Supervision, TMLR 2024"
_REG_PAPER = "Darcet et al.: Vision Transformers Need Registers, ICLR 2024 (DINOv2 + 4 registers)"
_DINOV2_SIZES = {"s": ("ViT-S/14 distilled", 384), "b": ("ViT-B/14 distilled", 768), "l": ("ViT-L/14 distilled", 1024), "g": ("ViT-g/14", 1536)}


def _dinov2(size: str, registers: bool) -> ModelSpec:
    label, channels = _DINOV2_SIZES[size]
    stem = f"dinov2_vit{size}14"
    file = f"{stem}{'_reg4' if registers else ''}_pretrain.pth"
    name = f"dinov2-vit{size}14{'-reg' if registers else ''}"
    return ModelSpec(
        name=name,
        description=f"DINOv2 {label}{' + 4 registers' if registers else ''} (LVD-142M): last-block patch tokens "
        f"(stride 14, {channels} ch; frames cropped to a multiple of 14); hub format {file}",
        factory="vosbench.models.dinov2:build_dinov2",
        stride=14,
        channels=channels,
        mean=_MEAN,
        std=_STD,
        native_protocol="dino",
        checkpoint="required",
        weights=(
            WeightFile(
                name,
                f"{_DINOV2}{stem}/{file}",
                file,
                note="DINOv2 hub backbone (flat state dict, loaded strictly by torch.hub's dinov2 entry points)",
            ),
        ),
        paper=_REG_PAPER if registers else _DINOV2_PAPER,
        license="Apache-2.0 (DINOv2 code and weights)",
    )


VIT_MODELS: tuple[ModelSpec, ...] = tuple(_dinov2(s, r) for s in "sblg" for r in (False, True))
