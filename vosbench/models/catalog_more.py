"""Built-in encoders of the video-correspondence literature beyond the first zoo (MAST, ...), as data
(see :mod:`vosbench.models.catalog`); the factories are imported on first use."""

from __future__ import annotations

from vosbench.core.specs import ModelSpec, WeightFile
from vosbench.models.catalog_resnet import IMAGENET_MEAN, IMAGENET_STD

_DRIVE = "https://drive.usercontent.google.com/download?export=download&confirm=t&id="

_MAST = ModelSpec(
    name="mast",
    description="MAST (YouTube-VOS): CorrFlow's ResNet-18-like trunk + post-conv on normalised Lab "
    "(stride 4, 64 ch); format: {'epoch', 'state_dict': feature_extraction.*, post_convolution.* "
    "(no 'module.' prefix), 'optimizer'}",
    factory="vosbench.models.mast:build_mast",
    stride=4,
    channels=64,
    native_protocol="mast",
    checkpoint="required",
    weights=(
        WeightFile(
            "mast",
            _DRIVE + "1vjiBdom75QzwCF5jnMRsxz897XyotVO8",
            "mast-checkpoint.pt",
            note="MAST README 'Pretrained model' (Google Drive): {'epoch', 'state_dict', 'optimizer'}",
        ),
    ),
    paper="Lai, Lu, Xie: MAST: A Memory-Augmented Self-Supervised Tracker, CVPR 2020",
    license="not stated (the MAST repository has no licence file)",
)

_STT_PAPER = "Li, Liu: Spatial-then-Temporal Self-Supervised Learning for Video Correspondence, CVPR 2023"
_STT_FORMAT = "mmcv {'meta', 'state_dict': backbone.* (ConvModule names)}"


def _spa_then_temp(depth: int, stride: int, files: tuple[tuple[str, str, str], ...]) -> ModelSpec:
    channels = 1024 if depth == 50 else 256
    pool = "avg-pool stem, strides (1, 1, 1, 1)" if stride == 4 else "no stem pool, strides (1, 2, 2, 1)"
    return ModelSpec(
        name=f"spa-then-temp-r{depth}-d{stride}",
        description=f"Spa-then-Temp ResNet-{depth} (ImageNet then YouTube-VOS), normalised Lab, {pool}, layer3 "
        f"(stride {stride}, {channels} ch); format: {_STT_FORMAT}",
        factory="vosbench.models.spa_then_temp:build_spa_then_temp",
        stride=stride,
        channels=channels,
        native_protocol="spa-then-temp" if stride == 8 else "spa-then-temp-d4",
        checkpoint="required",
        weights=tuple(
            WeightFile(name, _DRIVE + drive_id, f"{name}.pth", note=f"Spa-then-Temp README model zoo: {what} (Google Drive)")
            for name, drive_id, what in files
        ),
        paper=_STT_PAPER,
        license="MIT (Spa-then-Temp repository LICENSE)",
    )


_DUL_SNAPSHOTS = "https://download.visinf.tu-darmstadt.de/data/2021-neurips-araslanov-vos/snapshots/"


def _dul_file(name: str, stem: str, data: str) -> WeightFile:
    return WeightFile(name, f"{_DUL_SNAPSHOTS}{stem}.pth", f"dul-{stem}.pth",
                      note=f"DUL README 'final models', trained on {data} (the README gives a partial MD5 only)")


_DUL = ModelSpec(
    name="dul",
    description="DUL (YouTube-VOS, OxUvA, TrackingNet or Kinetics): ResNet-18, layer3/4 at stride 1, res4 = "
    "layer4 (stride 8, 512 ch); format: {'model': fast_net.backbone.*, fast_net.emb_q.*, 'opt', 'score', 'epoch'}",
    factory="vosbench.models.dul:build_dul",
    stride=8,
    channels=512,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    native_protocol="dul",
    checkpoint="required",
    weights=(
        _dul_file("dul", "ytvos_e060_res4", "YouTube-VOS"),
        _dul_file("dul-oxuva", "oxuva_e430_res4", "OxUvA"),
        _dul_file("dul-trackingnet", "trackingnet_e088_res4", "TrackingNet"),
        _dul_file("dul-kinetics", "kinetics_e026_res4", "Kinetics-400"),
    ),
    paper="Araslanov, Schaub-Meyer, Roth: Dense Unsupervised Learning for Video Segmentation, NeurIPS 2021",
    license="Apache-2.0 (dense-ulearn-vos repository)",
)

_SFC_PAPER = "Hu, Wang, Zhang, Gao: Semantic-Aware Fine-Grained Correspondence, ECCV 2022"
_SFC_FC = WeightFile(
    "sfc-fc-r18",
    "https://github.com/Alxead/SFC/releases/download/v0.1/pretrained_fc.pth",
    "sfc-pretrained_fc.pth",
    note="SFC README pre-trained fine-grained correspondence network (GitHub release v0.1)",
)
_SFC_FC_SPEC = ModelSpec(
    name="sfc-fc-r18",
    description="SFC's fine-grained correspondence network alone (YouTube-VOS): ResNet-18, stride-8 "
    "modification, layer3 (256 ch); format: {'model': online_encoder.*, target_encoder.*, ..., 'optimizer'}",
    factory="vosbench.models.sfc:build_sfc_fc",
    stride=8,
    channels=256,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    native_protocol="crw",
    checkpoint="required",
    weights=(_SFC_FC,),
    paper=_SFC_PAPER,
    license="Apache-2.0 (SFC repository LICENSE)",
)
_SFC_SPEC = ModelSpec(
    name="sfc",
    description="SFC late fusion: [1.75 x L2(fine-grained R18 layer3), L2(MoCo-v1 R50 layer3)] (stride 8, "
    "1280 ch); --checkpoint the fine-grained file, --option semantic=<MoCo-v1 file>",
    factory="vosbench.models.sfc:build_sfc",
    stride=8,
    channels=1280,
    native_protocol="sfc",
    checkpoint="required",
    weights=(_SFC_FC,),
    paper=_SFC_PAPER,
    license="Apache-2.0 (SFC repository LICENSE); MoCo weights CC-BY-NC 4.0",
)

MORE_MODELS: tuple[ModelSpec, ...] = (
    _SFC_FC_SPEC,
    _SFC_SPEC,
    _DUL,
    _MAST,
    _spa_then_temp(18, 8, (
        ("spa-then-temp-r18-d8", "1kksNGOklpPmlai6ljAIu1-dAcxSgMgml", "ResNet-18, stride 8"),
        ("spa-then-temp-r18-d8-temporal", "1roBP0p0n8mIt0HvBsk6Wkszc6vuVUbxE", "ResNet-18 (Temporal), stride 8"),
    )),
    _spa_then_temp(50, 8, (("spa-then-temp-r50-d8", "190ND_w4yJC7njdWtmw5bJ-tl5VL8PSJ7", "ResNet-50, stride 8"),)),
    _spa_then_temp(18, 4, (("spa-then-temp-r18-d4", "1ZJHyWMOpWhfmX6vMX5Qkm_2qkqS0grNM", "ResNet-18, stride 4"),)),
    _spa_then_temp(50, 4, (("spa-then-temp-r50-d4", "1HZYXhfaCDG9IeKX8ESBGHBn-kUrHC8Q8", "ResNet-50, stride 4"),)),
)
