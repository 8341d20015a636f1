"""Leaderboard rows: one per run record (the latest run per identity, or every run) or per
published reference number, grouped into per-dataset tables by :func:`vosbench.results.leaderboard.build`.

Values are percent (runs store fractions). Published reference numbers (``published.json``) come
with their source (a paper's table or a method repository's README) and a note saying how each
number was measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from vosbench.core.errors import InputFileError
from vosbench.records.labels import (
    checkpoint_label,
    model_label,
    protocol_label,
    select_runs,
    sequences_label,
    settings_key,
)
from vosbench.records.reader import RunRecord
from vosbench.records.schema import METRIC_BY_KEY, Metric
from vosbench.records.tuning import tuned_label


@dataclass
class Row:
    """One leaderboard line (a run, or a published reference number).

    Attributes:
        kind: ``"run"`` or ``"published"``.
        dataset: Dataset name.
        model: Model label (name plus options) or, for published rows, the method.
        checkpoint: Checkpoint label, or backbone and training data for published rows.
        protocol: ``"<name> v<version>"`` (``(tuned)`` added for a run whose settings ``vosbench
            tune`` chose, see :func:`~vosbench.records.labels.protocol_label`), or ``"published"`` (``"published, preset <name>"`` when
            the source used the official script a vosbench preset restates: comparable only with
            runs of that preset).
        protocol_settings: Canonical settings key (runs) or the protocol note (published).
        metrics: Metric key -> value in percent.
        sequences: The sequence set of the run (see :func:`~vosbench.records.labels.sequences_label`);
            empty for published rows.
        run_id, created: Which run (empty for published rows).
        run_dir: The run folder, the run's full identity (``None`` for published rows): two runs
            of different models may share a run id, so statistics and per-sequence files are
            looked up by folder, never by run id.
        protocol_dict: The full recorded protocol (runs only).
        info: Published rows: id, source, protocol note, note.
        ref: Footnote reference assigned by :func:`build` (``"1"``, ``"P3"``).
        ci: Metric key -> (low, high) confidence bounds in percent, when asked for
            (:func:`vosbench.results.leaderboard_stats.attach_intervals`).
        significance: Paired test against the table's top row, when asked for
            (:func:`vosbench.results.leaderboard_stats.attach_significance`).
        tuned: For a run whose settings ``vosbench tune`` chose: where and how
            (:func:`~vosbench.records.tuning.tuned_label`); empty otherwise.
    """

    kind: str
    dataset: str
    model: str
    checkpoint: str
    protocol: str
    protocol_settings: str
    metrics: dict[str, float]
    sequences: str = ""
    run_id: str = ""
    created: str = ""
    run_dir: Path | None = None
    protocol_dict: dict[str, Any] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    ref: str = ""
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    significance: str = ""
    tuned: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        """Identity used to match rows between a baseline and new runs."""
        return (self.dataset, self.model, self.checkpoint, self.protocol, self.protocol_settings, self.sequences)

    def describe(self) -> str:
        """Short human name for messages: ``lab on davis16-val [dog+libby] (crw v1 [1])``."""
        ck = "" if self.checkpoint in ("", "-") else f" @ {self.checkpoint}"
        seqs = f" [{self.sequences}]" if self.sequences else ""
        ref = f" [{self.ref}]" if self.ref else ""
        return f"{self.model}{ck} on {self.dataset}{seqs} ({self.protocol}{ref})"


@dataclass
class Table:
    """The rows of one dataset, sorted, with the columns that have any value."""

    dataset: str
    metric: str
    columns: list[Metric]
    rows: list[Row]


@dataclass
class Leaderboard:
    """Tables per dataset plus the footnotes they refer to."""

    tables: list[Table]
    protocols: list[tuple[str, dict[str, Any]]]
    published: list[Row]
    metric: str
    all_runs: bool = False
    notes: list[str] = field(default_factory=list)
    ci_format: str = ""  # "pm" (67.4 ± 2.1) or "interval" ([65.3, 69.5]) once intervals are attached
    significance: bool = False

    @property
    def rows(self) -> list[Row]:
        return [r for t in self.tables for r in t.rows]



def row_from_record(record: RunRecord) -> Row:
    """A leaderboard row for one run (metrics converted from fractions to percent)."""
    metrics = {k: 100.0 * v for k, v in record.metrics.items() if k in METRIC_BY_KEY}
    return Row(
        kind="run",
        dataset=record.benchmark,  # <dataset>@HxW for runs scored against resized GT: a table of its own
        model=model_label(record),
        checkpoint=checkpoint_label(record),
        protocol=protocol_label(record),
        protocol_settings=settings_key(record.protocol_settings()),
        metrics=metrics,
        sequences=sequences_label(record),
        run_id=record.run_id,
        created=record.created,
        run_dir=record.run_dir,
        protocol_dict=dict(record.protocol),
        tuned=tuned_label(record.tuning) if record.tuning else "",
    )


def rows_from_records(records: Iterable[RunRecord], *, all_runs: bool = False) -> list[Row]:
    """Rows for the latest run of each identity (every run with ``all_runs``)."""
    return [row_from_record(r) for r in select_runs(records, all_runs=all_runs)]


@lru_cache(maxsize=1)
def _published_doc() -> dict[str, Any]:
    text = resources.files("vosbench.results").joinpath("published.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    if doc.get("format") != "vosbench-published" or not isinstance(doc.get("rows"), list):
        raise InputFileError("vosbench/results/published.json: not a vosbench-published file (package damaged?)")
    return doc


def published_entries() -> list[dict[str, Any]]:
    """The packaged published numbers (each with its ``source``: a paper's table or a method
    repository's README), values in percent as their sources state them."""
    return [dict(e) for e in _published_doc()["rows"]]


def published_rows(datasets: Iterable[str] | None = None) -> list[Row]:
    """Published reference rows, optionally only for ``datasets``."""
    wanted = None if datasets is None else set(datasets)
    rows = []
    for e in published_entries():
        if wanted is not None and e["dataset"] not in wanted:
            continue
        training = e.get("training_data") or "-"
        backbone = e.get("backbone") or "-"
        checkpoint = backbone if training in ("-", "", backbone) else f"{backbone}, {training}"
        rows.append(
            Row(
                kind="published",
                dataset=e["dataset"],
                model=e["method"],
                checkpoint=checkpoint,
                protocol=f"published, preset {e['preset']}" if e.get("preset") else "published",
                protocol_settings=e.get("protocol_note", ""),
                metrics={k: float(v) for k, v in e["metrics"].items() if k in METRIC_BY_KEY},
                info={
                    "id": e.get("id", ""),
                    "source": e.get("source", ""),
                    "protocol_note": e.get("protocol_note", ""),
                    "note": e.get("note", ""),
                    "preset": e.get("preset", ""),
                },
            )
        )
    return rows
