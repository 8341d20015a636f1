"""Keypoint runs (JHMDB, BADJA): propagate joint maps, read out keypoints, score PCK.

The run folder holds ``keypoints/<video>.csv``, ``per_joint_pck.csv``, ``per_video_pck.csv`` and
``summary.json`` (``task: "pose"``; metrics ``PCK@0.1``, ``PCK@0.2``, ``PCK_pooled@0.1``,
``PCK_pooled@0.2`` and ``pck_curve``). The dataset names its joints (``ds.joints``) and its PCK
rules (``ds.pck_rules``: ``jhmdb``, :mod:`vosbench.scoring.pck`; ``badja``,
:mod:`vosbench.scoring.pck_badja`, reported pooled over all pairs).
"""

from __future__ import annotations

import csv
import io
import time

import numpy as np

from vosbench.core.io import atomic_write_text
from vosbench.core.safepath import safe_join
from vosbench.core.video import VideoSequence
from vosbench.core.workers import HostPool
from vosbench.propagation.batched import propagation_path
from vosbench.propagation.keypoints import SIGMA_CELLS, propagate_pose
from vosbench.propagation.protocol import Protocol
from vosbench.runs.context import RunContext
from vosbench.runs.driver import FrameCounter, Outcome, Slot, TaskKind
from vosbench.runs.lifecycle import Payload
from vosbench.runs.record import HeadParts
from vosbench.scoring import pck_badja
from vosbench.scoring.pck import PCKAccumulator


def keypoints_csv_text(frames: list[str], kps: np.ndarray) -> str:
    """``frame,joint,x,y`` rows: frame = the image's file stem (JHMDB: ``00001`` = first frame),
    joint = 0-based index in the dataset's joints (JHMDB: :data:`vosbench.datasets.joints.JOINTS`,
    the order of ``joint_positions.mat``; BADJA: ``BADJA_JOINTS``), x/y = 0-based original-frame
    pixels (``nan`` = no prediction)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("frame", "joint", "x", "y"))
    for t, name in enumerate(frames):
        for j in range(kps.shape[1]):
            x, y = kps[t, j]
            w.writerow((name, j, "nan" if x != x else f"{x:.3f}", "nan" if y != y else f"{y:.3f}"))
    return buf.getvalue()


class Keypoints(TaskKind[np.ndarray]):
    """Keypoint runs in the run loop (:mod:`vosbench.runs.driver`): joint maps propagated, the
    keypoints read out per frame, PCK counted per video."""

    task = "pose"
    unit = "video"

    def __init__(self, ctx: RunContext):
        super().__init__(ctx)
        self.path = propagation_path(ctx.device)  # batched on CUDA, windowed on CPU (VOSBENCH_PROPAGATION forces one)
        # CRW's eval_pck.py scores a joint only where its prediction exists (crw-jhmdb)
        self.visibility = "prediction" if ctx.protocols[0].keypoints == "crw" else "gt"
        self.joints = ctx.dataset.joints
        self.rules = ctx.dataset.pck_rules

    def head_parts(self, protocol: Protocol, host: HostPool) -> HeadParts:
        # the keypoint-specific settings decide the numbers too, so they are part of the protocol
        settings = {**protocol.to_dict(), "keypoint_sigma": SIGMA_CELLS}
        return HeadParts(settings, self.path)

    def predict(self, seq: VideoSequence, slots: list[Slot], count: FrameCounter) -> list[np.ndarray]:
        (slot,) = slots  # no grid for keypoint runs
        model = self.ctx.model
        pred = np.full((len(seq), len(self.joints), 2), np.nan)
        for t, kps in propagate_pose(
            seq, model, slot.protocol, self.ctx.device, slot.folder.timings, self.ctx.cfg.batch_size,
            model.spec.copy_first_frame, path=self.path,
        ):
            pred[t] = kps
            count(seq.name)
        return [pred]

    def outcome(self, seq: VideoSequence, slot: Slot, state: np.ndarray) -> Outcome:
        t0 = time.perf_counter()
        assert seq.keypoints is not None  # propagate_pose refuses a video without keypoints
        if self.rules == "badja":
            hits, counts = pck_badja.score_video(seq, state)
        else:
            hits, counts = PCKAccumulator(self.joints, visibility=self.visibility).add(seq.name, state, seq.keypoints)
        slot.folder.t_eval += time.perf_counter() - t0
        if self.ctx.cfg.save_predictions:
            atomic_write_text(slot.stage / "keypoints.csv", keypoints_csv_text(seq.frames, state))
        payload: Payload = {"frames": len(seq), "hits": hits.tolist(), "counts": counts.tolist()}
        return payload, [(slot.stage / "keypoints.csv", safe_join(slot.folder.run_dir, "keypoints", f"{seq.name}.csv"))]
