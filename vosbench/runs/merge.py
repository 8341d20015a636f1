"""The run record, made from a run folder's plan and committed sequences.

``summary.json``, ``per_object.csv``, ``per_frame.csv``, ``submission.zip`` (segmentation) and
``per_joint_pck.csv``/``per_video_pck.csv`` (keypoints) are all written here, from the files of
:mod:`vosbench.runs.ledger` alone, in the plan's (dataset) order. A run done by one process, by N
shards or over several interrupted attempts therefore gets the same tables, byte for byte.
``vosbench merge RUN_DIR`` calls :func:`merge`; so does every run when its last sequence is in.
"""

from __future__ import annotations

import math
import os
import secrets
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from vosbench.core.errors import InputFileError, RunInterrupted
from vosbench.core.safepath import os_error_text, safe_join
from vosbench.datasets.joints import JOINTS
from vosbench.records.schema import SUMMARY, write_summary
from vosbench.records.stats_io import ci_for_pck, ci_for_scores
import vosbench.runs.ledger as ledger
from vosbench.runs.locks import RECORD_LOCK, FileLock
from vosbench.scoring.jf import ObjectScore, group_metrics, summarize, write_per_frame_csv, write_per_object_csv
from vosbench.scoring.pck import CURVE, PCKAccumulator, per_video_csv_text, write_pck_csvs

_STATS = ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")


# --- per-sequence results as JSON (floats round-trip exactly: json writes repr) -------------------


def scores_to_json(scores: list[ObjectScore], groups: dict[int, str | None]) -> list[dict[str, Any]]:
    """``ObjectScore`` rows as JSON-able dicts (NaN stays NaN), with each object's group."""
    return [
        {
            "object": int(s.object),
            "group": groups.get(int(s.object)),
            **{k: float(getattr(s, k)) for k in _STATS},
            "frames": list(s.frames),
            "J_frames": [float(v) for v in s.J_frames],
            "F_frames": [float(v) for v in s.F_frames],
        }
        for s in scores
    ]


def scores_from_json(sequence: str, rows: list[dict[str, Any]]) -> list[ObjectScore]:
    return [
        ObjectScore(
            sequence=sequence,
            object=int(r["object"]),
            **{k: float(r[k]) for k in _STATS},
            J_frames=np.asarray(r["J_frames"], dtype=np.float64),
            F_frames=np.asarray(r["F_frames"], dtype=np.float64),
            frames=list(r["frames"]),
        )
        for r in rows
    ]


def write_submission_zip(pred_dir: Path, zip_path: Path, prefix: str, sequences: list[str]) -> Path:
    """Zip ``pred_dir/<seq>/<frame>.png`` for exactly ``sequences``, with the sequence folders under
    ``prefix`` at the zip root; a sequence without predictions is an error (a submission never
    silently lacks a video)."""
    tmp = zip_path.with_name(f".{zip_path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
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


# --- the record ---------------------------------------------------------------------------------


def _sum_timings(results: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("decode_s", "features_s", "propagation_s", "evaluation_s")
    t = {k: round(sum(float(r["timings"].get(k, 0.0)) for r in results), 3) for k in keys}
    t["frames"] = sum(int(r["timings"].get("frames", 0)) for r in results)
    t["peak_memory_mb"] = max((float(r["timings"].get("peak_memory_mb", 0.0)) for r in results), default=0.0)
    gpu = [float(r["timings"]["peak_gpu_memory_mb"]) for r in results if "peak_gpu_memory_mb" in r["timings"]]
    if gpu:
        t["peak_gpu_memory_mb"] = max(gpu)
    return t


def merge(
    run_dir: str | Path,
    *,
    stopped: BaseException | None = None,
    total_s: float | None = None,
) -> dict[str, Any]:
    """Write the run record of ``run_dir`` from its committed sequences and return it.

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
        return _merge(run_dir, plan, stopped, total_s)


def _merge(run_dir: Path, plan: dict[str, Any], stopped: BaseException | None, total_s: float | None) -> dict[str, Any]:
    names = [s["name"] for s in plan["sequences"]]
    ledger.check_committed(run_dir, names)
    done = ledger.committed_names(run_dir, names)
    missing = [n for n in names if n not in set(done)]
    if missing and stopped is None:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise InputFileError(
            f"{run_dir}: {len(missing)} of {len(names)} sequences are not committed yet ({shown}); run the missing "
            f"shards, or `vosbench run --resume {run_dir}`, then merge again"
        )
    results = [ledger.load_result(run_dir, n) for n in done]
    record: dict[str, Any] = dict(plan["record"])
    for stale in ("error", "ci", "submission_zip", "progress"):
        record.pop(stale, None)
    if plan["record"]["task"] == "pose":
        metrics = _pose_tables(run_dir, results, record)
    else:
        metrics = _vos_tables(run_dir, plan, results, complete=not missing, record=record)
    timings = _sum_timings(results)
    if total_s is None:
        starts = [float(r["process_started"]) for r in results if "process_started" in r]
        ends = [float(r["committed_at"]) for r in results if "committed_at" in r]
        total_s = max(ends) - min(starts) if starts and ends else math.nan
    timings["total_s"] = round(total_s, 3)
    timings["frames_per_s"] = round(timings["frames"] / total_s, 3) if total_s > 0 else None
    record["timings"] = {k: timings[k] for k in (
        "decode_s", "features_s", "propagation_s", "evaluation_s", "total_s", "frames", "frames_per_s",
        "peak_memory_mb", *(["peak_gpu_memory_mb"] if "peak_gpu_memory_mb" in timings else []),
    )}
    record["metrics"] = metrics
    shards = sorted({str(r.get("shard", "0/1")) for r in results})
    processes = len({r.get("process") for r in results})
    if any(s.split("/")[1] != "1" for s in shards) or processes > 1:
        record["execution"] = {
            "shards": max((int(s.split("/")[1]) for s in shards), default=1),
            "launchers": sorted({str(r.get("launcher", "single")) for r in results}),
            "processes": processes,
        }
    if missing:
        assert stopped is not None
        record["status"] = "failed" if isinstance(stopped, Exception) else "interrupted"
        record["error"] = os_error_text(stopped) if isinstance(stopped, OSError) else f"{type(stopped).__name__}: {stopped}"
        if isinstance(stopped, RunInterrupted):
            record["signal"] = stopped.signal_name
        record["progress"] = {"sequences_done": len(done), "sequences_total": len(names), "missing": missing}
    else:
        record["status"] = "complete"
    write_summary(run_dir, record)
    if not missing:
        ledger.clean_staging(run_dir)
    return record


def _vos_tables(
    run_dir: Path, plan: dict[str, Any], results: list[dict[str, Any]], *, complete: bool, record: dict[str, Any]
) -> dict[str, Any]:
    scores: list[ObjectScore] = []
    groups: dict[tuple[str, int], str | None] = {}
    for r in results:
        scores.extend(scores_from_json(r["sequence"], r["objects"]))
        for row in r["objects"]:
            groups[(r["sequence"], int(row["object"]))] = row.get("group")

    def group_of(sequence: str, obj: int) -> str | None:
        return groups.get((sequence, obj))

    metrics: dict[str, Any] = {}
    for name in ("per_object.csv", "per_frame.csv"):
        (run_dir / name).unlink(missing_ok=True)  # a table of an earlier partial record
    if scores:
        write_per_object_csv(run_dir / "per_object.csv", scores)
        write_per_frame_csv(run_dir / "per_frame.csv", scores)
        metrics = {**summarize(scores), **group_metrics(scores, group_of)}
        record["ci"] = ci_for_scores(scores, group_of)  # bootstrap over sequences
    prefix = plan.get("submission_prefix")
    if complete and prefix is not None:
        names = [s["name"] for s in plan["sequences"]]
        z = write_submission_zip(run_dir / "predictions", run_dir / "submission.zip", prefix, names)
        record["submission_zip"] = str(z)
    return metrics


def _pose_tables(run_dir: Path, results: list[dict[str, Any]], record: dict[str, Any]) -> dict[str, Any]:
    acc = PCKAccumulator(JOINTS, CURVE)
    for r in results:
        acc.add_counts(r["sequence"], np.asarray(r["hits"], dtype=np.int64), np.asarray(r["counts"], dtype=np.int64))
    for name in ("per_joint_pck.csv", "per_video_pck.csv"):
        (run_dir / name).unlink(missing_ok=True)
    if not results:
        return {}
    result = acc.result()
    write_pck_csvs(run_dir, result)
    record["ci"] = ci_for_pck(per_video_csv_text(result))  # bootstrap over videos
    return result.metrics()


def load_scores(run_dir: Path) -> list[ObjectScore]:
    """Per-object scores of the committed sequences of ``run_dir``, in the plan's order."""
    plan = ledger.read_plan(run_dir)
    out: list[ObjectScore] = []
    for name in ledger.committed_names(run_dir, [s["name"] for s in plan["sequences"]]):
        r = ledger.load_result(run_dir, name)
        out.extend(scores_from_json(r["sequence"], r.get("objects", [])))
    return out


def finished_record(run_dir: Path) -> dict[str, Any] | None:
    """The record of ``run_dir`` when it says ``complete``, else None."""
    import json

    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        return None
    try:
        rec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return rec if rec.get("status") == "complete" else None
