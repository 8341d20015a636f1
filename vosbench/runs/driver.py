"""One run loop for every task kind: open the run folders; for each sequence stage, predict,
commit; finish or fail.

A task kind (:class:`TaskKind`) brings only what is its own: what it adds to the record head,
the host workers it wants, and its per-sequence work (:meth:`TaskKind.predict` propagates a
sequence once for every run folder and stages its outputs; :meth:`TaskKind.outcome` gives each
folder's results to commit). Segmentation is :class:`vosbench.runs.vos.Segmentation`, keypoints
:class:`vosbench.runs.pose.Keypoints`. The driver does the rest the same way for every kind: one
run folder per grid point (:class:`~vosbench.runs.lifecycle.RunFolder`, under this process's
shard lock), this process's sequences that are not committed yet, each under its sequence lock,
the record when every sequence is in (under torchrun: rank 0, after the barrier), and on any
error or signal the record of what was done.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from vosbench.core.video import VideoSequence
from vosbench.core.workers import HostPool
from vosbench.propagation.protocol import Protocol
from vosbench.propagation.sweep import swept_values
from vosbench.runs.context import Placement, Progress, RunContext
from vosbench.runs.distributed import ProcessGroup
from vosbench.records.types import Sweep, Task
from vosbench.runs.lifecycle import Payload, RunFolder, RunResult, fail_all
from vosbench.runs.record import HeadParts, finished_record, head, load_scores, new_run_id

log = logging.getLogger("vosbench.runs")

S = TypeVar("S")

#: what a task kind commits for one run folder: the result payload and ``(staged, final)`` moves
Outcome = tuple[Payload, list[tuple[Path, Path]]]


@dataclass
class Slot:
    """One run folder's share of the sequence in hand: the folder, its staging folder for this
    sequence and its protocol (grid point)."""

    folder: RunFolder
    stage: Path
    protocol: Protocol


class FrameCounter:
    """Counts the frames done over the whole run for the progress callback."""

    def __init__(self, progress: Progress | None, total: int):
        self.progress = progress
        self.total = total
        self.done = 0

    def __call__(self, sequence: str) -> None:
        self.done += 1
        if self.progress:
            self.progress(sequence, self.done, self.total)


class TaskKind(ABC, Generic[S]):
    """A task kind's part of the run loop. ``S`` is what :meth:`predict` hands to
    :meth:`outcome` for each run folder (scorer, predicted keypoints, ...)."""

    #: the record's ``task``
    task: ClassVar[Task]
    #: what a sequence is called in the log
    unit: ClassVar[str] = "sequence"

    def __init__(self, ctx: RunContext):
        self.ctx = ctx

    def workers(self) -> int:
        """Host worker processes the run wants (0: threads of this process only)."""
        return 0

    @abstractmethod
    def head_parts(self, protocol: Protocol, host: HostPool) -> HeadParts:
        """What this kind adds to the record head of the grid point ``protocol``."""

    def submission_prefix(self) -> str | None:
        """Zip-root prefix when the record includes ``submission.zip``."""
        return None

    def frames_counted(self, seq: VideoSequence) -> int:
        """Frames of ``seq`` the progress callback counts."""
        return len(seq)

    def start(self, host: HostPool, todo: list[VideoSequence]) -> None:
        """Called once before the first sequence (e.g. to start reading frames ahead)."""

    def stop(self) -> None:
        """Called once at the end, whatever happened."""

    @abstractmethod
    def predict(self, seq: VideoSequence, slots: list[Slot], count: FrameCounter) -> list[S]:
        """Propagate ``seq`` for every slot and stage its outputs; call ``count`` per frame."""

    @abstractmethod
    def outcome(self, seq: VideoSequence, slot: Slot, state: S) -> Outcome:
        """The results of ``seq`` in ``slot`` to commit (its work in flight is done first)."""


def drive(ctx: RunContext, kind: TaskKind[Any]) -> list[RunResult]:
    """Run this process's part of ``ctx`` with ``kind``: one result per grid point."""
    with HostPool(kind.workers()) as host:
        folders = open_folders(ctx, kind, host)
        try:
            return _run(ctx, kind, host, folders)
        finally:
            for folder in folders:
                folder.lock.release()


def open_folders(ctx: RunContext, kind: TaskKind[Any], host: HostPool) -> list[RunFolder]:
    """One run folder per grid point, each with its record head; grid point i goes to
    ``<id>-p<i>``, so a resumed or sharded sweep finds every point's folder."""
    cfg, place = ctx.cfg, ctx.placement
    names = [s.name for s in ctx.sequences]
    sweep_id = (place.run_id or new_run_id()) if cfg.sweep or cfg.candidates else None
    folders: list[RunFolder] = []
    try:
        for i, (point, protocol) in enumerate(zip(ctx.points, ctx.protocols)):
            run_id = f"{sweep_id}-p{i}" if sweep_id else place.run_id
            parts = kind.head_parts(protocol, host)
            if sweep_id:
                settings = swept_values(cfg.sweep, cfg.candidates)
                sweep: Sweep = {"id": sweep_id, "settings": settings, "point": point, "index": i, "size": len(ctx.points)}
                parts = dataclasses.replace(parts, sweep=sweep)
            if ctx.tuning is not None:
                parts = dataclasses.replace(parts, tuning=ctx.tuning)
            record = head(cfg, ctx.model, ctx.dataset, names, ctx.device, kind.task, run_id, parts)
            folders.append(RunFolder(
                cfg.out, record, ctx.device, ctx.started, host=host, config=place.config,
                sequences=[(s.name, len(s)) for s in ctx.sequences], shard=place.shard,
                submission_prefix=kind.submission_prefix(), fresh=place.run_id is None,
            ))
    except BaseException as e:  # a set-up that fails or is stopped records every folder it made as failed/interrupted
        try:
            if folders:
                fail_all(folders, e, [None] * len(folders))
            raise
        finally:
            for folder in folders:
                folder.lock.release()
    return folders


def _run(ctx: RunContext, kind: TaskKind[Any], host: HostPool, folders: list[RunFolder]) -> list[RunResult]:
    place = ctx.placement
    todo = [s for s in ctx.sequences if s.name in place.mine and not all(f.is_committed(s.name) for f in folders)]
    announce(folders[0], place, [s.name for s in todo], sum(len(s) for s in todo))
    count = FrameCounter(ctx.progress, sum(kind.frames_counted(s) for s in todo))
    # model and dataset setup is counted once, in the first record (which also carries the
    # encoder's time); the other grid points' times are what each extra point costs
    folders[0].elapsed = time.perf_counter() - ctx.started
    kind.start(host, todo)
    try:
        try:
            for seq in todo:
                if _sequence(kind, folders, ctx.protocols, seq, count):
                    log.info("%s: %s %s committed (%d frames)", place.shard_label, kind.unit, seq.name, len(seq))
        except BaseException as e:
            fail_all(folders, e, [_start(f, len(folders)) for f in folders])
        results = [_finish(folder, len(folders), place.merge_here) for folder in folders]
        if ctx.group is not None:
            _records_after_barrier(ctx.group, folders, results)
        return results
    finally:
        kind.stop()


def _sequence(
    kind: TaskKind[Any], folders: list[RunFolder], protocols: list[Protocol], seq: VideoSequence, count: FrameCounter
) -> bool:
    """Stage, predict and commit ``seq`` in every folder that lacks it (after an interruption
    between two grid points' commits, only the missing ones are redone). False when another
    process committed it meanwhile."""
    slots = []
    for folder, protocol in zip(folders, protocols):
        if not folder.is_committed(seq.name):
            stage = folder.begin_sequence(seq.name)
            if stage is not None:
                slots.append(Slot(folder, stage, protocol))
    if not slots:
        return False
    states = kind.predict(seq, slots, count)
    for slot, state in zip(slots, states):
        t0 = time.perf_counter()
        payload, moves = kind.outcome(seq, slot, state)
        slot.folder.commit_sequence(seq.name, payload, moves)
        slot.folder.elapsed += time.perf_counter() - t0
    return True


def _finish(folder: RunFolder, n_folders: int, write_record: bool) -> RunResult:
    start = _start(folder, n_folders)
    try:
        written = folder.finish(start, write_record=write_record)
    except BaseException as e:  # e.g. the disk filled up while writing the tables
        fail_all([folder], e, [start])
    if written is None:  # another shard is still working: it writes the record
        return RunResult(folder.run_dir, folder.record, [])
    return RunResult(folder.run_dir, written.record, written.scores)


def _records_after_barrier(group: ProcessGroup, folders: list[RunFolder], results: list[RunResult]) -> None:
    """torchrun: every rank's sequences are committed after the first barrier; rank 0 writes
    the records, the others read them after the second. A rank stopped at a barrier records
    what is in (complete if all is)."""
    try:
        group.barrier()
        if group.rank == 0:
            for folder, result in zip(folders, results):
                written = folder.write_record()
                result.record, result.scores = written.record, written.scores
        group.barrier()
    except BaseException as e:
        for folder in folders:
            if finished_record(folder.run_dir) is None:
                try:
                    folder.write_record(stopped=e)
                except Exception:
                    pass  # the original error matters more; `vosbench merge` can redo this
        raise
    if group.rank != 0:
        for result in results:
            result.record = finished_record(result.run_dir) or result.record
            result.scores = load_scores(result.run_dir)


def announce(folder: RunFolder, place: Placement, todo: list[str], frames: int) -> None:
    """Log where the run goes and what this process will do."""
    before = len(folder.committed_before)
    log.info(
        "%s: run folder %s; %d sequence(s) (%d frames) to do here%s",
        place.shard_label,
        folder.run_dir,
        len(todo),
        frames,
        f", {before} of {len(folder.names)} already committed" if before else "",
    )


def _start(folder: RunFolder, n_folders: int) -> float:
    """Start time for a record's total: the run's own start for a single run; for a grid point,
    as if its attributed work (encoder, its propagation, its writing and scoring) had run alone."""
    if n_folders == 1:
        return folder.started
    t = folder.timings
    return time.perf_counter() - (folder.elapsed + t.decode_s + t.features_s + t.propagation_s)
