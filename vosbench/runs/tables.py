"""The tables of a run record, per task kind, from the committed sequences' results.

Segmentation (``vos``): ``per_object.csv``, ``per_frame.csv``, the J&F metrics with their
bootstrap intervals and, for datasets with an evaluation server layout, ``submission.zip``.
Keypoints (``pose``): ``per_joint_pck.csv``, ``per_video_pck.csv`` and the PCK metrics. Every table
is written from the results alone, in the plan's (dataset) order, so a run done by one process,
by N shards or over several interrupted attempts gets the same tables, byte for byte. A new task
kind adds its writer to :data:`WRITERS`.
"""

from __future__ import annotations

import os
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from vosbench.core.errors import InputFileError
from vosbench.core.safepath import safe_join
from vosbench.datasets.joints import JOINTS
from vosbench.records.stats_io import ci_for_pck, ci_for_scores
from vosbench.records.types import CiBlock, Metrics, ObjectResult, Plan, SequenceResult
from vosbench.scoring.jf import ObjectScore, group_metrics, summarize, write_per_frame_csv, write_per_object_csv
from vosbench.scoring.pck import CURVE, PCKAccumulator, per_video_csv_text, write_pck_csvs

@dataclass
class Tables:
    """What the tables give the record: metrics, their intervals (``None``: no table written),
    the submission zip's path and, for segmentation, the per-object scores the tables hold."""

    metrics: Metrics = field(default_factory=lambda: Metrics())
    ci: CiBlock | None = None
    submission_zip: str | None = None
    scores: list[ObjectScore] = field(default_factory=list)


# --- per-sequence results as JSON (floats round-trip exactly: json writes repr) -------------------


def scores_to_json(scores: list[ObjectScore], groups: dict[int, str | None]) -> list[ObjectResult]:
    """``ObjectScore`` rows as JSON-able dicts (NaN stays NaN), with each object's group."""
    return [
        {
            "object": int(s.object),
            "group": groups.get(int(s.object)),
            "J_mean": float(s.J_mean),
            "J_recall": float(s.J_recall),
            "J_decay": float(s.J_decay),
            "F_mean": float(s.F_mean),
            "F_recall": float(s.F_recall),
            "F_decay": float(s.F_decay),
            "frames": list(s.frames),
            "J_frames": [float(v) for v in s.J_frames],
            "F_frames": [float(v) for v in s.F_frames],
        }
        for s in scores
    ]


def scores_from_json(sequence: str, rows: list[ObjectResult]) -> list[ObjectScore]:
    return [
        ObjectScore(
            sequence=sequence,
            object=int(r["object"]),
            J_mean=float(r["J_mean"]),
            J_recall=float(r["J_recall"]),
            J_decay=float(r["J_decay"]),
            F_mean=float(r["F_mean"]),
            F_recall=float(r["F_recall"]),
            F_decay=float(r["F_decay"]),
            J_frames=np.asarray(r["J_frames"], dtype=np.float64),
            F_frames=np.asarray(r["F_frames"], dtype=np.float64),
            frames=list(r["frames"]),
        )
        for r in rows
    ]


def write_submission_zip(pred_dir: Path, zip_path: Path, prefix: str, sequences: list[str]) -> Path:
    """Zip ``pred_dir/<seq>/<frame>.png`` for exactly ``sequences``, with the sequence folders under
    ``prefix`` at the zip root; a sequence without predictions is an error (a submission never
    silently lacks a video). The temporary file's name is this process's own."""
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


# --- the tables of each task kind ----------------------------------------------------------------


def vos_tables(run_dir: Path, plan: Plan, results: list[SequenceResult], complete: bool) -> Tables:
    """Segmentation: per-object and per-frame J/F, J&F metrics (with YouTube-VOS groups), the
    submission zip of a complete run when the plan asks for one."""
    out = Tables()
    groups: dict[tuple[str, int], str | None] = {}
    for r in results:
        out.scores.extend(scores_from_json(r["sequence"], r["objects"]))
        for row in r["objects"]:
            groups[(r["sequence"], int(row["object"]))] = row.get("group")

    def group_of(sequence: str, obj: int) -> str | None:
        return groups.get((sequence, obj))

    for name in ("per_object.csv", "per_frame.csv"):
        (run_dir / name).unlink(missing_ok=True)  # a table of an earlier partial record
    if out.scores:
        write_per_object_csv(run_dir / "per_object.csv", out.scores)
        write_per_frame_csv(run_dir / "per_frame.csv", out.scores)
        # summarize and group_metrics give the J&F keys of Metrics (and the YouTube-VOS groups)
        out.metrics = cast(Metrics, {**summarize(out.scores), **group_metrics(out.scores, group_of)})
        out.ci = ci_for_scores(out.scores, group_of)  # bootstrap over sequences
    prefix = plan.get("submission_prefix")
    if complete and prefix is not None:
        names = [s["name"] for s in plan["sequences"]]
        out.submission_zip = str(write_submission_zip(run_dir / "predictions", run_dir / "submission.zip", prefix, names))
    return out


def pose_tables(run_dir: Path, plan: Plan, results: list[SequenceResult], complete: bool) -> Tables:
    """Keypoints: per-joint and per-video PCK, PCK metrics and curve."""
    dataset = plan["record"].get("dataset") or {}
    joints = tuple(dataset.get("joints") or JOINTS)
    acc = PCKAccumulator(joints, CURVE, headline="pooled" if dataset.get("pck") == "badja" else "joints")
    for r in results:
        acc.add_counts(r["sequence"], np.asarray(r["hits"], dtype=np.int64), np.asarray(r["counts"], dtype=np.int64))
    for name in ("per_joint_pck.csv", "per_video_pck.csv"):
        (run_dir / name).unlink(missing_ok=True)
    if not results:
        return Tables()
    result = acc.result()
    write_pck_csvs(run_dir, result)
    metrics = cast(Metrics, result.metrics())  # the PCK keys of Metrics
    return Tables(metrics=metrics, ci=ci_for_pck(per_video_csv_text(result)))  # bootstrap over videos


#: the table writer of each task kind (the record's ``task``)
WRITERS: dict[str, Callable[[Path, Plan, list[SequenceResult], bool], Tables]] = {
    "vos": vos_tables,
    "pose": pose_tables,
}
