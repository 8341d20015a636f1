"""The life of one run folder, shared by segmentation and keypoint runs.

:class:`RunFolder` creates ``<out>/<dataset>/<model>/<run-id>/``, holds the run record (built by
:func:`new_record`), the stage timings, and the worker threads that write predictions and score
frames while propagation goes on (a bounded number of frames in flight, so memory does not grow
with the video). It ends in exactly one of two ways: :meth:`RunFolder.finish` (status
``complete``) or :meth:`RunFolder.fail` (``failed`` for an error, ``interrupted`` for Ctrl-C);
either way ``summary.json`` is written last and atomically, and everything written before stays.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import secrets
import subprocess
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch

from vosbench.core.version import __version__
from vosbench.core.errors import ConfigError, InputFileError, VosbenchError
from vosbench.core.registry import models
from vosbench.core.safepath import check_name, os_error_text, safe_join
from vosbench.datasets.base import VideoDataset
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import sha256_file
from vosbench.propagation.engine import Timings
from vosbench.results.schema import SCHEMA_VERSION, SUMMARY, write_summary
from vosbench.runs.config import RunConfig
from vosbench.runs.config_file import config_to_dict

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
) -> dict[str, Any]:
    """The head of a run record (``summary.json``): who, what, how; metrics and timings come later."""
    spec = models.get(cfg.model)
    ckpt_file = model.checkpoint_path
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": new_run_id(),
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
        },
        "dataset": {**ds.describe(), "root": str(Path(ds.root).resolve()), "sequences": names},
        "protocol": protocol,
        "run_config": config_to_dict(cfg),  # what `vosbench run --replay` reads back
        "metrics": {},
        "environment": environment(device),
        "timings": {},
    }


def write_submission_zip(pred_dir: Path, zip_path: Path, prefix: str, sequences: list[str]) -> Path:
    """Zip ``pred_dir/<seq>/<frame>.png`` for exactly ``sequences``, with the sequence folders under
    ``prefix`` at the zip root; a sequence without predictions is an error (a submission never
    silently lacks a video)."""
    tmp = zip_path.with_name(f".{zip_path.name}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for seq_dir in (safe_join(pred_dir, s) for s in sequences):
                pngs = sorted(seq_dir.glob("*.png"))
                if not pngs:
                    raise InputFileError(f"{seq_dir}: no predictions for sequence {seq_dir.name!r}; not writing {zip_path}")
                for png in pngs:
                    zf.write(png, f"{prefix}{seq_dir.name}/{png.name}")
        os.replace(tmp, zip_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return zip_path


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


class RunFolder:
    """One run folder being filled: its record, timings, and the threads writing its files and
    scoring its frames (at most a few frames in flight, so memory does not grow with videos).

    Args:
        out: The ``--out`` folder; the run folder is ``out/<dataset>/<model>/<run-id>``.
        record: The record head from :func:`new_record`.
        device: The device the run computes on (for peak GPU memory).
        started: ``time.perf_counter()`` at the start of the run.
        writers: Threads writing prediction files.
    """

    def __init__(self, out: str | Path, record: dict[str, Any], device: torch.device, started: float, writers: int = 2):
        self.run_dir = Path(out) / record["dataset"]["name"] / record["model"]["name"] / record["run_id"]
        try:
            self.run_dir.mkdir(parents=True, exist_ok=False)
        except OSError as e:
            raise ConfigError(
                f"--out {out}: cannot create the run folder ({os_error_text(e)}); choose a writable folder for --out"
            ) from None
        # the record says "running" from the start: a run that dies is never invisible, and the
        # file holds the room to record "failed" on a disk that fills up
        write_summary(self.run_dir, record)
        self.pred_dir = self.run_dir / "predictions"
        self.record = record
        self.device = device
        self.started = started
        self.timings = Timings()
        self.t_eval = 0.0  # seconds spent scoring
        self.elapsed = 0.0  # seconds of work attributed to this folder (its share of a sweep)
        self._pending: list[Future[float | None]] = []
        self._writer = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="vosbench-write")
        self._scorer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vosbench-score")

    # -- work in flight ------------------------------------------------------------------------
    def submit_write(self, fn: Callable[..., Any], *args: Any) -> None:
        """Write a file in the background (``fn(*args)``)."""

        def write() -> None:
            fn(*args)

        self._pending.append(self._writer.submit(write))

    def submit_score(self, fn: Callable[..., Any], *args: Any) -> None:
        """Score in the background (``fn(*args)``); the time it takes counts as evaluation."""

        def score() -> float:
            t0 = time.perf_counter()
            fn(*args)
            return time.perf_counter() - t0

        self._pending.append(self._scorer.submit(score))

    def drain(self, limit: int = 0) -> None:
        """Wait until at most ``limit`` jobs are in flight (re-raises their errors)."""
        while self._pending and (len(self._pending) > limit or self._pending[0].done()):
            r = self._pending.pop(0).result()
            if r is not None:
                self.t_eval += r

    def close(self) -> None:
        """Wait for every background job to end (errors of jobs not drained are dropped)."""
        self._writer.shutdown(wait=True)
        self._scorer.shutdown(wait=True)

    # -- the end -------------------------------------------------------------------------------
    def timings_dict(self, started: float | None = None) -> dict[str, Any]:
        """The record's ``timings``, with the total counted from ``started`` (default: the run's start)."""
        t = self.timings
        total = time.perf_counter() - (self.started if started is None else started)
        out: dict[str, Any] = {
            "decode_s": round(t.decode_s, 3),
            "features_s": round(t.features_s, 3),
            "propagation_s": round(t.propagation_s, 3),
            "evaluation_s": round(self.t_eval, 3),
            "total_s": round(total, 3),
            "frames": t.frames,
            "frames_per_s": round(t.frames / total, 3) if total > 0 else None,
            "peak_memory_mb": peak_memory_mb(),
        }
        if self.device.type == "cuda":
            out["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        return out

    def finish(self, metrics: dict[str, Any], started: float | None = None) -> dict[str, Any]:
        """Record ``metrics``, status ``complete`` and the timings; write ``summary.json``."""
        self.close()
        self.drain(0)
        self.record["metrics"] = metrics
        self.record["timings"] = self.timings_dict(started)
        write_summary(self.run_dir, {**self.record, "status": "complete"})
        self.record["status"] = "complete"
        return self.record

    def fail(self, error: BaseException, started: float | None = None) -> str | None:
        """Record why the run stopped (``failed``, or ``interrupted`` for Ctrl-C and the like) and
        write ``summary.json``; the files written so far stay. Returns why the record could not be
        written (e.g. the disk is full), else ``None``.

        When the atomic write fails (a full disk has no room for the temporary file), the
        ``running`` record is overwritten in place, but only when the new text fits in the blocks
        that file already holds, so it is never left half-written."""
        self.close()
        self.record["status"] = "failed" if isinstance(error, Exception) else "interrupted"
        self.record["error"] = os_error_text(error) if isinstance(error, OSError) else f"{type(error).__name__}: {error}"
        self.record["timings"] = self.timings_dict(started)
        try:
            write_summary(self.run_dir, self.record)
        except (OSError, VosbenchError) as w:
            path = self.run_dir / SUMMARY
            data = (json.dumps(self.record, indent=2) + "\n").encode("utf-8")
            try:
                if len(data) > path.stat().st_blocks * 512:
                    return str(w)
                with path.open("r+b") as f:
                    f.write(data)
                    f.truncate()
            except OSError:
                return str(w)
        return None
