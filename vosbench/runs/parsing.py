"""Human-part parsing runs (VIP): propagate the first frame's part map, score the confusion matrix.

Labels are class ids (20 classes, :mod:`vosbench.scoring.parsing`), propagated by the same k-NN
engine as segmentation masks (one label per class present in the first frame). Only the
annotated frames are written and scored: ``predictions/<video>/<frame>.png`` (greyscale class ids
at the ground truth's size, read alike by both official scorers), and each video's 20 x 20
confusion matrix is committed in its ``result.json``. The record's tables are
``confusion.csv``, ``per_video_miou.csv`` and ``per_class_iou.csv``; ``summary.json`` has
``task: "parsing"`` and the metrics ``mIoU``, ``pixel_accuracy``, ``mean_accuracy`` and ``fwIoU``,
with bootstrap intervals over videos.
"""

from __future__ import annotations

import time

import numpy as np

from vosbench.core.errors import InputFileError
from vosbench.core.io import atomic_write_bytes
from vosbench.core.safepath import safe_join
from vosbench.core.video import VideoSequence
from vosbench.core.workers import HostPool
from vosbench.propagation.batched import propagation_path
from vosbench.propagation.engine import precision_dtype, propagate_many
from vosbench.propagation.protocol import Protocol
from vosbench.runs.context import RunContext
from vosbench.runs.driver import FrameCounter, Outcome, Slot, TaskKind
from vosbench.runs.lifecycle import Payload
from vosbench.runs.record import HeadParts
from vosbench.scoring.parsing import DEFAULT_SCORER, N_CLASSES, encode_class_png, fit_prediction, hist_of


class Parsing(TaskKind[np.ndarray]):
    """Parsing runs in the run loop (:mod:`vosbench.runs.driver`): every grid point's part maps
    from one pass of features per frame; the annotated frames written and counted."""

    task = "parsing"
    unit = "video"

    def __init__(self, ctx: RunContext):
        super().__init__(ctx)
        self.dtype = precision_dtype(ctx.cfg.precision, ctx.device)
        self.path = propagation_path(ctx.device)  # batched on CUDA, windowed on CPU (VOSBENCH_PROPAGATION forces one)

    def head_parts(self, protocol: Protocol, host: HostPool) -> HeadParts:
        # the scorer decides how a prediction of another size is fitted to the ground truth
        settings = {**protocol.to_dict(), "scorer": DEFAULT_SCORER}
        return HeadParts(settings, self.path, precision=self.ctx.cfg.precision)

    def predict(self, seq: VideoSequence, slots: list[Slot], count: FrameCounter) -> list[np.ndarray]:
        cfg, model = self.ctx.cfg, self.ctx.model
        hists = [np.zeros((N_CLASSES, N_CLASSES), np.int64) for _ in slots]
        for t, outs in propagate_many(
            seq, model, [s.protocol for s in slots], self.ctx.device, [s.folder.timings for s in slots],
            cfg.batch_size, model.spec.copy_first_frame, dtype=self.dtype, path=self.path,
        ):
            count(seq.name)
            if t not in seq.gt:
                continue
            t0 = time.perf_counter()
            gt = seq.read_gt(t)
            for slot, hist, ids in zip(slots, hists, outs):
                try:
                    hist += hist_of(gt, fit_prediction(ids, gt.shape, DEFAULT_SCORER))
                except InputFileError as e:  # e.g. void (255) propagated onto a part (void_label on)
                    raise InputFileError(f"{seq.name}/{seq.frames[t]}: {e}") from None
                if cfg.save_predictions:
                    atomic_write_bytes(safe_join(slot.stage, "predictions", f"{seq.frames[t]}.png"), encode_class_png(ids))
            spent = (time.perf_counter() - t0) / len(slots)
            for slot in slots:
                slot.folder.t_eval += spent
        return hists

    def outcome(self, seq: VideoSequence, slot: Slot, state: np.ndarray) -> Outcome:
        payload: Payload = {"frames": len(seq), "confusion": state.tolist()}
        return payload, [(slot.stage / "predictions", safe_join(slot.folder.run_dir, "predictions", seq.name))]
