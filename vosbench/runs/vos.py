"""Segmentation runs (DAVIS, YouTube-VOS): propagate masks, write palette PNGs, score J&F.

A run folder holds ``predictions/<seq>/<frame>.png``, ``per_object.csv``, ``per_frame.csv``,
``summary.json`` and, for datasets with an evaluation server layout, ``submission.zip``. With a
protocol grid (``--sweep``) every grid point gets its own folder and record, and the features of
each frame are computed once for all of them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vosbench.core.labels import PALETTES
from vosbench.core.safepath import safe_join
from vosbench.core.video import VideoSequence
from vosbench.core.workers import FrameReader, HostPool, resolve_workers
from vosbench.evaluate.base import sequence_scorer
from vosbench.propagation.batched import propagation_path
from vosbench.propagation.engine import precision_dtype, propagate_many
from vosbench.propagation.protocol import Protocol
from vosbench.runs.context import RunContext
from vosbench.runs.driver import FrameCounter, Outcome, Slot, TaskKind
from vosbench.runs.lifecycle import Payload, RunFolder
from vosbench.runs.record import HeadParts
from vosbench.runs.tables import scores_to_json
from vosbench.scoring.frame_output import FrameMeasure, write_and_measure
from vosbench.scoring.jf import FrameCheck, SequenceScorer


def scorer_for(seq: VideoSequence) -> SequenceScorer:
    """J/F scorer of one sequence, set up as ``vosbench eval`` sets it up (objects that appear
    mid-video are scored from their first appearance among the sequence's GT frames)."""
    return sequence_scorer(seq.name, sorted(seq.gt), seq.object_starts)


@dataclass
class _Scoring:
    """A grid point's scorer of the sequence in hand (``None`` without GT)."""

    scorer: SequenceScorer | None


class Segmentation(TaskKind[_Scoring]):
    """Segmentation runs in the run loop (:mod:`vosbench.runs.driver`): every grid point's masks
    from one pass of features per frame, PNGs written and frames scored by the host workers."""

    task = "vos"

    def __init__(self, ctx: RunContext):
        super().__init__(ctx)
        self.dtype = precision_dtype(ctx.cfg.precision, ctx.device)
        self.path = propagation_path(ctx.device)  # batched on CUDA, windowed on CPU (VOSBENCH_PROPAGATION forces one)
        self.reader: FrameReader | None = None
        self.in_flight = 16

    def workers(self) -> int:
        return resolve_workers(self.ctx.cfg.workers, self.ctx.device.type)

    def head_parts(self, protocol: Protocol, host: HostPool) -> HeadParts:
        return HeadParts(protocol.to_dict(), self.path, precision=self.ctx.cfg.precision, host_workers=host.workers)

    def submission_prefix(self) -> str | None:
        # a server submission when there is no local GT, or always when the dataset asks for it
        # (YouTube-VOS valid with a local GT copy, e.g. the synthetic set)
        ds = self.ctx.dataset
        if self.ctx.cfg.save_predictions and (ds.submission_with_gt or not any(s.gt for s in self.ctx.sequences)):
            return ds.submission_prefix
        return None

    def frames_counted(self, seq: VideoSequence) -> int:
        return len(seq.outputs())

    def start(self, host: HostPool, todo: list[VideoSequence]) -> None:
        # with worker processes: frames decoded there, ahead and across sequences; without, the
        # engine's own decoding thread (as fast on CPU runs, where propagation takes the time).
        # Frame jobs in flight per grid point: enough to keep every worker busy, few enough to bound memory
        self.reader = FrameReader(host, todo, depth=2 * host.workers) if host.workers else None
        self.in_flight = max(16, 4 * host.workers)

    def stop(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def predict(self, seq: VideoSequence, slots: list[Slot], count: FrameCounter) -> list[_Scoring]:
        cfg, model = self.ctx.cfg, self.ctx.model
        states = [_Scoring(scorer_for(seq) if seq.gt else None) for _ in slots]
        protos = [s.protocol for s in slots]
        outputs = set(seq.outputs())
        gt_src = _gt_source(seq)
        first_gt = functools.lru_cache(maxsize=1)(seq.read_gt)  # read once for all grid points
        for t, outs in propagate_many(
            seq, model, protos, self.ctx.device, [s.folder.timings for s in slots], cfg.batch_size,
            model.spec.copy_first_frame, dtype=self.dtype, path=self.path, reader=self.reader,
        ):
            for slot, state, ids in zip(slots, states, outs):
                t0 = time.perf_counter()
                save = cfg.save_predictions and t in outputs
                _hand_off(slot.folder, slot.stage, state.scorer, seq, t, ids, slot.protocol, save, gt_src, first_gt)
                slot.folder.drain(self.in_flight)
                slot.folder.elapsed += time.perf_counter() - t0
            if t in outputs:
                count(seq.name)
        return states

    def outcome(self, seq: VideoSequence, slot: Slot, state: _Scoring) -> Outcome:
        slot.folder.drain(0)
        got = state.scorer.result() if state.scorer is not None else []
        groups = {int(s.object): self.ctx.dataset.object_group(seq.name, int(s.object)) for s in got}
        payload: Payload = {"frames": len(seq), "objects": scores_to_json(got, groups)}
        return payload, [(slot.stage / "predictions", safe_join(slot.folder.run_dir, "predictions", seq.name))]


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
