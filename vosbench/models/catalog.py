"""Built-in models, as data (one frozen :class:`ModelSpec` per name).

Importing this module is cheap: the factories are ``"module:attr"`` strings imported on first use.
"""

from __future__ import annotations

from vosbench.harness.specs import ModelSpec, WeightFile  # noqa: F401  (WeightFile used by zoo entries)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

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
)
