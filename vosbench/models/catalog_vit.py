"""Built-in ViT models beyond DINO: DINOv2 (hub format), MAE, CropMAE, SiamMAE, DINOv3 (gated), as data (see :mod:`vosbench.models.catalog`)."""

from __future__ import annotations

from vosbench.core.specs import ModelSpec, WeightFile

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)  # DINOv2's IMAGENET_DEFAULT_STD (dinov2/data/transforms.py)
_DINOV2 = "https://dl.fbaipublicfiles.com/dinov2/"
_DINOV2_PAPER = "Oquab et al.: DINOv2: Learning Robust Visual Features without Supervision, TMLR 2024"
_REG_PAPER = "Darcet et al.: Vision Transformers Need Registers, ICLR 2024 (DINOv2 + 4 registers)"
_DINOV2_SIZES = {"s": ("ViT-S/14 distilled", 384), "b": ("ViT-B/14 distilled", 768), "l": ("ViT-L/14 distilled", 1024), "g": ("ViT-g/14", 1536)}


def _vit(name: str, description: str, module: str, stride: int, channels: int, **fields: object) -> ModelSpec:
    """A ViT entry: ImageNet normalisation, a checkpoint required, ``build_<module>`` as the factory."""
    base: dict[str, object] = {"mean": _MEAN, "std": _STD, "checkpoint": "required", "input_multiple": stride}
    return ModelSpec(name, description, f"vosbench.models.{module}:build_{module}", stride, channels, **{**base, **fields})  # type: ignore[arg-type]


def _dinov2(size: str, registers: bool) -> ModelSpec:
    label, channels = _DINOV2_SIZES[size]
    stem = f"dinov2_vit{size}14"
    file = f"{stem}{'_reg4' if registers else ''}_pretrain.pth"
    name = f"dinov2-vit{size}14{'-reg' if registers else ''}"
    return _vit(
        name,
        f"DINOv2 {label}{' + 4 registers' if registers else ''} (LVD-142M): last-block patch tokens "
        f"(stride 14, {channels} ch; frames cropped to a multiple of 14); hub format {file}",
        "dinov2",
        14,
        channels,
        native_protocol="dino",
        input_multiple=1,  # the encoder crops (or pads) to the patch grid itself
        weights=(WeightFile(name, f"{_DINOV2}{stem}/{file}", file, note="DINOv2 hub backbone (flat state dict, "
                            "loaded strictly by torch.hub's dinov2 entry points)"),),
        paper=_REG_PAPER if registers else _DINOV2_PAPER,
        license="Apache-2.0 (DINOv2 code and weights)",
    )


_MAE_PAPER = "He et al.: Masked Autoencoders Are Scalable Vision Learners, CVPR 2022"
_CROPMAE_PAPER = "Eymael, Vandeghen, Cioppa, Giancola, Ghanem, Van Droogenbroeck: Efficient Image Pre-Training with Siamese Cropped Masked Autoencoders, ECCV 2024"
_DRIVE = "https://drive.usercontent.google.com/download?export=download&confirm=t&id="


def _mae(size: str, label: str, channels: int) -> ModelSpec:
    file = f"mae_pretrain_vit_{label.lower()}.pth"
    return _vit(
        f"mae-vit{size}16",
        f"MAE ViT-{label}/16 encoder (ImageNet-1k): last block + norm, patch tokens (stride 16, {channels} ch); "
        f"{file} {{'model': ...}}",
        "mae",
        16,
        channels,
        native_protocol="dino",
        weights=(WeightFile(f"mae-vit{size}16", f"https://dl.fbaipublicfiles.com/mae/pretrain/{file}", file,
                            note="MAE pre-trained encoder (facebookresearch/mae README): {'model': state dict}"),),
        paper=_MAE_PAPER,
        license="CC BY-NC 4.0 (MAE repository)",
        family="mae",
    )


def _siamese(family: str, label: str, weights: tuple[WeightFile, ...]) -> ModelSpec:
    return _vit(
        f"{family}-vits16",
        f"{label} ViT-S/16: last block + norm, patch tokens (stride 16, 384 ch); CropMAE training "
        "checkpoint {'model', 'optimizer', 'epoch', 'scaler', 'args'}",
        "mae",
        16,
        384,
        native_protocol="cropmae",
        weights=weights,
        paper=_CROPMAE_PAPER,
        license="Apache-2.0 (CropMAE repository)",
        family=family,
    )


_CROPMAE_NOTE = "CropMAE ViT-S/16 trained on {}, Google Drive link of the CropMAE README: {{'model', 'optimizer', 'epoch', 'scaler', 'args'}}"

DINOV3_DOWNLOADS = "https://ai.meta.com/resources/models-and-libraries/dinov3-downloads/"
#: official file of each catalog name (``dinov3/hub/backbones.py``: arch and hash of the LVD-1689M weights)
DINOV3_FILES = {
    "dinov3-vits16": "dinov3_vits16_pretrain_lvd1689m-08c60483.pth",
    "dinov3-vits16plus": "dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth",
    "dinov3-vitb16": "dinov3_vitb16_pretrain_lvd1689m-73cec8be.pth",
    "dinov3-vitl16": "dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth",
    "dinov3-vith16plus": "dinov3_vith16plus_pretrain_lvd1689m-7c1da9a5.pth",
}


def gated_note(name: str) -> str:
    """Where to get the gated file of catalog model ``name`` and what to do with it (one sentence)."""
    return (
        f"the weights are gated: request access at {DINOV3_DOWNLOADS}, download {DINOV3_FILES[name]} "
        f"from the e-mailed URL with wget and pass it as --checkpoint FILE"
    )


def _dinov3(arch: str, label: str, channels: int) -> ModelSpec:
    name = f"dinov3-{arch}"
    return _vit(
        name,
        f"DINOv3 {label} (LVD-1689M): last-block patch tokens (stride 16, {channels} ch; RoPE, 4 storage tokens; "
        f"frames cropped to a multiple of 16); released format {DINOV3_FILES[name]}: {gated_note(name)}",
        "dinov3",
        16,
        channels,
        native_protocol="dinov3",
        input_multiple=1,
        weights=(WeightFile(name, DINOV3_DOWNLOADS, DINOV3_FILES[name], note="gated DINOv3 backbone (LVD-1689M)"),),
        paper="Siméoni et al.: DINOv3, arXiv 2508.10104, 2025",
        license="DINOv3 License (facebookresearch/dinov3; gated download)",
    )


VIT_MODELS: tuple[ModelSpec, ...] = (
    *(_dinov2(s, r) for s in "sblg" for r in (False, True)),
    _mae("b", "Base", 768),
    _mae("l", "Large", 1024),
    _siamese(
        "cropmae",
        "CropMAE (ImageNet or K400)",
        (
            WeightFile("cropmae-in", _DRIVE + "1Hwxpck0MGBJkPNpXRxMOyydtehhhtZbj", "cropmae-in.pth", note=_CROPMAE_NOTE.format("ImageNet")),
            WeightFile("cropmae-k400", _DRIVE + "1oMXiX_uyGzyQB7S-MYkdJvKFmIuPXkYb", "cropmae-k400.pth", note=_CROPMAE_NOTE.format("Kinetics-400")),
        ),
    ),
    # no released SiamMAE file: train one with the CropMAE repository's scripts/train_siammae_k400.sh
    _siamese("siammae", "SiamMAE (CropMAE repository's re-implementation; no released weights)", ()),
    _dinov3("vits16", "ViT-S/16", 384),
    _dinov3("vits16plus", "ViT-S+/16", 384),
    _dinov3("vitb16", "ViT-B/16", 768),
    _dinov3("vitl16", "ViT-L/16", 1024),
    _dinov3("vith16plus", "ViT-H+/16", 1280),
)
