"""Built-in ResNet-family encoders of the self-supervised literature, as data (see :mod:`catalog`).

Each entry names the family and paper, the official checkpoint format it loads (in the
description) and its default protocol preset; the factories are imported on first use.
"""

from __future__ import annotations

from vosbench.core.specs import ModelSpec, WeightFile

#: torchvision's ImageNet normalisation (also imported by :mod:`vosbench.models.catalog`)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_VFS = "https://github.com/xvjiarui/VFS/releases/download/v0.1-rc1/"
_VFS_PAPER = "Xu, Wang: Rethinking Self-supervised Correspondence Learning: A Video Frame-level Similarity Perspective, ICCV 2021"
_MOCO = "https://dl.fbaipublicfiles.com/moco/moco_checkpoints/"
_SIMSIAM = "https://dl.fbaipublicfiles.com/simsiam/models/"
_VICREGL = "https://dl.fbaipublicfiles.com/vicregl/"
_DRIVE = "https://drive.usercontent.google.com/download?export=download&confirm=t&id="


def _vfs(depth: int, channels: int, filename: str) -> ModelSpec:
    return ModelSpec(
        name=f"vfs-r{depth}",
        description=f"VFS ResNet-{depth} (Kinetics-400), layer3 'res4' at stride 8 ({channels} ch); "
        "format: {'state_dict': torchvision names, 'meta'} (GitHub release) or mmaction backbone.*",
        factory="vosbench.models.vfs:build_vfs",
        stride=8,
        channels=channels,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        native_protocol="vfs" if depth == 18 else f"vfs-r{depth}",
        checkpoint="required",
        weights=(
            WeightFile(
                f"vfs-r{depth}",
                _VFS + filename,
                filename,
                note="VFS GitHub release v0.1-rc1 (file name carries a SHA-256 prefix); README.md model zoo",
            ),
        ),
        paper=_VFS_PAPER,
        license="Apache-2.0 (VFS repository)",
    )


def _ssl_resnet50(name: str, label: str, fmt: str, weights: tuple[WeightFile, ...], paper: str, lic: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        description=f"{label} ResNet-50 (ImageNet-1k), stride-8 modification, layer3 (1024 ch); format: {fmt}",
        factory="vosbench.models.ssl_resnet:build_ssl_resnet",
        stride=8,
        channels=1024,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        native_protocol="crw",
        checkpoint="required",
        weights=weights,
        paper=paper,
        license=lic,
        family=name.removesuffix("-r50"),
    )


_MOCO_PAPER = "He et al.: Momentum Contrast for Unsupervised Visual Representation Learning, CVPR 2020"
_MOCO2_PAPER = "Chen et al.: Improved Baselines with Momentum Contrastive Learning, arXiv 2003.04297"
_MOCO_FORMAT = "{'epoch', 'arch', 'state_dict': module.encoder_q.* (torchvision names), 'optimizer'}"
_MOCO_LICENSE = "CC-BY-NC 4.0 (MoCo repository)"


def _moco_file(name: str, stem: str) -> WeightFile:
    return WeightFile(name, f"{_MOCO}{stem}/{stem}_pretrain.pth.tar", f"{stem}_pretrain.pth.tar",
                      note="MoCo README pre-trained model table (fbaipublicfiles)")


_UVC = ModelSpec(
    name="uvc",
    description="UVC (Kinetics): ResNet-18 on the Lab lightness only, layer4 at stride 8 (512 ch); "
    "format: {'epoch', 'best_loss', 'state_dict': module.gray_encoder.*, module.rgb_encoder.*, module.decoder.*}",
    factory="vosbench.models.uvc:build_uvc",
    stride=8,
    channels=512,
    native_protocol="uvc",
    checkpoint="required",
    weights=(
        WeightFile(
            "uvc",
            "https://github.com/Liusifei/UVC/raw/master/weights/checkpoint_latest.pth.tar",
            "uvc-checkpoint_latest.pth.tar",
            note="UVC repository weights/checkpoint_latest.pth.tar (what test.py loads by default)",
        ),
    ),
    paper="Li et al.: Joint-task Self-supervised Learning for Temporal Correspondence, NeurIPS 2019",
    license="not stated for the weights (UVC repository LICENSE.md: NVIDIA source code licence)",
)

_TIMECYCLE = ModelSpec(
    name="timecycle",
    description="TimeCycle/CycleTime (VLOG): ResNet-50 res4 at stride 8 + afterconv1 + ReLU (512 ch); "
    "format: {'epoch', 'state_dict': module.encoderVideo.* (3-D kernels of temporal size 1), "
    "module.afterconv1.weight, heads}; native protocol: timecycle (its test_davis.py)",
    factory="vosbench.models.timecycle:build_timecycle",
    stride=8,
    channels=512,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    native_protocol="timecycle",
    checkpoint="required",
    weights=(
        WeightFile(
            "timecycle",
            _DRIVE + "1jKwP6qOoEFhhr9WFL_mfXvk0IHtElsmB",
            "timecycle-checkpoint_14.pth.tar",
            note="TimeCycle README 'Our trained model' (Google Drive)",
        ),
    ),
    paper="Wang, Jabri, Efros: Learning Correspondence from the Cycle-Consistency of Time, CVPR 2019",
    license="not stated for the weights (TimeCycle repository has no licence file)",
)

RESNET_FAMILIES: tuple[ModelSpec, ...] = (
    _vfs(18, 256, "r18_nc_sgd_cos_100e_r2_1xNx8_k400-db1a4c0d.pth"),
    _vfs(50, 1024, "r50_nc_sgd_cos_100e_r5_1xNx2_k400-d7ce3ad0.pth"),
    _ssl_resnet50("moco-v1-r50", "MoCo v1 (200 epochs)", _MOCO_FORMAT,
                  (_moco_file("moco-v1-r50", "moco_v1_200ep"),), _MOCO_PAPER, _MOCO_LICENSE),
    _ssl_resnet50("moco-v2-r50", "MoCo v2 (200 or 800 epochs)", _MOCO_FORMAT,
                  (_moco_file("moco-v2-r50", "moco_v2_200ep"), _moco_file("moco-v2-r50-800ep", "moco_v2_800ep")),
                  _MOCO2_PAPER, _MOCO_LICENSE),
    _ssl_resnet50(
        "simsiam-r50",
        "SimSiam (100 epochs)",
        "{'epoch', 'arch', 'state_dict': module.encoder.* (torchvision names) + module.predictor.*, 'optimizer'}",
        (
            WeightFile("simsiam-r50", _SIMSIAM + "100ep/pretrain/checkpoint_0099.pth.tar", "simsiam-100ep-checkpoint_0099.pth.tar",
                       note="SimSiam README, 100 epochs, batch 512 (fbaipublicfiles)"),
            WeightFile("simsiam-r50-bs256", _SIMSIAM + "100ep-256bs/pretrain/checkpoint_0099.pth.tar",
                       "simsiam-100ep-256bs-checkpoint_0099.pth.tar", note="SimSiam README, 100 epochs, batch 256"),
        ),
        "Chen, He: Exploring Simple Siamese Representation Learning, CVPR 2021",
        "CC-BY-NC 4.0 (SimSiam repository)",
    ),
    _ssl_resnet50(
        "pixpro-r50",
        "PixPro (400 epochs)",
        "{'opt', 'model': module.encoder.* (torchvision names) + encoder_k, projector, ..., 'optimizer', 'scheduler', 'epoch'}",
        (
            WeightFile("pixpro-r50", _DRIVE + "1Ox2RoFbTrrllbwvITdZvwkNnKUQSUPmV", "pixpro_base_r50_400ep.pth",
                       note="PixPro README, 400 epochs (Google Drive)"),
            WeightFile("pixpro-r50-100ep", _DRIVE + "1oZwYSLSYSOzTLtOFdi4jXW6T5cGkQTgD", "pixpro_base_r50_100ep.pth",
                       note="PixPro README, 100 epochs (Google Drive)"),
        ),
        "Xie et al.: Propagate Yourself: Exploring Pixel-Level Consistency for Unsupervised Visual Representation Learning, CVPR 2021",
        "MIT (PixPro repository)",
    ),
    _ssl_resnet50(
        "vicregl-r50",
        "VICRegL (alpha 0.9 or 0.75)",
        "flat torchvision-named backbone state dict without fc (resnet50_alpha*.pth)",
        (
            WeightFile("vicregl-r50", _VICREGL + "resnet50_alpha0.9.pth", "vicregl_resnet50_alpha0.9.pth",
                       note="VICRegL README backbone, alpha 0.9 (fbaipublicfiles)"),
            WeightFile("vicregl-r50-alpha0.75", _VICREGL + "resnet50_alpha0.75.pth", "vicregl_resnet50_alpha0.75.pth",
                       note="VICRegL README backbone, alpha 0.75"),
        ),
        "Bardes, Ponce, LeCun: VICRegL: Self-Supervised Learning of Local Visual Features, NeurIPS 2022",
        "CC BY-NC 4.0 (VICRegL repository)",
    ),
    _UVC,
    _TIMECYCLE,
)
