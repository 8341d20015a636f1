"""vosbench: benchmark harness for label propagation with video-correspondence encoders.

Public API::

    import vosbench
    enc = vosbench.create_model("resnet18")            # torch.nn.Module, enc.stride == 8
    ds = vosbench.load_dataset("davis16-val", root="path/to/DAVIS")
    for seq in ds: ...

Heavy modules (torch) are imported only when a model is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vosbench.core.errors import (
    CheckpointError,
    ConfigError,
    DatasetLayoutError,
    InputFileError,
    PluginLoadError,
    VosbenchError,
)
from vosbench.core.specs import DatasetSpec, ModelSpec, WeightFile
from vosbench.core.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from vosbench.models.base import Encoder

    from vosbench.datasets.base import VideoDataset


def list_models() -> list[str]:
    """Names of every registered model (built-in and plugins)."""
    from vosbench.core.registry import models

    return models.names()


def list_datasets() -> list[str]:
    """Names of every registered dataset (built-in and plugins)."""
    from vosbench.core.registry import datasets

    return datasets.names()


def create_model(name: str, checkpoint: str | Path | None = None, **options: Any) -> Encoder:
    """Build encoder ``name``.

    Args:
        name: Registered model name (``vosbench list models``).
        checkpoint: Checkpoint file, or the name of a downloaded official file.
        **options: Model-specific options.

    Returns:
        A ``torch.nn.Module`` in eval mode mapping RGB (B, 3, H, W) in [0, 1] to features
        (B, C, ceil(H/s), ceil(W/s)); ``model.stride`` is s and ``model.spec`` its ModelSpec.
    """
    from vosbench.models.factory import create_model as _create

    return _create(name, checkpoint, **options)


def load_dataset(name: str, root: str | Path | None = None, **options: Any) -> VideoDataset:
    """Open dataset ``name`` at ``root`` (default ``$VOSBENCH_DATA/<subfolder>``)."""
    from vosbench.datasets.factory import load_dataset as _load

    return _load(name, root, **options)


__all__ = [
    "CheckpointError",
    "ConfigError",
    "DatasetLayoutError",
    "InputFileError",
    "PluginLoadError",
    "VosbenchError",
    "CheckpointError",
    "ConfigError",
    "DatasetLayoutError",
    "InputFileError",
    "PluginLoadError",
    "VosbenchError",
    "DatasetSpec",
    "ModelSpec",
    "WeightFile",
    "__version__",
    "create_model",
    "list_datasets",
    "list_models",
    "load_dataset",
]
