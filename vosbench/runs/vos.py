"""Segmentation runs (DAVIS, YouTube-VOS): propagate masks, write palette PNGs, score J&F.

A run folder holds ``predictions/<seq>/<frame>.png``, ``per_object.csv``, ``per_frame.csv``,
``summary.json`` and, for datasets with an evaluation server layout, ``submission.zip``. With a
protocol grid (``--sweep``) every grid point gets its own folder and record, and the features of
each frame are computed once for all of them.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vosbench.core.labels import PALETTES
from vosbench.core.safepath import safe_join
from vosbench.core.video import VideoSequence
from vosbench.core.workers import FrameReader, HostPool, resolve_workers
from vosbench.datasets.base import VideoDataset
from vosbench.evaluate.base import sequence_scorer
from vosbench.models.base import Encoder
from vosbench.propagation.batched import propagation_path
from vosbench.propagation.engine import precision_dtype, propagate_many
from vosbench.propagation.protocol import Protocol
from vosbench.runs.config import RunConfig
from vosbench.runs.lifecycle import (
    Placement,
    Progress,
    RunFolder,
    RunResult,
    announce,
    fail_all,
    new_record,
    new_run_id,
)
from vosbench.runs.merge import load_scores, scores_to_json
from vosbench.scoring.frame_output import FrameMeasure, write_and_measure
from vosbench.scoring.jf import FrameCheck, SequenceScorer

log = logging.getLogger("vosbench.runs")


def scorer_for(seq: VideoSequence) -> SequenceScorer:
    """J/F scorer of one sequence, set up as ``vosbench eval`` sets it up (objects that appear
    mid-video are scored from their first appearance among the sequence's GT frames)."""
    return sequence_scorer(seq.name, sorted(seq.gt), seq.object_starts)


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
    placement: Placement | None = None,
) -> list[RunResult]:
    """Run every protocol of ``protocols`` (one per grid point of ``points``) over this process's
    part (``placement``; default: all) of the sequences ``seqs`` of ``ds``."""
    place = placement or Placement.whole(seqs)
    with HostPool(resolve_workers(cfg.workers, device.type)) as host:
        dtype = precision_dtype(cfg.precision, device)
        prop_path = propagation_path(device)  # batched on CUDA, windowed on CPU (VOSBENCH_PROPAGATION forces one)
        names = [s.name for s in seqs]
        # a server submission when there is no local GT, or always when the dataset asks for it
        # (YouTube-VOS valid with a local GT copy, e.g. the synthetic set)
        zip_it = (
            cfg.save_predictions
            and ds.submission_prefix is not None
            and (ds.submission_with_gt or not any(s.gt for s in seqs))
        )
        # grid point i goes to <id>-p<i>, so a resumed or sharded sweep finds every point's folder
        sweep_id = (place.run_id or new_run_id()) if cfg.sweep else None
        folders: list[RunFolder] = []
        try:  # a set-up that fails or is stopped records every folder it made as failed/interrupted
            for i, (point, protocol) in enumerate(zip(points, protocols)):
                run_id = f"{sweep_id}-p{i}" if sweep_id else place.run_id
                record = new_record(cfg, model, ds, names, protocol.to_dict(), device, task="vos", run_id=run_id)
                record["precision"] = cfg.precision
                record["environment"]["propagation"] = prop_path
                record["environment"]["host_workers"] = host.workers
                if cfg.sweep:
                    record["sweep"] = {
                        "id": sweep_id,
                        "settings": {k: list(v) for k, v in cfg.sweep},
                        "point": point,
                        "index": i,
                        "size": len(points),
                    }
                folders.append(
                    RunFolder(
                        cfg.out, record, device, started,
                        config=place.config, sequences=[(s.name, len(s)) for s in seqs], shard=place.shard,
                        submission_prefix=ds.submission_prefix if zip_it else None, fresh=place.run_id is None,
                        host=host,
                    )
                )
        except BaseException as e:
            if folders:
                fail_all(folders, e, [None] * len(folders))
            raise
        todo = [s for s in seqs if s.name in place.mine and not all(f.is_committed(s.name) for f in folders)]
        announce(folders[0], place, [s.name for s in todo], sum(len(s) for s in todo))
        total = sum(len(s.outputs()) for s in todo)
        done = 0
        # model and dataset setup is counted once, in the first record (which also carries the
        # encoder's time); the other grid points' times are what each extra point costs
        folders[0].elapsed = time.perf_counter() - started
        # with worker processes: frames decoded there, ahead and across sequences; without, the
        # engine's own decoding thread (as fast on CPU runs, where propagation takes the time).
        # Frame jobs in flight per grid point: enough to keep every worker busy, few enough to bound memory
        reader = FrameReader(host, todo, depth=2 * host.workers) if host.workers else None
        in_flight = max(16, 4 * host.workers)
        try:
            try:
                for seq in todo:
                    # after an interruption between two grid points' commits, only the missing ones are redone
                    active = [f for f in folders if not f.is_committed(seq.name)]
                    protos = [p for f, p in zip(folders, protocols) if not f.is_committed(seq.name)]
                    stages = [f.begin_sequence(seq.name) for f in active]
                    scorers = [scorer_for(seq) if seq.gt else None for _ in active]
                    outputs = set(seq.outputs())
                    gt_src = _gt_source(seq)
                    first_gt = functools.lru_cache(maxsize=1)(seq.read_gt)  # read once for all grid points
                    for t, outs in propagate_many(
                        seq,
                        model,
                        protos,
                        device,
                        [f.timings for f in active],
                        cfg.batch_size,
                        model.spec.copy_first_frame,
                        dtype=dtype,
                        path=prop_path,
                        reader=reader,
                    ):
                        for folder, stage, scorer, ids, protocol in zip(active, stages, scorers, outs, protos):
                            t0 = time.perf_counter()
                            save = cfg.save_predictions and t in outputs
                            _hand_off(folder, stage, scorer, seq, t, ids, protocol, save, gt_src, first_gt)
                            folder.drain(in_flight)
                            folder.elapsed += time.perf_counter() - t0
                        if t in outputs:
                            done += 1
                            if progress:
                                progress(seq.name, done, total)
                    for folder, stage, scorer in zip(active, stages, scorers):
                        t0 = time.perf_counter()
                        folder.drain(0)
                        got = scorer.result() if scorer is not None else []
                        groups = {int(s.object): ds.object_group(seq.name, int(s.object)) for s in got}
                        folder.commit_sequence(
                            seq.name,
                            {"frames": len(seq), "objects": scores_to_json(got, groups)},
                            [(stage / "predictions", safe_join(folder.run_dir, "predictions", seq.name))],
                        )
                        folder.elapsed += time.perf_counter() - t0
                    log.info("%s: sequence %s committed (%d frames)", place.shard_label, seq.name, len(seq))
            except BaseException as e:
                fail_all(folders, e, [_start(f, len(folders)) for f in folders])
            results = []
            for folder in folders:
                try:
                    merged = folder.finish(_start(folder, len(folders)), write_record=place.merge_here)
                except BaseException as e:  # e.g. the disk filled up while writing the tables
                    fail_all([folder], e, [_start(folder, len(folders))])
                scores = load_scores(folder.run_dir) if merged is not None else []
                results.append(RunResult(folder.run_dir, folder.record, scores))
        finally:
            if reader is not None:
                reader.close()
        return results


def _hand_off(
    folder: RunFolder,
    stage: Path,
    scorer: SequenceScorer | None,
    seq: VideoSequence,
    t: int,
    ids: np.ndarray,
    protocol: Protocol,
    save: bool,
    gt_src: Callable[[int], np.ndarray | Path],
    first_gt: Callable[[int], np.ndarray],
) -> None:
    """Give frame ``t``'s prediction ``ids`` to the host workers: its PNG (when ``save``) and,
    on a GT frame, its J and F (into ``scorer``, in order, when the folder drains)."""
    png = safe_join(stage, "predictions", f"{seq.frames[t]}.png") if save else None
    check = None
    if scorer is not None and t in seq.gt:
        # the first GT frame is the given reference: it fixes size and objects, is never scored
        first = scorer.frames == 0
        check = scorer.expect(seq.frames[t], gt0=first_gt(t)) if first else scorer.expect(seq.frames[t])
    measure = check is not None and check.index > 0
    if png is None and not measure:
        return
    # a pixel predicted void is written as 255, as DINO's script writes it, and scored as
    # background (void is no object)
    folder.submit(
        write_and_measure, ids, png, PALETTES[protocol.palette], check if measure else None,
        gt_src(t) if measure else None, seq.binary_masks, protocol.void_label,
        then=_store(folder, scorer, check),
    )


def _gt_source(seq: VideoSequence) -> Callable[[int], np.ndarray | Path]:
    """How a worker gets GT frame ``t``: its path (read there) when the sequence reads GT files
    the standard way, else the map read here (plugin sequences with their own ``read_gt``)."""
    if type(seq).read_gt is VideoSequence.read_gt:
        return lambda t: seq.gt[t]
    return seq.read_gt


def _store(
    folder: RunFolder, scorer: SequenceScorer | None, check: FrameCheck | None
) -> Callable[[FrameMeasure | None], None]:
    """What to do with a frame job's result: hand the measures to the scorer, count the time."""

    def store(measured: FrameMeasure | None) -> None:
        if measured is not None and scorer is not None and check is not None:
            scorer.put(check, measured.j, measured.f)
            folder.t_eval += measured.seconds

    return store


def _start(folder: RunFolder, n_folders: int) -> float:
    """Start time for a record's total: the run's own start for a single run; for a grid point,
    as if its attributed work (encoder, its propagation, its writing and scoring) had run alone."""
    if n_folders == 1:
        return folder.started
    t = folder.timings
    return time.perf_counter() - (folder.elapsed + t.decode_s + t.features_s + t.propagation_s)
