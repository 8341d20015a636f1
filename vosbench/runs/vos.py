"""Segmentation runs (DAVIS, YouTube-VOS): propagate masks, write palette PNGs, score J&F.

A run folder holds ``predictions/<seq>/<frame>.png``, ``per_object.csv``, ``per_frame.csv``,
``summary.json`` and, for datasets with an evaluation server layout, ``submission.zip``. With a
protocol grid (``--sweep``) every grid point gets its own folder and record, and the features of
each frame are computed once for all of them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from vosbench.core.errors import VosbenchError
from vosbench.core.labels import write_label_png
from vosbench.core.video import VideoSequence
from vosbench.datasets.base import VideoDataset
from vosbench.models.base import Encoder
from vosbench.propagation.batched import propagation_path
from vosbench.propagation.engine import precision_dtype, propagate_many
from vosbench.propagation.precision import tf32_state
from vosbench.propagation.protocol import Protocol
from vosbench.results.stats_io import ci_for_scores
from vosbench.runs.config import RunConfig
from vosbench.runs.lifecycle import Progress, RunFolder, RunResult, new_record, new_run_id, write_submission_zip
from vosbench.scoring.jf import (
    ObjectScore,
    SequenceScorer,
    group_metrics,
    summarize,
    write_per_frame_csv,
    write_per_object_csv,
)


def scorer_for(seq: VideoSequence) -> SequenceScorer:
    """J/F scorer of one sequence; objects that appear mid-video are scored from their first
    appearance (positions counted among the sequence's GT frames)."""
    if not seq.object_starts:
        return SequenceScorer(seq.name)
    pos = {t: i for i, t in enumerate(sorted(seq.gt))}
    first = {oid: pos[t] for oid, t in seq.object_starts.items()}
    return SequenceScorer(seq.name, objects=sorted(first), first_frames=first)


def run_vos(
    cfg: RunConfig,
    ds: VideoDataset,
    seqs: list[VideoSequence],
    model: Encoder,
    protocols: list[Protocol],
    points: list[dict[str, str]],
    device: torch.device,
    started: float,
    progress: Progress | None = None,
) -> list[RunResult]:
    """Run every protocol of ``protocols`` (one per grid point of ``points``) over the sequences
    ``seqs`` of ``ds``."""
    dtype = precision_dtype(cfg.precision, device)
    path = propagation_path(device)  # batched on CUDA, windowed on CPU (VOSBENCH_PROPAGATION forces one)
    names = [s.name for s in seqs]
    sweep_id = new_run_id() if cfg.sweep else None
    folders: list[RunFolder] = []
    for i, (point, protocol) in enumerate(zip(points, protocols)):
        record = new_record(cfg, model, ds, names, protocol.to_dict(), device, task="vos")
        record["precision"] = cfg.precision
        record["environment"]["propagation"] = path
        record["environment"]["tf32"] = tf32_state()  # as set for the run by runs.run_sweep
        if cfg.sweep:
            record["sweep"] = {
                "id": sweep_id,
                "settings": {k: list(v) for k, v in cfg.sweep},
                "point": point,
                "index": i,
                "size": len(points),
            }
        folders.append(RunFolder(cfg.out, record, device, started))
    scores: list[list[ObjectScore]] = [[] for _ in folders]
    total = sum(len(s.outputs()) for s in seqs)
    done = 0
    # model and dataset setup is counted once, in the first record (which also carries the
    # encoder's time); the other grid points' times are what each extra point costs
    folders[0].elapsed = time.perf_counter() - started
    try:
        for seq in seqs:
            scorers = [scorer_for(seq) if seq.gt else None for _ in folders]
            outputs = set(seq.outputs())
            for t, outs in propagate_many(
                seq,
                model,
                protocols,
                device,
                [f.timings for f in folders],
                cfg.batch_size,
                model.spec.copy_first_frame,
                dtype=dtype,
                path=path,
            ):
                for folder, scorer, ids in zip(folders, scorers, outs):
                    t0 = time.perf_counter()
                    if t in outputs and cfg.save_predictions:
                        folder.submit_write(write_label_png, folder.pred_dir / seq.name / f"{seq.frames[t]}.png", ids)
                    if scorer is not None and t in seq.gt:
                        folder.submit_score(_score_frame, scorer, seq, t, ids)
                    folder.drain(16)
                    folder.elapsed += time.perf_counter() - t0
                if t in outputs:
                    done += 1
                    if progress:
                        progress(seq.name, done, total)
            for folder, scorer, got in zip(folders, scorers, scores):
                t0 = time.perf_counter()
                folder.drain(0)
                if scorer is not None:
                    got.extend(scorer.result())
                folder.elapsed += time.perf_counter() - t0
    except BaseException as e:
        for folder in folders:
            folder.fail(e, _start(folder, len(folders)))
        if isinstance(e, VosbenchError):
            where = folders[0].run_dir if len(folders) == 1 else folders[0].run_dir.parent
            e.args = (f"{e}\n(run folder with the work done so far: {where})",)
        raise
    results = []
    # a server submission when there is no local GT, or always when the dataset asks for it
    # (YouTube-VOS valid with a local GT copy, e.g. the synthetic set)
    zip_it = (
        cfg.save_predictions
        and ds.submission_prefix is not None
        and (ds.submission_with_gt or not any(s.gt for s in seqs))
    )
    for folder, got in zip(folders, scores):
        t0 = time.perf_counter()
        folder.close()
        folder.drain(0)
        metrics: dict[str, Any] = {}
        if got:
            write_per_object_csv(folder.run_dir / "per_object.csv", got)
            write_per_frame_csv(folder.run_dir / "per_frame.csv", got)
            metrics = {**summarize(got), **group_metrics(got, ds.object_group)}
            folder.record["ci"] = ci_for_scores(got, ds.object_group)  # bootstrap over sequences
        if zip_it and ds.submission_prefix is not None:
            z = write_submission_zip(folder.pred_dir, folder.run_dir / "submission.zip", ds.submission_prefix)
            folder.record["submission_zip"] = str(z)
        folder.elapsed += time.perf_counter() - t0
        record = folder.finish(metrics, _start(folder, len(folders)))
        results.append(RunResult(folder.run_dir, record, got))
    return results


def _score_frame(scorer: SequenceScorer, seq: VideoSequence, t: int, ids: np.ndarray) -> None:
    scorer.add(seq.read_gt(t), ids, frame=seq.frames[t])


def _start(folder: RunFolder, n_folders: int) -> float:
    """Start time for a record's total: the run's own start for a single run; for a grid point,
    as if its attributed work (encoder, its propagation, its writing and scoring) had run alone."""
    if n_folders == 1:
        return folder.started
    t = folder.timings
    return time.perf_counter() - (folder.elapsed + t.decode_s + t.features_s + t.propagation_s)
