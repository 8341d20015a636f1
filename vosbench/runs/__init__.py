"""The run lifecycle: from a model and a dataset to a run folder with predictions, scores and a record.

:func:`run` and :func:`run_sweep` are the entry points (``vosbench run`` calls them);
:mod:`~vosbench.runs.lifecycle` holds what every run shares (run folder, record, timings, failure
handling, atomic writes), :mod:`~vosbench.runs.vos` and :mod:`~vosbench.runs.pose` the
segmentation and keypoint loops.
"""

from __future__ import annotations

import dataclasses
import time

from vosbench.core.errors import ConfigError
from vosbench.core.registry import datasets, models
from vosbench.datasets.factory import load_dataset
from vosbench.models.factory import create_model
from vosbench.propagation.engine import precision_dtype
from vosbench.propagation.precision import float32_mode
from vosbench.propagation.sweep import grid
from vosbench.runs.config import RunConfig, resolve_device, resolve_protocol
from vosbench.runs.lifecycle import Progress, RunResult

__all__ = ["RunConfig", "RunResult", "run", "run_sweep"]


def run(cfg: RunConfig, progress: Progress | None = None) -> RunResult:
    """Run ``cfg``: propagate, write predictions, score, write the record.

    With ``cfg.sweep`` this runs the whole grid (see :func:`run_sweep`) and returns the first
    grid point's result.
    """
    return run_sweep(cfg, progress)[0]


def run_sweep(cfg: RunConfig, progress: Progress | None = None) -> list[RunResult]:
    """Run every grid point of ``cfg.sweep`` (one run folder and record each), computing the
    features of each sequence once and reusing them for all grid points."""
    from vosbench.runs.pose import run_pose
    from vosbench.runs.vos import run_vos

    started = time.perf_counter()
    model_spec = models.get(cfg.model)
    dataset_spec = datasets.get(cfg.dataset)
    both = sorted(set(cfg.overrides) & {k for k, _ in cfg.sweep})
    if both:
        raise ConfigError(f"{', '.join(both)}: given both as an override and in --sweep; keep one")
    points: list[dict[str, str]] = grid(cfg.sweep) if cfg.sweep else [{}]
    protocols = [
        resolve_protocol(dataclasses.replace(cfg, overrides={**cfg.overrides, **p}), model_spec, dataset_spec)
        for p in points
    ]
    device = resolve_device(cfg.device)
    precision_dtype(cfg.precision, device)  # refuse a bad --precision before loading anything
    ds = load_dataset(cfg.dataset, cfg.data_root, **cfg.dataset_options)
    if ds.task == "pose" and (cfg.sweep or cfg.precision != "fp32"):
        raise ConfigError(f"--sweep and --precision are not supported for {ds.task} datasets ({cfg.dataset}) yet")
    seqs = [ds.sequence(n) for n in ds.select(list(cfg.sequences))]  # validates every layout before any work
    model = create_model(cfg.model, cfg.checkpoint, **cfg.model_options).to(device)
    with float32_mode(cfg.precision):  # fp32 is true fp32 on GPUs (TF32 off) unless tf32 is asked for
        if ds.task == "pose":
            return [run_pose(cfg, ds, seqs, model, protocols[0], device, started, progress)]
        return run_vos(cfg, ds, seqs, model, protocols, points, device, started, progress)
