"""The run record: its schema version, its metrics, and the one writer of ``summary.json``.

A run folder's ``summary.json`` is written by :func:`write_summary` (atomically, always last) and
read back by :func:`vosbench.records.reader.load_record`; both use the constants here. Metric
values are fractions in [0, 1] in every machine-readable file; human tables show percent.

:data:`METRICS` is the one table of metric names: the record key, the header papers print, the
unit stored in files and the direction (higher or lower is better). Records, leaderboards, the
regression check and the terminal tables all read it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast, get_args

from vosbench.core.errors import InputFileError
from vosbench.core.io import atomic_write_text
from vosbench.records.checks import range_problem
from vosbench.records.types import EvalSummary, RunSummary, Status

#: version of the ``summary.json`` layout; readers refuse newer versions
SCHEMA_VERSION = 1
#: file name of a run's record inside its run folder
SUMMARY = "summary.json"
#: file name of a run folder's plan (written when the run starts; see vosbench.runs.ledger)
PLAN = "plan.json"
#: run status values: ``complete`` only when every sequence finished
STATUSES: tuple[Status, ...] = get_args(Status)  # running, complete, failed, interrupted


@dataclass(frozen=True)
class Metric:
    """One scalar metric: record key, header as papers print it, stored unit and direction."""

    key: str
    header: str
    higher_is_better: bool = True
    unit: str = "fraction"


# Canonical column order: YouTube-VOS, then DAVIS-style J&F statistics, then JHMDB PCK, then VIP mIoU.
METRICS: tuple[Metric, ...] = (
    Metric("overall", "Overall"),
    Metric("J_seen", "J-seen"),
    Metric("F_seen", "F-seen"),
    Metric("J_unseen", "J-unseen"),
    Metric("F_unseen", "F-unseen"),
    Metric("JF_mean", "J&F"),
    Metric("J_mean", "J-Mean"),
    Metric("J_recall", "J-Recall"),
    Metric("J_decay", "J-Decay", higher_is_better=False),
    Metric("F_mean", "F-Mean"),
    Metric("F_recall", "F-Recall"),
    Metric("F_decay", "F-Decay", higher_is_better=False),
    Metric("PCK@0.1", "PCK@0.1"),
    Metric("PCK@0.2", "PCK@0.2"),
    Metric("mIoU", "mIoU"),
    Metric("pixel_accuracy", "Pixel acc."),
    Metric("mean_accuracy", "Mean acc."),
    Metric("fwIoU", "FW IoU"),
    Metric("average_jaccard", "AJ"),
    Metric("average_pts_within_thresh", "<δ_avg"),
    Metric("occlusion_accuracy", "OA"),
)
METRIC_BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}
#: metric a table is sorted by when none is chosen (the first one present)
PRIMARY = ("overall", "JF_mean", "PCK@0.1", "mIoU", "J_mean")


def summary_text(record: RunSummary | Mapping[str, object]) -> str:
    """The text of ``summary.json`` for ``record``, after checking its ``schema_version`` and
    ``status``."""
    if record.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"run record has schema_version {record.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    if record.get("status") not in STATUSES:
        raise ValueError(f"run record has status {record.get('status')!r}, expected one of {', '.join(STATUSES)}")
    return json.dumps(record, indent=2) + "\n"


def write_summary(run_dir: Path, record: RunSummary | Mapping[str, object]) -> Path:
    """Write ``record`` (a :class:`~vosbench.records.types.RunSummary`) as ``run_dir/summary.json``
    (atomically) and return the path.

    The record must carry this schema's ``schema_version``; :func:`~vosbench.records.reader.read_summary`
    and :func:`~vosbench.records.reader.load_record` read it back.
    """
    path = Path(run_dir) / SUMMARY
    atomic_write_text(path, summary_text(record))
    return path


def write_eval_summary(path: Path, metrics: dict[str, float], **facts: object) -> Path:
    """Write the summary of a ``vosbench eval`` (scores of a predictions folder, no run): the
    metrics (fractions, flat, as in a run record's ``metrics``) and ``facts`` about what was
    scored, with ``schema_version`` and ``kind: "eval"``; atomically. :func:`read_eval_summary`
    reads it back."""
    data = {"schema_version": SCHEMA_VERSION, "kind": "eval", **metrics, **facts}
    atomic_write_text(Path(path), json.dumps(data, indent=2) + "\n")
    return Path(path)


def read_eval_summary(path: str | Path) -> EvalSummary:
    """The summary that ``vosbench eval --out`` wrote, checked: this schema's ``kind: "eval"``
    and metrics that are fractions in their range (or null).

    Raises:
        InputFileError: naming the file and what was expected.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputFileError(f"{p}: cannot read the summary of `vosbench eval` ({e})") from None
    if not isinstance(data, dict) or data.get("kind") != "eval" or data.get("schema_version") != SCHEMA_VERSION:
        raise InputFileError(f"{p}: expected a summary of `vosbench eval` (kind eval, schema_version {SCHEMA_VERSION})")
    curve = data.get("pck_curve")
    values = {**({f"pck_curve[{k}]": v for k, v in curve.items()} if isinstance(curve, dict) else {}),
              **{m.key: data.get(m.key) for m in METRICS}}
    for key, value in values.items():
        bad = value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)))
        problem = f"{key} is {value!r}; expected a number or null" if bad else None
        if not bad and isinstance(value, (int, float)):
            problem = range_problem(key, float(value)) if not math.isnan(value) else None
        if problem is not None:
            raise InputFileError(f"{p}: {problem}")
    return cast(EvalSummary, data)
