"""The life of one run folder, shared by every task kind.

:class:`RunFolder` creates (or, for shards and resumed runs, joins) ``<out>/<dataset>/<model>/<run-id>/``
under this process's shard lock (:mod:`vosbench.runs.locks`) with its plan (the record head of
:func:`vosbench.runs.record.head`), stages and commits sequences one by one, keeps this process's
stage timings and the worker jobs that write predictions and score frames while propagation goes
on (a bounded number of frames in flight, so memory does not grow with the video). This process's
part ends in one of two ways: :meth:`RunFolder.finish` (the record is written, status
``complete``, when every sequence of the run is in) or :meth:`RunFolder.fail` (``failed`` for an
error, ``interrupted`` for SIGTERM/SIGINT, with the committed sequences' scores); either way
``summary.json`` is written last and atomically (:func:`vosbench.runs.record.write_record`), and
every committed sequence stays.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypedDict, TypeVar, cast

import torch

from vosbench.core.errors import ConfigError, InputFileError, VosbenchError
from vosbench.core.safepath import check_name, folder_name, os_error_text
from vosbench.core.workers import HostPool
from vosbench.datasets.base import VideoDataset
from vosbench.propagation.engine import Timings
from vosbench.records.schema import SUMMARY, write_summary
from vosbench.records.types import ObjectResult, Plan, RunSummary, SequenceResult, SequenceTimings, Settings
import vosbench.runs.ledger as ledger
from vosbench.runs.locks import FileLock, holder, shard_lock_name
from vosbench.runs.record import Written, error_text, stopped_status, write_in_place, write_record
from vosbench.runs.shards import Shard
from vosbench.scoring.jf import ObjectScore

T = TypeVar("T")

log = logging.getLogger("vosbench.runs")


@dataclass
class RunResult:
    """A finished run: its folder, its record and (segmentation) its per-object scores."""

    run_dir: Path
    record: RunSummary
    scores: list[ObjectScore]


class _PayloadHead(TypedDict):
    frames: int


class Payload(_PayloadHead, total=False):
    """A task kind's results of one sequence (what goes into its ``result.json`` besides the
    timings and who did it): segmentation ``objects``, keypoints ``hits`` and ``counts``, parsing
    ``confusion``."""

    objects: list[ObjectResult]
    hits: list[list[int]]
    counts: list[int]
    confusion: list[list[int]]
    queries: int
    tapvid: dict[str, float]


def peak_memory_mb() -> float:
    """Peak resident memory of this process, MB. Linux: VmHWM, because ru_maxrss of a process
    started by fork + exec also counts the parent's memory at the fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    return round(rss, 1)


class RunFolder:
    """One run folder being filled by this process: the shared plan, this process's timings, and
    the threads writing its files and scoring its frames (at most a few frames in flight, so
    memory does not grow with videos). Sequences are staged and committed one by one
    (:mod:`vosbench.runs.ledger`); the record is made from the committed ones (:func:`finish`).

    Args:
        out: The ``--out`` folder; the run folder is ``out/<dataset>/<model>/<run-id>``.
        record: The record head from :func:`vosbench.runs.record.head`.
        device: The device the run computes on (for peak GPU memory).
        started: ``time.perf_counter()`` at the start of the run.
        host: The run's host workers (writing and scoring frames; default: threads of its own).
        config: The run's configuration as stored in the plan (to resume from).
        sequences: ``(name, frames)`` of every sequence of the run, in dataset order.
        shard: This process's part of the run.
        submission_prefix: Zip-root prefix when the record includes ``submission.zip``.
        fresh: The run id is new (not given, not derived): the folder must not exist yet.
    """

    def __init__(
        self,
        out: str | Path,
        record: RunSummary,
        device: torch.device,
        started: float,
        *,
        host: HostPool | None = None,
        config: Settings | None = None,
        sequences: list[tuple[str, int]] | None = None,
        shard: Shard | None = None,
        submission_prefix: str | None = None,
        fresh: bool = True,
    ):
        self.run_dir = (
            Path(out)
            / folder_name(record["dataset"]["name"], "dataset")
            / folder_name(record["model"]["name"], "model")
            / record["run_id"]
        )
        self.shard = shard or Shard()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=not fresh)
        except OSError as e:
            raise ConfigError(
                f"--out {out}: cannot create the run folder ({os_error_text(e)}); choose a writable folder for --out"
            ) from None
        self.lock = self._take_lock()
        try:
            self._open_plan(record, config, sequences, submission_prefix)
        except BaseException:
            self.lock.release()
            raise
        self.record: RunSummary = self.plan["record"].copy()
        self.device = device
        self.started = started
        self.token = ledger.process_token()
        self.process_started = time.time()
        self.timings = Timings()
        self.t_eval = 0.0  # seconds spent scoring
        self.elapsed = 0.0  # seconds of work attributed to this folder (its share of a sweep)
        self.stage: Path | None = None  # staging folder of the sequence in progress
        self._seq_lock: FileLock | None = None  # held from staging to commit
        self._mark: tuple[float, float, float, int, float] = (0.0, 0.0, 0.0, 0, 0.0)
        self._own_host = host is None
        self.host = host or HostPool(0)
        self._pending: list[tuple[Future[Any], Callable[[Any], None] | None]] = []

    def _take_lock(self) -> FileLock:
        """This process's part of the run (its shard) for the run's life; refused (``ConfigError``,
        one line naming the holder) while another process has it."""
        ledger.check_folder_links(self.run_dir)
        path = self.run_dir / shard_lock_name(self.shard.index, self.shard.count)
        lock = FileLock.take(path, wait=False)
        if lock is None:
            part = f"shard {self.shard} of this run" if self.shard.sharded else "this run"
            raise ConfigError(
                f"{self.run_dir}: {part} is being written by another process, {holder(path).describe()}; "
                "wait for it to end, or use another --run-id"
            )
        return lock

    def _open_plan(
        self,
        record: RunSummary,
        config: Settings | None,
        sequences: list[tuple[str, int]] | None,
        submission_prefix: str | None,
    ) -> None:
        """Write the plan (first process) or read and check it (shards, resumed runs)."""
        plan: Plan = {
            "plan_version": ledger.PLAN_VERSION,
            "record": record,
            "config": config or {},
            "sequences": [{"name": n, "frames": f} for n, f in (sequences or [])],
            "submission_prefix": submission_prefix,
        }
        self.plan, created = ledger.create_or_read_plan(self.run_dir, plan)
        if not created:
            ledger.check_same_run(self.run_dir, self.plan, plan)
        elif not (self.run_dir / SUMMARY).exists():
            # the record says "running" from the start: a run that dies is never invisible, and
            # the file holds the room to record "failed" on a disk that fills up
            write_summary(self.run_dir, {**record, "status": "running"})
        self.names = [s["name"] for s in self.plan["sequences"]]
        ledger.check_committed(self.run_dir, self.names, results=not created)
        self.committed_before = set(ledger.committed_names(self.run_dir, self.names))

    # -- sequences -------------------------------------------------------------------------------
    def is_committed(self, name: str) -> bool:
        return ledger.committed(self.run_dir, name)

    def begin_sequence(self, name: str) -> Path | None:
        """Start (or redo) sequence ``name`` in a fresh staging folder, returned; ``None`` when
        another process committed it meanwhile (see :func:`ledger.claim_sequence`)."""
        claimed = ledger.claim_sequence(self.run_dir, name, self.token)
        if claimed is None:
            return None
        self._seq_lock, self.stage = claimed
        t = self.timings
        self._mark = (t.decode_s, t.features_s, t.propagation_s, t.frames, self.t_eval)
        return self.stage

    def commit_sequence(self, name: str, payload: Payload, moves: list[tuple[Path, Path]]) -> None:
        """Commit the staged sequence ``name`` with its results ``payload`` (scores) and its
        staged outputs ``moves`` (``(staged, final)`` paths); its timings are added here."""
        assert self.stage is not None, "begin_sequence first"
        t = self.timings
        d0, f0, p0, n0, e0 = self._mark
        timings: SequenceTimings = {
            "decode_s": t.decode_s - d0,
            "features_s": t.features_s - f0,
            "propagation_s": t.propagation_s - p0,
            "evaluation_s": self.t_eval - e0,
            "frames": t.frames - n0,
            "peak_memory_mb": peak_memory_mb(),
        }
        if self.device.type == "cuda":
            timings["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        result = cast(SequenceResult, {
            "sequence": name,
            **payload,
            "timings": timings,
            "shard": str(self.shard),
            "launcher": self.shard.launcher,
            "process": self.token,
            "device": str(self.device),
            "process_started": self.process_started,
            "committed_at": time.time(),
        })
        ledger.commit(self.run_dir, name, self.stage, result, moves)
        self.stage = None
        self._drop_sequence()

    def _drop_sequence(self) -> None:
        if self._seq_lock is not None:
            self._seq_lock.release()
            self._seq_lock = None

    def all_committed(self) -> bool:
        return all(ledger.committed(self.run_dir, n) for n in self.names)

    # -- work in flight ------------------------------------------------------------------------
    def submit(self, fn: Callable[..., T], *args: Any, then: Callable[[T], None] | None = None) -> None:
        """Run ``fn(*args)`` in a host worker (:meth:`HostPool.submit`: a module-level function
        with picklable arguments); ``then(result)`` runs here, in order of submission, when
        :meth:`drain` collects it."""
        self._pending.append((self.host.submit(fn, *args), then))

    def drain(self, limit: int = 0) -> None:
        """Wait until at most ``limit`` jobs are in flight (re-raises their errors)."""
        while self._pending and (len(self._pending) > limit or self._pending[0][0].done()):
            fut, then = self._pending.pop(0)
            value, _ = self.host.result(fut)
            if then is not None:
                then(value)

    def close(self) -> None:
        """Drop the jobs not started and wait for the running ones (their errors are dropped:
        this is the way out after a failure; :meth:`drain` is the way that reports them)."""
        for fut, _ in self._pending:
            fut.cancel()
        wait([fut for fut, _ in self._pending])
        self._pending.clear()
        self._drop_sequence()
        if self._own_host:
            self.host.close()

    # -- the end -------------------------------------------------------------------------------
    def whole_run_here(self) -> bool:
        """This process did the whole run in one go (not sharded, nothing committed before)."""
        return not self.shard.sharded and not self.committed_before

    def write_record(self, *, stopped: BaseException | None = None, total_s: float | None = None) -> Written:
        """Write the run record from the plan and the committed sequences (see
        :func:`vosbench.runs.record.write_record`) and keep it as :attr:`record`."""
        written = write_record(self.run_dir, stopped=stopped, total_s=total_s)
        self.record = written.record
        return written

    def finish(self, started: float | None = None, write_record: bool = True) -> Written | None:
        """This process's part is done: write the record when every sequence is in (and
        ``write_record``) and return it, else return None (other shards are still working)."""
        self.drain(0)
        self.close()
        if not write_record or not self.all_committed():
            return None
        total = time.perf_counter() - (self.started if started is None else started)
        return self.write_record(total_s=total if self.whole_run_here() else None)

    def fail(self, error: BaseException, started: float | None = None) -> str | None:
        """Record why this process stopped (``failed``, or ``interrupted`` for SIGTERM/SIGINT)
        with the scores of the sequences committed so far, and write ``summary.json``; every
        committed sequence stays, and ``vosbench run --resume`` redoes the rest. Returns why the
        record could not be written (e.g. the disk is full), else ``None``.

        When the atomic write fails (a full disk has no room for the temporary file), the
        ``running`` record written at the start is overwritten in place, but only when the new
        text fits in the blocks that file already holds, so it is never left half-written."""
        self.close()
        total = time.perf_counter() - (self.started if started is None else started)
        try:
            self.write_record(stopped=error, total_s=total if self.whole_run_here() else None)
        except Exception as e:  # never hide why the run stopped behind a second error
            log.warning("%s: could not write the record of the stopped run (%s: %s)", self.run_dir, type(e).__name__, e)
            self.record["status"] = stopped_status(error)
            self.record["error"] = error_text(error)
            if not write_in_place(self.run_dir, self.record):
                return str(e)
        return None


def check_sequence_names(ds: VideoDataset, names: list[str]) -> list[str]:
    """Every sequence name becomes a folder or file name in the run folder: refuse unsafe ones
    (the adapters check their files line by line; this also covers plugin datasets)."""
    for n in names:
        check_name(n, f"dataset {ds.name} ({ds.root})", None, "sequence name")
    return names


def user_error(e: BaseException, where: Path | str) -> BaseException:
    """The error to raise after a failure was recorded: OS errors (full disk, permissions) become
    one-line vosbench errors naming the path; the run folder is named either way."""
    if isinstance(e, OSError):
        return InputFileError(f"{os_error_text(e)}\n(run folder with the work done so far: {where})")
    if isinstance(e, VosbenchError):
        e.args = (f"{e}\n(run folder with the work done so far: {where})",)
    return e


def fail_all(folders: list[RunFolder], error: BaseException, starts: list[float | None]) -> NoReturn:
    """Record ``error`` in every folder's ``summary.json`` (where the disk still lets us), then
    raise it as a user error naming the run folder (see :func:`user_error`)."""
    unwritten = [w for f, s in zip(folders, starts) if (w := f.fail(error, s)) is not None]
    where = folders[0].run_dir if len(folders) == 1 else folders[0].run_dir.parent
    err = user_error(error, where)
    if unwritten and isinstance(err, VosbenchError):
        err.args = (f"{err}\n(summary.json could not be written either: {unwritten[0]})",)
    if err is error:
        raise error
    raise err from None
