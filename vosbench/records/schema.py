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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vosbench.core.io import atomic_write_text

#: version of the ``summary.json`` layout; readers refuse newer versions
SCHEMA_VERSION = 1
#: file name of a run's record inside its run folder
SUMMARY = "summary.json"
#: file name of a run folder's plan (written when the run starts; see vosbench.runs.ledger)
PLAN = "plan.json"
#: run status values: ``complete`` only when every sequence finished
STATUSES = ("running", "complete", "failed", "interrupted")


@dataclass(frozen=True)
class Metric:
    """One scalar metric: record key, header as papers print it, stored unit and direction."""

    key: str
    header: str
    higher_is_better: bool = True
    unit: str = "fraction"


# Canonical column order: YouTube-VOS, then DAVIS-style J&F statistics, then JHMDB PCK.
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
)
METRIC_BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}
#: metric a table is sorted by when none is chosen (the first one present)
PRIMARY = ("overall", "JF_mean", "PCK@0.1", "J_mean")


def write_summary(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``run_dir/summary.json`` (atomically) and return the path.

    The record must carry this schema's ``schema_version``; :func:`~vosbench.records.reader.load_record`
    reads it back.
    """
    if record.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"run record has schema_version {record.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    if record.get("status") not in STATUSES:
        raise ValueError(f"run record has status {record.get('status')!r}, expected one of {', '.join(STATUSES)}")
    path = Path(run_dir) / SUMMARY
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path


def write_eval_summary(path: Path, metrics: dict[str, float], **facts: Any) -> Path:
    """Write the summary of a ``vosbench eval`` (scores of a predictions folder, no run): the
    metrics (fractions, flat, as in a run record's ``metrics``) and ``facts`` about what was
    scored, with ``schema_version`` and ``kind: "eval"``; atomically."""
    data = {"schema_version": SCHEMA_VERSION, "kind": "eval", **metrics, **facts}
    atomic_write_text(Path(path), json.dumps(data, indent=2) + "\n")
    return Path(path)
