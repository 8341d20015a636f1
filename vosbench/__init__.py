"""vosbench: benchmark harness for label propagation with video-correspondence encoders.

Public API::

    import vosbench
    enc = vosbench.create_model("resnet18")            # torch.nn.Module, enc.stride == 8
    ds = vosbench.load_dataset("davis16-val", root="path/to/DAVIS")
    for seq in ds: ...

Heavy modules (torch) are imported only when a model is created.
"""

from __future__ import annotations

import importlib
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

# The package vosbench.evaluate (the folder evaluators) shares its name with the function
# vosbench.evaluate below. Importing the (light) package first, before the function is defined,
# keeps the function as this module's attribute: a later import of vosbench.evaluate.<module>
# finds the package in sys.modules and no longer rebinds the name. Import the evaluators with
# `from vosbench.evaluate.davis import ...`.
importlib.import_module("vosbench.evaluate")

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from torch import nn

    from vosbench.datasets.base import VideoDataset
    from vosbench.models.base import Encoder
    from vosbench.runs.api import EvalOutput, RunOutput
    from vosbench.runs.tune_api import TuneOutput


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


def run(model: str | nn.Module, dataset: str = "synthetic-davis", *, name: str | None = None, **settings: Any) -> RunOutput:
    """Run ``model`` on ``dataset`` like ``vosbench run`` and return the scores as DataFrames.

    Args:
        model: A registered model name, or any ``torch.nn.Module`` following the encoder contract
            (RGB (B, 3, H, W) in [0, 1] -> features (B, C, ceil(H/s), ceil(W/s))): an
            ``vosbench.models.base.Encoder``, or a plain module with a ``stride`` attribute (it
            normalises its input itself; ``input_multiple`` pads inputs, optional).
        dataset: Registered dataset name.
        name: Name a module is recorded under (default: its class name).
        **settings: Run options as in ``vosbench run`` (``checkpoint``, ``data_root``,
            ``sequences``, ``protocol``, ``device``, ``out``, ``precision``, ``batch_size``, ``workers``,
            ``save_predictions``, ``model_options``, ``dataset_options``) and any protocol setting
            (``topk``, ``radius``, ``context``, ``temperature``, ...).

    Returns:
        A ``RunOutput``: ``run_dir``, ``record`` (summary.json), ``metrics`` and the DataFrames
        ``per_object``, ``per_frame``, ``per_sequence`` (fractions in [0, 1]; frame names as strings).
    """
    from vosbench.runs.api import run as _run

    return _run(model, dataset, name=name, **settings)


def tune(model: str | nn.Module, dataset: str = "synthetic-davis", *, tune_on: str | None = None,
         name: str | None = None, **settings: Any) -> TuneOutput:
    """Choose protocol settings on a tuning split and run the choice on ``dataset``, like
    ``vosbench tune``.

    Args:
        model: A registered model name or an encoder module, as for :func:`run`.
        dataset: The evaluation dataset (the chosen settings run on it).
        tune_on: The tuning dataset (default: ``dataset``); a train split of the dataset catalog
            (``davis17-train``, ``synthetic-davis-train`` ...) unless ``allow_test_tuning=True``.
        name: Name a module is recorded under (default: its class name).
        **settings: What to choose from: ``sweep={"topk": [5, 10, 20]}`` (a grid) or
            ``candidates=[{"topk": 5, "radius": 12}, {"topk": 10, "radius": None}]`` (a list,
            simplest first; or the string ``"topk=5,radius=12;topk=10,radius=none"``); how:
            ``rule`` (``simplest-within-ci``, the default, or ``best``), ``metric`` (``JF_mean``);
            the tuning split: ``tune_sequences``, ``tune_data_root``, ``tune_dataset_options``,
            ``allow_test_tuning``; ``progress`` (a callback ``(sequence, frames done, total)``);
            and every setting of :func:`run` for both stages (``run_id`` names the tune, and
            resumes it).

    Returns:
        A ``TuneOutput``: ``tune_id``, ``tuning`` (the record's block), ``choice``, ``points`` (a
        DataFrame: one row per point with its settings, score and interval as fractions, ``best``
        and ``chosen``) and ``evaluation`` (the chosen settings' run, as :func:`run` returns it).
    """
    from vosbench.runs.tune_api import tune as _tune

    return _tune(model, dataset, tune_on=tune_on, name=name, **settings)


def evaluate(gt: str | Path, pred: str | Path, *, benchmark: str = "davis", **options: Any) -> EvalOutput:
    """Score predictions made by any tool, like ``vosbench eval --benchmark BENCHMARK``.

    Args:
        gt: davis, ytvos: the GT folder ``GT_DIR/<sequence>/<frame>.png``; jhmdb: the JHMDB root;
            badja: the BADJA folder; vip: ``Annotations/Category_ids`` (or the ``VIP_Fine`` folder).
        pred: davis: ``PRED_DIR/<sequence>/<frame>.png``; ytvos: the same layout or a
            ``submission.zip``; jhmdb, badja: ``KEYPOINTS/<video>.csv`` or a run folder holding
            ``keypoints/``; vip: ``PRED/<video>/<frame>.png`` class ids (or a run folder); tapvid:
            ``TRACKS/<video>.npz`` or a run folder holding ``tracks/`` (``gt``: the pickle).
        benchmark: ``davis`` (default), ``ytvos``, ``jhmdb``, ``badja``, ``vip`` or ``tapvid``.
        **options: ``sequences`` (list or comma-separated) and ``workers`` (davis, ytvos);
            ``binary`` (davis); ``meta`` (ytvos, required: the split's ``meta.json``) and ``unseen``
            (ytvos: unseen-category list); ``split`` (1-3) and ``subset`` (``test``/``train``) (jhmdb);
            ``scorer`` (vip: ``crw``, the default, or ``aten``); ``query_mode`` (tapvid:
            ``first``/``strided``).

    Returns:
        An ``EvalOutput``: ``metrics`` and the DataFrames ``per_object``, ``per_frame``,
        ``per_sequence`` (fractions; frame names as strings); for jhmdb and badja PCK per joint, the
        keypoints read and PCK per video; for vip IoU per class, the confusion cells and the
        measures per video.
    """
    from vosbench.runs.api import evaluate as _evaluate

    return _evaluate(gt, pred, benchmark=benchmark, **options)


__all__ = [
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
    "evaluate",
    "list_datasets",
    "list_models",
    "load_dataset",
    "run",
    "tune",
]
