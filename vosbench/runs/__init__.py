"""The run lifecycle: from a model and a dataset to a run folder with predictions, scores and a record.

:func:`run` and :func:`run_sweep` are the entry points (``vosbench run`` calls them): they
resolve the settings, the dataset, this process's part and the model into a
:class:`~vosbench.runs.context.RunContext` and hand it to the one run loop,
:func:`~vosbench.runs.driver.drive`, with the task kind's per-sequence work
(:mod:`~vosbench.runs.vos` for segmentation, :mod:`~vosbench.runs.pose` for keypoints,
:mod:`~vosbench.runs.parsing` for human-part parsing).
:mod:`~vosbench.runs.lifecycle` is one run folder's life, :mod:`~vosbench.runs.ledger` its plan
and committed sequences, :mod:`~vosbench.runs.locks` its writers' locks,
:mod:`~vosbench.runs.record` the record and :mod:`~vosbench.runs.tables` its tables.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from vosbench.core.errors import ConfigError
from vosbench.core.registry import datasets, models
from vosbench.datasets.factory import load_dataset
from vosbench.models.factory import create_model
from vosbench.propagation.engine import precision_dtype
from vosbench.propagation.precision import float32_mode
from vosbench.propagation.rescale import rescale_sequences
from vosbench.propagation.sweep import check_overrides, sweep_points
from vosbench.records.types import Tuning
from vosbench.runs.config import (
    RunConfig,
    check_ready,
    config_from_dict,
    config_to_dict,
    resolve_device,
    resolve_protocol,
)
from vosbench.runs.context import Placement, Progress, RunContext
from vosbench.runs.distributed import ProcessGroup
from vosbench.runs.driver import drive
from vosbench.runs.ledger import read_plan
from vosbench.runs.lifecycle import RunResult, check_sequence_names
from vosbench.runs.merge import merge
from vosbench.runs.shards import derived_run_id, partition, resolve_shard, resolved_root
from vosbench.runs.signals import interruptible

__all__ = ["RunConfig", "RunResult", "merge", "resume_config", "run", "run_sweep"]


def run(cfg: RunConfig, progress: Progress | None = None) -> RunResult:
    """Run ``cfg``: propagate, write predictions, score, write the record.

    With ``cfg.sweep`` this runs the whole grid (see :func:`run_sweep`) and returns the first
    grid point's result.
    """
    return run_sweep(cfg, progress)[0]


def run_sweep(cfg: RunConfig, progress: Progress | None = None, tuning: Tuning | None = None) -> list[RunResult]:
    """Run every grid point of ``cfg.sweep`` (or each of ``cfg.candidates``; one run folder and
    record each), computing the features of each sequence once and reusing them for all grid
    points. ``tuning`` (from
    ``vosbench tune``) goes into every record as how the settings were chosen.

    Sharded (``cfg.shard``, torchrun or a SLURM array), this process does its part of the
    sequences in the shared run folder; the record is written when every sequence is in. SIGTERM
    and SIGINT stop the run with ``status: interrupted`` (:class:`~vosbench.core.errors.RunInterrupted`).
    """
    with interruptible():
        return _run_sweep(cfg, progress, tuning)


def _run_sweep(cfg: RunConfig, progress: Progress | None, tuning: Tuning | None = None) -> list[RunResult]:
    from vosbench.runs.parsing import Parsing
    from vosbench.runs.points import PointTracks
    from vosbench.runs.pose import Keypoints
    from vosbench.runs.vos import Segmentation

    started = time.perf_counter()
    model_spec = models.get(cfg.model)
    dataset_spec = datasets.get(cfg.dataset)
    check_overrides(cfg.overrides, cfg.sweep, cfg.candidates)
    points: list[dict[str, str]] = sweep_points(cfg.sweep, cfg.candidates)
    protocols = [
        resolve_protocol(dataclasses.replace(cfg, overrides={**cfg.overrides, **p}), model_spec, dataset_spec)
        for p in points
    ]
    shard = resolve_shard(cfg.shard)
    check_ready(cfg, dataset_spec, shard.launcher if shard.sharded else "")
    device = resolve_device(cfg.device, shard.local_rank if shard.launcher == "torchrun" else None)
    precision_dtype(cfg.precision, device)  # refuse a bad --precision before loading anything
    ds = load_dataset(cfg.dataset, cfg.data_root, **cfg.dataset_options)
    if ds.task in ("pose", "points") and (cfg.sweep or cfg.candidates or cfg.precision != "fp32"):
        raise ConfigError(f"--sweep and --precision are not supported for {ds.task} datasets ({cfg.dataset}) yet")
    names = check_sequence_names(ds, ds.select(list(cfg.sequences)))
    seqs = [ds.sequence(n) for n in names]  # validates every layout before any work
    seqs = rescale_sequences(seqs, protocols, ds.task)  # gt_size: the resized copy CropMAE / RSP score on
    run_id = cfg.run_id
    if run_id is None and shard.sharded:
        settings = {**config_to_dict(cfg), "data_root": resolved_root(cfg.data_root)}
        run_id = derived_run_id(settings, shard)
    part = partition([len(s) for s in seqs], shard.count)[shard.index]
    place = Placement(run_id, shard, frozenset(seqs[i].name for i in part), config_to_dict(cfg))
    group = ProcessGroup(device) if shard.launcher == "torchrun" and shard.sharded else None
    try:
        model = create_model(cfg.model, cfg.checkpoint, **cfg.model_options).to(device)
        ctx = RunContext(cfg, ds, seqs, model, device, protocols, points, place, started, progress, group, tuning)
        kind = (
            Keypoints(ctx) if ds.task == "pose" else Parsing(ctx) if ds.task == "parsing"
            else PointTracks(ctx) if ds.task == "points" else Segmentation(ctx)
        )  # fmt: skip
        with float32_mode(cfg.precision):  # fp32 is true fp32 on GPUs (TF32 off) unless tf32 is asked for
            return drive(ctx, kind)
    finally:
        if group is not None:
            group.close()


def resume_config(run_dir: str | Path, **given: Any) -> RunConfig:
    """The configuration to resume the run in ``run_dir`` with: the one stored in its plan, the
    run's id and ``--out``, and the settings in ``given`` (what the command line named
    explicitly: per-process ones such as ``device``, or others, which the plan check then
    compares with the stored run and refuses when they differ)."""
    run_dir = Path(run_dir)
    plan = read_plan(run_dir)
    rec = plan["record"]
    sweep = rec.get("sweep")
    run_id = sweep["id"] if sweep else rec["run_id"]
    out = run_dir.parent.parent.parent
    if (out / rec["dataset"]["name"] / rec["model"]["name"] / rec["run_id"]).resolve() != run_dir.resolve():
        raise ConfigError(
            f"--resume {run_dir}: expected the run folder at <out>/{rec['dataset']['name']}/{rec['model']['name']}/"
            f"{rec['run_id']} (as `vosbench run` made it); move it back there"
        )
    base = config_from_dict(plan["config"], out=str(out), run_id=run_id)
    return dataclasses.replace(base, **given)
