"""Built-in encoders of the video-correspondence literature beyond the first zoo (MAST, ...), as data
(see :mod:`vosbench.models.catalog`); the factories are imported on first use."""

from __future__ import annotations

from vosbench.core.specs import ModelSpec, WeightFile

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

MORE_MODELS: tuple[ModelSpec, ...] = (_MAST,)
