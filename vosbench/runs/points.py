"""Point-tracking runs (TAP-Vid): sample the queries, track them, score with tapnet's metrics.

The run folder holds ``tracks/<video>.npz``, ``per_video_tapvid.csv`` and ``summary.json``
(``task: "points"``; metrics ``average_jaccard`` (AJ), ``average_pts_within_thresh``
(<δ^x_avg), ``occlusion_accuracy`` (OA), ``jaccard_<d>`` and ``pts_within_<d>`` for d in 1, 2,
4, 8, 16; the means over videos).

``tracks/<video>.npz`` (``numpy.load``, no pickle): ``tracks`` float32 (Q, T, 2), x/y in 0-based
pixels of the original frame; ``occluded`` bool (Q, T); ``query_points`` float32 (Q, 3) ``[t, y,
x]`` in the same pixels; ``query_mode`` (text). One row per query in tapnet's order: in ``first``
mode one per GT track visible in at least one frame, in the pickle's order; in ``strided`` mode
one per (query frame, track visible there), frame-major.
"""

from __future__ import annotations

import io
import time

import numpy as np

from vosbench.core.io import atomic_write_bytes
from vosbench.core.safepath import safe_join
from vosbench.core.video import VideoSequence
from vosbench.core.workers import HostPool
from vosbench.datasets.tapvid import TapVidSequence
from vosbench.propagation.batched import propagation_path
from vosbench.propagation.points import Tracks, track_points
from vosbench.propagation.protocol import Protocol
from vosbench.runs.context import RunContext
from vosbench.runs.driver import FrameCounter, Outcome, Slot, TaskKind
from vosbench.runs.lifecycle import Payload
from vosbench.runs.record import HeadParts
from vosbench.scoring.tapvid import Queries, sample_queries, score_video


def tracks_npz_bytes(queries: Queries, tracks: Tracks, mode: str) -> bytes:
    """The ``tracks/<video>.npz`` file of a video (see the module docstring)."""
    buf = io.BytesIO()
    np.savez(
        buf,
        tracks=tracks.xy.astype(np.float32),
        occluded=tracks.occluded.astype(bool),
        query_points=queries.points.astype(np.float32),
        query_mode=np.array(mode),
    )
    return buf.getvalue()


class PointTracks(TaskKind[tuple[Queries, Tracks]]):
    """Point-tracking runs in the run loop (:mod:`vosbench.runs.driver`)."""

    task = "points"
    unit = "video"

    def __init__(self, ctx: RunContext):
        super().__init__(ctx)
        self.path = propagation_path(ctx.device)

    def head_parts(self, protocol: Protocol, host: HostPool) -> HeadParts:
        return HeadParts(protocol.to_dict(), self.path)

    def predict(self, seq: VideoSequence, slots: list[Slot], count: FrameCounter) -> list[tuple[Queries, Tracks]]:
        assert isinstance(seq, TapVidSequence)  # points datasets give TapVidSequence
        (slot,) = slots  # no grid for point runs
        pts, occ = seq.gt_tracks()
        queries = sample_queries(seq.query_mode, occ, pts)
        if self.ctx.model.spec.copy_first_frame:  # the identity baseline: every point stays where it was asked
            tracks = Tracks.empty(queries.points, len(seq))
            tracks.occluded[:] = False
        else:
            tracks = track_points(
                seq, self.ctx.model, slot.protocol, self.ctx.device, slot.folder.timings, queries.points,
                seq.size, seq.query_mode, self.ctx.cfg.batch_size,
            )
        for _ in range(len(seq)):
            count(seq.name)
        return [(queries, tracks)]

    def outcome(self, seq: VideoSequence, slot: Slot, state: tuple[Queries, Tracks]) -> Outcome:
        assert isinstance(seq, TapVidSequence)
        queries, tracks = state
        t0 = time.perf_counter()
        score = score_video(seq.name, seq.size, queries, tracks.xy, tracks.occluded, seq.query_mode)
        slot.folder.t_eval += time.perf_counter() - t0
        staged = slot.stage / "tracks.npz"
        atomic_write_bytes(staged, tracks_npz_bytes(queries, tracks, seq.query_mode))
        payload: Payload = {"frames": len(seq), "queries": score.queries, "tapvid": score.metrics}
        return payload, [(staged, safe_join(slot.folder.run_dir, "tracks", f"{seq.name}.npz"))]
