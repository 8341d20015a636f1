"""Keypoint runs (JHMDB): propagate joint maps, read out keypoints, score PCK.

The run folder holds ``keypoints/<video>.csv``, ``per_joint_pck.csv``, ``per_video_pck.csv`` and
``summary.json`` (``task: "pose"``; metrics ``PCK@0.1``, ``PCK@0.2``, ``PCK_pooled@0.1``,
``PCK_pooled@0.2`` and ``pck_curve``).
"""

from __future__ import annotations

import csv
import io
import logging
import time

import numpy as np
import torch

from vosbench.core.safepath import safe_join
from vosbench.core.io import atomic_write_text
from vosbench.core.video import VideoSequence
from vosbench.datasets.base import VideoDataset
from vosbench.datasets.joints import JOINTS
from vosbench.models.base import Encoder
from vosbench.propagation.batched import propagation_path
from vosbench.propagation.keypoints import READOUT_TOPK, SIGMA_CELLS, propagate_pose
from vosbench.propagation.protocol import Protocol
from vosbench.runs.config import RunConfig
from vosbench.runs.lifecycle import Placement, Progress, RunFolder, RunResult, announce, fail_all, new_record
from vosbench.scoring.pck import PCKAccumulator

log = logging.getLogger("vosbench.runs")


def keypoints_csv_text(frames: list[str], kps: np.ndarray) -> str:
    """``frame,joint,x,y`` rows: frame = the image's file stem (JHMDB: ``00001`` = first frame),
    joint = 0-based index in :data:`vosbench.datasets.joints.JOINTS` (the order of JHMDB's
    ``joint_positions.mat``), x/y = 0-based original-frame pixels (``nan`` = no prediction)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("frame", "joint", "x", "y"))
    for t, name in enumerate(frames):
        for j in range(kps.shape[1]):
            x, y = kps[t, j]
            w.writerow((name, j, "nan" if x != x else f"{x:.3f}", "nan" if y != y else f"{y:.3f}"))
    return buf.getvalue()


def run_pose(
    cfg: RunConfig,
    ds: VideoDataset,
    seqs: list[VideoSequence],
    model: Encoder,
    protocol: Protocol,
    device: torch.device,
    started: float,
    progress: Progress | None = None,
    placement: Placement | None = None,
) -> RunResult:
    """``vosbench run`` for a keypoint dataset: propagate, read out, score PCK, write the run
    folder; this process does its part (``placement``; default: all) of the videos ``seqs``."""
    place = placement or Placement.whole(seqs)
    names = [s.name for s in seqs]
    # the keypoint-specific settings decide the numbers too, so they are part of the protocol
    settings = {**protocol.to_dict(), "keypoint_sigma": SIGMA_CELLS, "keypoint_readout_topk": READOUT_TOPK}
    record = new_record(cfg, model, ds, names, settings, device, task="pose", run_id=place.run_id)
    prop_path = propagation_path(device)  # batched on CUDA, windowed on CPU (VOSBENCH_PROPAGATION forces one)
    record["environment"]["propagation"] = prop_path
    folder = RunFolder(
        cfg.out, record, device, started,
        config=place.config, sequences=[(s.name, len(s)) for s in seqs], shard=place.shard,
        fresh=place.run_id is None,
    )
    todo = [s for s in seqs if s.name in place.mine and not folder.is_committed(s.name)]
    announce(folder, place, [s.name for s in todo], sum(len(s) for s in todo))
    # CRW's eval_pck.py scores a joint only where its prediction exists (crw-jhmdb)
    visibility = "prediction" if protocol.keypoints == "crw" else "gt"
    total = sum(len(s) for s in todo)
    done = 0
    try:
        for seq in todo:
            stage = folder.begin_sequence(seq.name)
            if stage is None:  # another process committed it meanwhile
                continue
            pred = np.full((len(seq), len(JOINTS), 2), np.nan)
            for t, kps in propagate_pose(
                seq, model, protocol, device, folder.timings, cfg.batch_size, model.spec.copy_first_frame, path=prop_path
            ):
                pred[t] = kps
                done += 1
                if progress:
                    progress(seq.name, done, total)
            t0 = time.perf_counter()
            assert seq.keypoints is not None  # propagate_pose refuses a video without keypoints
            hits, counts = PCKAccumulator(JOINTS, visibility=visibility).add(seq.name, pred, seq.keypoints)
            folder.t_eval += time.perf_counter() - t0
            if cfg.save_predictions:
                atomic_write_text(stage / "keypoints.csv", keypoints_csv_text(seq.frames, pred))
            folder.commit_sequence(
                seq.name,
                {"frames": len(seq), "hits": hits.tolist(), "counts": counts.tolist()},
                [(stage / "keypoints.csv", safe_join(folder.run_dir, "keypoints", f"{seq.name}.csv"))],
            )
            log.info("%s: video %s committed (%d frames)", place.shard_label, seq.name, len(seq))
        folder.finish(write_record=place.merge_here)
    except BaseException as e:
        fail_all([folder], e, [None])
    finally:
        folder.lock.release()
    return RunResult(folder.run_dir, folder.record, [])
