"""The life of one run folder, shared by segmentation and keypoint runs.

:class:`RunFolder` creates (or, for shards and resumed runs, joins) ``<out>/<dataset>/<model>/<run-id>/``
with its plan (the record head built by :func:`new_record`), stages and commits sequences one by
one, keeps this process's stage timings and the worker threads that write predictions and score
frames while propagation goes on (a bounded number of frames in flight, so memory does not grow
with the video). This process's part ends in one of two ways: :meth:`RunFolder.finish` (the record
is written, status ``complete``, when every sequence of the run is in) or :meth:`RunFolder.fail`
(``failed`` for an error, ``interrupted`` for SIGTERM/SIGINT, with the committed sequences'
scores); either way ``summary.json`` is written last and atomically, and every committed sequence
stays.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
import resource
import secrets
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import torch

from vosbench.core.version import __version__
from vosbench.core.errors import ConfigError, InputFileError, VosbenchError
from vosbench.core.registry import models
from vosbench.core.safepath import check_name, os_error_text
from vosbench.core.workers import HostPool
from vosbench.datasets.base import VideoDataset
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import sha256_file
from vosbench.propagation.engine import Timings
from vosbench.propagation.precision import tf32_state
from vosbench.records.schema import SCHEMA_VERSION, SUMMARY, write_summary
import vosbench.runs.ledger as ledger
from vosbench.runs.config import RunConfig
from vosbench.runs.config_file import run_config_dict
from vosbench.runs.merge import merge
from vosbench.runs.shards import Shard

T = TypeVar("T")

log = logging.getLogger("vosbench.runs")

#: progress callback: (sequence name, frames done, frames in total)
Progress = Callable[[str, int, int], None]


@dataclass
class RunResult:
    """A finished run: its folder, its record and (segmentation) its per-object scores."""

    run_dir: Path
    record: dict[str, Any]
    scores: list[Any]


def git_commit() -> str | None:
    """The vosbench source checkout's commit (``-dirty`` with local changes), when run from one."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and hardware that go into the record."""
    env: dict[str, Any] = {
        "vosbench": __version__,
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        # the TF32 switches as the run set them (runs.run_sweep); a record without them was written
        # before --precision fp32 meant true fp32 on GPUs (see results.records.read_record)
        "tf32": tf32_state(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    return env


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


def new_run_id() -> str:
    """``YYYYmmdd-HHMMSS-<6 hex>`` (UTC), so run folders sort by start time."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def new_record(
    cfg: RunConfig,
    model: Encoder,
    ds: VideoDataset,
    names: list[str],
    protocol: dict[str, Any],
    device: torch.device,
    task: str,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The head of a run record (``summary.json``): who, what, how; metrics and timings come later."""
    spec = models.get(cfg.model)
    ckpt_file = model.checkpoint_path
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id or new_run_id(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "running",
        "task": task,
        "model": {
            "name": cfg.model,
            "checkpoint": str(Path(ckpt_file).resolve()) if ckpt_file is not None else cfg.checkpoint,
            "checkpoint_sha256": sha256_file(ckpt_file) if ckpt_file is not None else None,
            "options": dict(cfg.model_options),
            "source": models.source(cfg.model),
            "random_init": spec.checkpoint == "optional" and cfg.checkpoint is None,
            **_feature_info(model),
        },
        "dataset": {**ds.describe(), "root": str(Path(ds.root).resolve()), "sequences": names},
        "protocol": protocol,
        "run_config": run_config_dict(cfg),  # what `vosbench run --replay` reads back
        "metrics": {},
        "environment": environment(device),
        "timings": {},
    }


def _feature_info(model: Encoder) -> dict[str, Any]:
    """``{"features": ...}``: what the encoder says it reads (layer, stride, patch handling), if it says."""
    info = getattr(model, "feature_info", None)
    return {"features": dict(info)} if info else {}


@dataclass(frozen=True)
class Placement:
    """Where this process's work goes: the run id (``None``: a new time-stamped one), its shard
    and the sequences it does, and the configuration stored in the plan for ``--resume``."""

    run_id: str | None
    shard: Shard
    mine: frozenset[str]
    config: dict[str, Any]

    @classmethod
    def whole(cls, seqs: list[Any]) -> Placement:
        return cls(None, Shard(), frozenset(s.name for s in seqs), {})

    @property
    def merge_here(self) -> bool:
        """Whether this process writes the record when it finds every sequence in (under
        torchrun rank 0 does, after the barrier)."""
        return self.shard.launcher != "torchrun"

    @property
    def shard_label(self) -> str:
        return f"shard {self.shard}" if self.shard.sharded else "run"


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


class RunFolder:
    """One run folder being filled by this process: the shared plan, this process's timings, and
    the threads writing its files and scoring its frames (at most a few frames in flight, so
    memory does not grow with videos). Sequences are staged and committed one by one
    (:mod:`vosbench.runs.ledger`); the record is made from the committed ones (:func:`finish`).

    Args:
        out: The ``--out`` folder; the run folder is ``out/<dataset>/<model>/<run-id>``.
        record: The record head from :func:`new_record`.
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
        record: dict[str, Any],
        device: torch.device,
        started: float,
        *,
        host: HostPool | None = None,
        config: dict[str, Any] | None = None,
        sequences: list[tuple[str, int]] | None = None,
        shard: Shard | None = None,
        submission_prefix: str | None = None,
        fresh: bool = True,
    ):
        self.run_dir = Path(out) / record["dataset"]["name"] / record["model"]["name"] / record["run_id"]
        if fresh:
            try:
                self.run_dir.mkdir(parents=True, exist_ok=False)
            except OSError as e:
                raise ConfigError(
                    f"--out {out}: cannot create the run folder ({os_error_text(e)}); choose a writable folder for --out"
                ) from None
        plan = {
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
        self.committed_before = set(ledger.committed_names(self.run_dir, self.names))
        self.record = dict(self.plan["record"])
        self.device = device
        self.started = started
        self.shard = shard or Shard()
        self.token = ledger.process_token()
        self.process_started = time.time()
        self.timings = Timings()
        self.t_eval = 0.0  # seconds spent scoring
        self.elapsed = 0.0  # seconds of work attributed to this folder (its share of a sweep)
        self.stage: Path | None = None  # staging folder of the sequence in progress
        self._mark: tuple[float, float, float, int, float] = (0.0, 0.0, 0.0, 0, 0.0)
        self._own_host = host is None
        self.host = host or HostPool(0)
        self._pending: list[tuple[Future[Any], Callable[[Any], None] | None]] = []

    # -- sequences -------------------------------------------------------------------------------
    def is_committed(self, name: str) -> bool:
        return ledger.committed(self.run_dir, name)

    def begin_sequence(self, name: str) -> Path:
        """Start (or redo) sequence ``name`` in a fresh staging folder, returned."""
        self.stage = ledger.new_stage(self.run_dir, name, self.token)
        t = self.timings
        self._mark = (t.decode_s, t.features_s, t.propagation_s, t.frames, self.t_eval)
        return self.stage

    def commit_sequence(self, name: str, payload: dict[str, Any], moves: list[tuple[Path, Path]]) -> None:
        """Commit the staged sequence ``name`` with its results ``payload`` (scores) and its
        staged outputs ``moves`` (``(staged, final)`` paths); its timings are added here."""
        assert self.stage is not None, "begin_sequence first"
        t = self.timings
        d0, f0, p0, n0, e0 = self._mark
        timings: dict[str, Any] = {
            "decode_s": t.decode_s - d0,
            "features_s": t.features_s - f0,
            "propagation_s": t.propagation_s - p0,
            "evaluation_s": self.t_eval - e0,
            "frames": t.frames - n0,
            "peak_memory_mb": peak_memory_mb(),
        }
        if self.device.type == "cuda":
            timings["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        result = {
            "sequence": name,
            **payload,
            "timings": timings,
            "shard": str(self.shard),
            "launcher": self.shard.launcher,
            "process": self.token,
            "device": str(self.device),
            "process_started": self.process_started,
            "committed_at": time.time(),
        }
        ledger.commit(self.run_dir, name, self.stage, result, moves)
        self.stage = None

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
        if self._own_host:
            self.host.close()

    # -- the end -------------------------------------------------------------------------------
    def whole_run_here(self) -> bool:
        """This process did the whole run in one go (not sharded, nothing committed before)."""
        return not self.shard.sharded and not self.committed_before

    def finish(self, started: float | None = None, write_record: bool = True) -> dict[str, Any] | None:
        """This process's part is done: write the record when every sequence is in (and
        ``write_record``) and return it, else return None (other shards are still working)."""
        self.drain(0)
        self.close()
        if not write_record or not self.all_committed():
            return None
        total = time.perf_counter() - (self.started if started is None else started)
        self.record = merge(self.run_dir, total_s=total if self.whole_run_here() else None)
        return self.record

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
            self.record = merge(self.run_dir, stopped=error, total_s=total if self.whole_run_here() else None)
        except Exception as e:  # never hide why the run stopped behind a second error
            log.warning("%s: could not write the record of the stopped run (%s: %s)", self.run_dir, type(e).__name__, e)
            self.record["status"] = "failed" if isinstance(error, Exception) else "interrupted"
            self.record["error"] = os_error_text(error) if isinstance(error, OSError) else f"{type(error).__name__}: {error}"
            path = self.run_dir / SUMMARY
            data = (json.dumps(self.record, indent=2) + "\n").encode("utf-8")
            try:
                if not path.is_file() or len(data) > path.stat().st_blocks * 512:
                    return str(e)
                with path.open("r+b") as f:
                    f.write(data)
                    f.truncate()
            except OSError:
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
