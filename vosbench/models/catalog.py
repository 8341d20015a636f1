"""Built-in models, as data (one frozen :class:`ModelSpec` per name).

Importing this module is cheap: the factories are ``"module:attr"`` strings imported on first use.
"""

from __future__ import annotations

from vosbench.core.specs import ModelSpec, WeightFile
from vosbench.models.catalog_more import MORE_MODELS
from vosbench.models.catalog_resnet import IMAGENET_MEAN, IMAGENET_STD, RESNET_FAMILIES
from vosbench.models.catalog_vit import VIT_MODELS

# DINO's video-segmentation script normalises red with std 0.228, not 0.229 (facebookresearch/dino,
# eval_video_segmentation.py).
DINO_STD = (0.228, 0.224, 0.225)

_TORCHVISION = "https://download.pytorch.org/models/"
_DINO = "https://dl.fbaipublicfiles.com/dino/"
_DRIVE = "https://drive.usercontent.google.com/download?export=download&confirm=t&id="
_CRW_PAPER = "Jabri, Owens, Efros: Space-Time Correspondence as a Contrastive Random Walk, NeurIPS 2020"
_DINO_PAPER = "Caron et al.: Emerging Properties in Self-Supervised Vision Transformers, ICCV 2021"
_RESNET_PAPER = "He et al., CVPR 2016; stride-8 modification of CRW (Jabri et al., NeurIPS 2020)"


def _imagenet_resnet(depth: int, channels: int, current: str, legacy: str) -> ModelSpec:
    return ModelSpec(
        name=f"resnet{depth}-imagenet",
        description=f"ResNet-{depth}, torchvision ImageNet weights, stride-8 modification ({channels} ch)",
        factory="vosbench.models.resnet:build_resnet",
        stride=8,
        channels=channels,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        checkpoint="required",
        weights=(
            WeightFile(
                f"resnet{depth}-imagenet",
                _TORCHVISION + current,
                current,
                note="torchvision IMAGENET1K_V1 weights (file name carries a SHA-256 prefix)",
            ),
            WeightFile(
                f"resnet{depth}-imagenet-legacy",
                _TORCHVISION + legacy,
                legacy,
                note="legacy torchvision file used by CRW's imagenet18/50 baselines",
            ),
        ),
        paper=_RESNET_PAPER,
        license="BSD-3-Clause (torchvision)",
    )


def _dino(size: str, patch: int, channels: int, file_stem: str) -> ModelSpec:
    label = {"s": "ViT-S", "b": "ViT-B"}[size]
    return ModelSpec(
        name=f"dino-vit{size}{patch}",
        description=f"DINO {label}/{patch} (ImageNet-1k): last-block patch tokens (stride {patch}, {channels} ch)",
        factory="vosbench.models.dino:build_dino",
        stride=patch,
        channels=channels,
        mean=IMAGENET_MEAN,
        std=DINO_STD,
        native_protocol="dino",
        checkpoint="required",
        weights=(
            WeightFile(
                f"dino-vit{size}{patch}",
                f"{_DINO}{file_stem}/{file_stem}.pth",
                f"{file_stem}.pth",
                note="DINO backbone-only state dict (a *_full_checkpoint.pth also loads: 'teacher' is used)",
            ),
        ),
        input_multiple=patch,
        paper=_DINO_PAPER,
        license="Apache-2.0 (DINO code and weights)",
    )

BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="identity",
        description="Copies the first-frame labels to every frame (the standard lower baseline)",
        factory="vosbench.models.baselines:build_identity",
        stride=8,
        channels=1,
        copy_first_frame=True,
        paper="DAVIS 'identity' baseline (CorrFlow paper, Table 1)",
    ),
    ModelSpec(
        name="lab",
        description="Raw CIE Lab colour average-pooled to stride 8 (parameter-free baseline)",
        factory="vosbench.models.baselines:build_lab",
        stride=8,
        channels=3,
    ),
    ModelSpec(
        name="resnet18",
        description="torchvision ResNet-18, layer3/4 stride 1, layer4 removed (stride 8, 256 ch); "
        "random init (seed 0) unless --checkpoint",
        factory="vosbench.models.resnet:build_resnet",
        stride=8,
        channels=256,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        checkpoint="optional",
        paper="He et al., CVPR 2016; stride-8 modification of CRW (Jabri et al., NeurIPS 2020)",
        license="BSD-3-Clause (torchvision)",
    ),
    ModelSpec(
        name="resnet50",
        description="torchvision ResNet-50, layer3/4 stride 1, layer4 removed (stride 8, 1024 ch); "
        "random init (seed 0) unless --checkpoint",
        factory="vosbench.models.resnet:build_resnet",
        stride=8,
        channels=1024,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        checkpoint="optional",
        paper="He et al., CVPR 2016; stride-8 modification of CRW (Jabri et al., NeurIPS 2020)",
        license="BSD-3-Clause (torchvision)",
    ),
    ModelSpec(
        name="crw",
        description="CRW (Kinetics): ResNet-18, reflect padding, layer3 (stride 8, 256 ch)",
        factory="vosbench.models.crw:build_crw",
        stride=8,
        channels=256,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        native_protocol="crw",
        checkpoint="required",
        weights=(
            WeightFile(
                "crw",
                "https://github.com/ajabri/videowalk/raw/master/pretrained.pth",
                "crw-pretrained.pth",
                note="CRW pretrained.pth: {'model', 'optimizer', 'lr_scheduler', 'epoch', 'args'}",
            ),
        ),
        paper=_CRW_PAPER,
        license="MIT (videowalk repository)",
    ),
    ModelSpec(
        name="corrflow",
        description="CorrFlow (Kinetics/OxUvA): ResNet-18-like + post-conv on raw RGB (stride 4, 64 ch)",
        factory="vosbench.models.corrflow:build_corrflow",
        stride=4,
        channels=64,
        native_protocol="corrflow",
        checkpoint="required",
        weights=(
            WeightFile(
                "corrflow-kinetics",
                _DRIVE + "1lONshAVbqm8JWYCeWW7hdim1H2e-9tnI",
                "corrflow-kinetics.pth",
                note="CorrFlow trained on Kinetics (Google Drive): {'epoch', 'state_dict', 'optimizer'}",
            ),
            WeightFile(
                "corrflow-oxuva",
                _DRIVE + "1hBufOBoKmHWWKy2-BJObMbYrqDAUJrs7",
                "corrflow-oxuva.pth",
                note="CorrFlow trained on OxUvA (Google Drive): {'epoch', 'state_dict', 'optimizer'}",
            ),
        ),
        paper="Lai, Xie: Self-supervised Learning for Video Correspondence Flow, BMVC 2019",
        license="not stated (the CorrFlow repository has no licence file)",
    ),
    _imagenet_resnet(18, 256, "resnet18-f37072fd.pth", "resnet18-5c106cde.pth"),
    _imagenet_resnet(50, 1024, "resnet50-0676ba61.pth", "resnet50-19c8e357.pth"),
    _dino("s", 16, 384, "dino_deitsmall16_pretrain"),
    _dino("s", 8, 384, "dino_deitsmall8_pretrain"),
    _dino("b", 16, 768, "dino_vitbase16_pretrain"),
    _dino("b", 8, 768, "dino_vitbase8_pretrain"),
)

#: the ViT families beyond DINO, kept in their own module
BUILTIN_MODELS += VIT_MODELS
# ResNet-family encoders of the literature (VFS, MoCo, SimSiam, ...): their own catalog module.
BUILTIN_MODELS += RESNET_FAMILIES
# MAST and the other families of the second zoo: their own catalog module.
BUILTIN_MODELS += MORE_MODELS
