"""The run record (``summary.json``), built here and only here.

:func:`head` builds the record head when a run starts (who, what, how: model, checkpoint hash,
dataset, protocol, configuration, environment; plus what the task kind and the sweep add); it
goes into the plan and, with status ``running``, into ``summary.json``. :func:`write_record` makes
the whole record from the plan and the committed sequences only, with the task kind's tables
(:mod:`vosbench.runs.tables`): ``complete`` when every sequence is in, else ``failed`` or
``interrupted`` with the scores of the sequences that are. It is the same record whichever
process (one, a shard, a resumed run, ``vosbench merge``) writes it, and it is written under the
run folder's record lock (:mod:`vosbench.runs.locks`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import torch

from vosbench.core.errors import InputFileError, RunInterrupted
from vosbench.core.registry import models
from vosbench.core.safepath import os_error_text
from vosbench.core.version import __version__
from vosbench.datasets.base import VideoDataset
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import sha256_file
from vosbench.propagation.precision import tf32_state
from vosbench.records.schema import SCHEMA_VERSION, SUMMARY, write_summary
from vosbench.records.types import (
    DatasetInfo, Environment, Plan, Progress, RunSummary, RunTimings, SequenceResult, Settings, Status, Sweep, Task,
    Tuning,
)
import vosbench.runs.ledger as ledger
from vosbench.runs.config import RunConfig
from vosbench.runs.config_file import run_config_dict
from vosbench.runs.locks import RECORD_LOCK, FileLock
from vosbench.runs.tables import WRITERS, Tables, scores_from_json
from vosbench.scoring.jf import ObjectScore

@dataclass
class Written:
    """A record as written, with the per-object scores of its tables (segmentation)."""

    record: RunSummary
    scores: list[ObjectScore] = field(default_factory=list)


# --- the head -------------------------------------------------------------------------------------


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


def environment(device: torch.device) -> Environment:
    """Versions and hardware that go into the record."""
    env: Environment = {
        "vosbench": __version__,
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        # the TF32 switches as the run set them (runs.run_sweep); a record without them was written
        # before --precision fp32 meant true fp32 on GPUs (see records.reader.load_record)
        "tf32": tf32_state(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    return env


def new_run_id() -> str:
    """``YYYYmmdd-HHMMSS-<6 hex>`` (UTC), so run folders sort by start time."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass(frozen=True)
class HeadParts:
    """What a task kind and a sweep add to the head: the protocol block, the numeric precision
    (segmentation), the propagation path and host workers (environment), the grid point, and
    how ``vosbench tune`` chose the settings."""

    protocol: Settings
    propagation: str
    precision: str | None = None
    host_workers: int | None = None
    sweep: Sweep | None = None
    tuning: Tuning | None = None


def head(
    cfg: RunConfig, model: Encoder, ds: VideoDataset, names: list[str], device: torch.device, task: Task,
    run_id: str | None, parts: HeadParts,
) -> RunSummary:
    """The head of a run record: who, what, how; metrics and timings come with :func:`write_record`."""
    spec = models.get(cfg.model)
    ckpt_file = model.checkpoint_path
    env = environment(device)
    env["propagation"] = parts.propagation
    if parts.host_workers is not None:
        env["host_workers"] = parts.host_workers
    record: RunSummary = {
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
        },
        "dataset": cast(DatasetInfo, {**ds.describe(), "root": str(Path(ds.root).resolve()), "sequences": names}),
        "protocol": parts.protocol,
        "run_config": run_config_dict(cfg),  # what `vosbench run --replay` reads back
        "metrics": {},
        "environment": env,
        "timings": {},
    }
    info = getattr(model, "feature_info", None)
    if info:  # what the encoder says it reads (layer, stride, patch handling)
        record["model"]["features"] = dict(info)
    if parts.precision is not None:
        record["precision"] = parts.precision
    if parts.sweep is not None:
        record["sweep"] = parts.sweep
    if parts.tuning is not None:  # the settings were chosen by `vosbench tune` (vosbench.runs.tune)
        record["tuning"] = parts.tuning
    return record


# --- the whole record ------------------------------------------------------------------------------


def write_record(run_dir: str | Path, *, stopped: BaseException | None = None, total_s: float | None = None) -> Written:
    """Write the run record of ``run_dir`` from its plan and committed sequences; return it.

    When every planned sequence is committed the record is ``complete`` (whatever ``stopped``
    says: nothing is missing). Otherwise ``stopped`` (the exception that ended this process's
    part) makes it ``interrupted`` or ``failed``, with the scores of the sequences that are in;
    without ``stopped`` an incomplete run is an error naming the missing sequences.

    Args:
        run_dir: The run folder.
        stopped: Why this process stopped early, if it did.
        total_s: Wall time of the whole run when one uninterrupted process did all of it; else
            the time from the first process's start to the last commit is recorded.
    """
    run_dir = Path(run_dir)
    plan = ledger.read_plan(run_dir)
    with FileLock.wait_for(run_dir / RECORD_LOCK):
        names = [s["name"] for s in plan["sequences"]]
        ledger.check_committed(run_dir, names)
        done = ledger.committed_names(run_dir, names)
        missing = [n for n in names if n not in set(done)]
        if missing and stopped is None:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise InputFileError(
                f"{run_dir}: {len(missing)} of {len(names)} sequences are not committed yet ({shown}); run the "
                f"missing shards, or `vosbench run --resume {run_dir}`, then merge again"
            )
        results = [ledger.load_result(run_dir, n) for n in done]
        task = plan["record"].get("task")
        writer = WRITERS.get(str(task))
        if writer is None:
            raise InputFileError(f"{ledger.plan_path(run_dir)}: task {task!r} is not one this vosbench runs")
        tables = writer(run_dir, plan, results, not missing)
        record = final_record(plan, results, tables, missing, stopped, total_s)
        write_summary(run_dir, record)
        if not missing:
            ledger.clean_staging(run_dir)
    return Written(record, tables.scores)


def final_record(
    plan: Plan, results: list[SequenceResult], tables: Tables, missing: list[str],
    stopped: BaseException | None, total_s: float | None,
) -> RunSummary:
    """The record: the plan's head with the tables' metrics, the summed timings, how the run was
    executed (several shards or processes) and its status."""
    record: RunSummary = plan["record"].copy()
    for stale in ("error", "ci", "submission_zip", "progress"):
        record.pop(stale, None)  # type: ignore[misc]  # keys of a written record's optional part
    if tables.ci is not None:
        record["ci"] = tables.ci
    if tables.submission_zip is not None:
        record["submission_zip"] = tables.submission_zip
    record["timings"] = _timings(results, total_s)
    record["metrics"] = tables.metrics
    shards = sorted({str(r.get("shard", "0/1")) for r in results})
    processes = len({r.get("process") for r in results})
    if any(s.split("/")[1] != "1" for s in shards) or processes > 1:
        record["execution"] = {
            "shards": max((int(s.split("/")[1]) for s in shards), default=1),
            "launchers": sorted({str(r.get("launcher", "single")) for r in results}),
            "processes": processes,
        }
    if not missing:
        record["status"] = "complete"
        return record
    assert stopped is not None
    record["status"] = stopped_status(stopped)
    record["error"] = error_text(stopped)
    if isinstance(stopped, RunInterrupted):
        record["signal"] = stopped.signal_name
    names = [s["name"] for s in plan["sequences"]]
    progress: Progress = {"sequences_done": len(names) - len(missing), "sequences_total": len(names), "missing": missing}
    record["progress"] = progress
    return record


def stopped_status(error: BaseException) -> Status:
    """``failed`` for an error, ``interrupted`` for SIGTERM/SIGINT (and other non-errors)."""
    return "failed" if isinstance(error, Exception) else "interrupted"


def error_text(error: BaseException) -> str:
    """Why a run stopped, one line for the record."""
    return os_error_text(error) if isinstance(error, OSError) else f"{type(error).__name__}: {error}"


def _timings(results: list[SequenceResult], total_s: float | None) -> RunTimings:
    """The sequences' timings summed, the wall time (``total_s``, else first start to last
    commit) and the frame rate, in the record's key order."""
    if total_s is None:
        starts = [float(r["process_started"]) for r in results if "process_started" in r]
        ends = [float(r["committed_at"]) for r in results if "committed_at" in r]
        total_s = max(ends) - min(starts) if starts and ends else math.nan
    frames = sum(int(r["timings"].get("frames", 0)) for r in results)
    t: RunTimings = {
        "decode_s": _sum(results, "decode_s"),
        "features_s": _sum(results, "features_s"),
        "propagation_s": _sum(results, "propagation_s"),
        "evaluation_s": _sum(results, "evaluation_s"),
        "total_s": round(total_s, 3),
        "frames": frames,
        "frames_per_s": round(frames / total_s, 3) if total_s > 0 else None,
        "peak_memory_mb": max((float(r["timings"].get("peak_memory_mb", 0.0)) for r in results), default=0.0),
    }
    gpu = [float(r["timings"]["peak_gpu_memory_mb"]) for r in results if "peak_gpu_memory_mb" in r["timings"]]
    if gpu:
        t["peak_gpu_memory_mb"] = max(gpu)
    return t


def _sum(results: list[SequenceResult], key: str) -> float:
    return round(sum(float(cast(dict[str, float], r["timings"]).get(key, 0.0)) for r in results), 3)


def write_in_place(run_dir: Path, record: RunSummary) -> bool:
    """Overwrite ``summary.json`` in place with ``record`` (when the atomic write has no room for
    its temporary file), only when the new text fits in the blocks that file already holds, so
    it is never left half-written. Returns whether it was written."""
    path = run_dir / SUMMARY
    data = (json.dumps(record, indent=2) + "\n").encode("utf-8")
    try:
        if not path.is_file() or len(data) > path.stat().st_blocks * 512:
            return False
        with path.open("r+b") as f:
            f.write(data)
            f.truncate()
    except OSError:
        return False
    return True


# --- reading back ----------------------------------------------------------------------------------


def load_scores(run_dir: Path) -> list[ObjectScore]:
    """Per-object scores of the committed sequences of ``run_dir``, in the plan's order (for a
    process that did not write the record itself: a torchrun rank other than 0)."""
    plan = ledger.read_plan(run_dir)
    out: list[ObjectScore] = []
    for name in ledger.committed_names(run_dir, [s["name"] for s in plan["sequences"]]):
        r = ledger.load_result(run_dir, name)
        out.extend(scores_from_json(r["sequence"], r.get("objects", [])))
    return out


def finished_record(run_dir: Path) -> RunSummary | None:
    """The record of ``run_dir`` when it says ``complete``, else None."""
    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cast(RunSummary, rec) if isinstance(rec, dict) and rec.get("status") == "complete" else None
