"""Leaderboards: run records -> rows -> markdown, CSV or JSON. Pure functions, no I/O but reading
the packaged published numbers.

One row per (dataset, model with options, checkpoint, protocol name + version + settings): runs
that differ in any protocol setting are never merged. Values are percent (runs store fractions).
Each distinct protocol gets a number, and the footnote lists its settings. Published reference
numbers (``published.json``, SPEC §5) can be added as rows marked *published*, each with a note
saying where the number comes from and how it was measured.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from vosbench.core.errors import ConfigError, InputFileError
from vosbench.records.schema import METRIC_BY_KEY, METRICS, PRIMARY, Metric
from vosbench.records.reader import (
    RunRecord,
    checkpoint_label,
    fmt_setting,
    model_label,
    per_sequence_jf,
    per_video_pck,
    select_runs,
    sequences_label,
    settings_key,
)



KEY_COLUMNS = ("dataset", "sequences", "kind", "model", "checkpoint", "protocol", "protocol_ref", "protocol_settings")
RUN_COLUMNS = ("run_id", "created")
INFO_COLUMNS = ("source", "note")


@dataclass
class Row:
    """One leaderboard line (a run, or a published reference number).

    Attributes:
        kind: ``"run"`` or ``"published"``.
        dataset: Dataset name.
        model: Model label (name plus options) or, for published rows, the method.
        checkpoint: Checkpoint label, or backbone and training data for published rows.
        protocol: ``"<name> v<version>"``, or ``"published"`` (``"published, preset <name>"`` when
            the source used the official script a vosbench preset restates: comparable only with
            runs of that preset).
        protocol_settings: Canonical settings key (runs) or the protocol note (published).
        metrics: Metric key -> value in percent.
        sequences: The sequence set of the run (see :func:`~vosbench.records.reader.sequences_label`);
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


# --- rows -----------------------------------------------------------------------------------------


def row_from_record(record: RunRecord) -> Row:
    """A leaderboard row for one run (metrics converted from fractions to percent)."""
    metrics = {k: 100.0 * v for k, v in record.metrics.items() if k in METRIC_BY_KEY}
    return Row(
        kind="run",
        dataset=record.dataset,
        model=model_label(record),
        checkpoint=checkpoint_label(record),
        protocol=f"{record.protocol_name} v{record.protocol_version}",
        protocol_settings=settings_key(record.protocol_settings()),
        metrics=metrics,
        sequences=sequences_label(record),
        run_id=record.run_id,
        created=record.created,
        run_dir=record.run_dir,
        protocol_dict=dict(record.protocol),
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
    """The packaged published numbers (SPEC §5), values in percent as their sources state them."""
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


# --- building tables ------------------------------------------------------------------------------


def _sort_metric(rows: list[Row], metric: str) -> str:
    present = {k for r in rows for k in r.metrics}
    if metric != "auto" and metric in present:
        return metric
    for key in PRIMARY:
        if key in present:
            return key
    return next((m.key for m in METRICS if m.key in present), "JF_mean")


def _sorted(rows: list[Row], metric: str) -> list[Row]:
    """Best first by ``metric`` (missing values last); ties by model, checkpoint, protocol, time."""
    sign = 1.0 if METRIC_BY_KEY[metric].higher_is_better else -1.0

    def key(r: Row) -> tuple[Any, ...]:
        v = r.metrics.get(metric)
        missing = v is None or math.isnan(v)
        return (missing, 0.0 if v is None or missing else -sign * v, r.kind != "run", r.model, r.checkpoint, r.protocol,
                r.protocol_settings, r.sequences, r.created, r.run_id)

    return sorted(rows, key=key)


def build(
    records: Iterable[RunRecord],
    *,
    datasets: Iterable[str] | None = None,
    metric: str = "auto",
    all_runs: bool = False,
    with_published: bool = False,
) -> Leaderboard:
    """Group run records into per-dataset tables.

    Args:
        records: Run records (see :func:`vosbench.records.reader.find_records`).
        datasets: Only these datasets (in this order); default: every dataset with runs, sorted.
        metric: Sort column (a key of :data:`METRICS`) or ``"auto"`` (each table's primary metric:
            YouTube-VOS overall, else J&F, else PCK@0.1). A table without the chosen metric falls
            back to its primary one.
        all_runs: One row per run instead of the latest run per identity.
        with_published: Add the packaged published rows for the datasets shown.

    Raises:
        ConfigError: unknown metric, or a metric that no selected row has.
    """
    if metric != "auto" and metric not in METRIC_BY_KEY:
        raise ConfigError(f"unknown metric {metric!r}; choose one of: auto, {', '.join(METRIC_BY_KEY)}")
    run_rows = rows_from_records(records, all_runs=all_runs)
    names = list(dict.fromkeys(datasets)) if datasets else sorted({r.dataset for r in run_rows})
    run_rows = [r for r in run_rows if r.dataset in set(names)]
    pub_rows = published_rows(names) if with_published else []
    notes: list[str] = []
    if with_published:
        have = {r.dataset for r in pub_rows}
        lacking = [d for d in names if d not in have]
        if lacking:
            known = sorted({e["dataset"] for e in published_entries()})
            notes.append(
                f"No published numbers for {', '.join(lacking)} (published rows exist for {', '.join(known)})."
            )
    all_rows = run_rows + pub_rows
    if metric != "auto" and all_rows and not any(metric in r.metrics for r in all_rows):
        available = sorted({k for r in all_rows for k in r.metrics}, key=list(METRIC_BY_KEY).index)
        raise ConfigError(f"no selected row has metric {metric!r}; available: {', '.join(available)}")

    # Number protocols in the order they are first met, table by table, so numbering is stable.
    tables: list[Table] = []
    protocols: dict[str, tuple[str, dict[str, Any]]] = {}
    published: list[Row] = []
    for name in names:
        rows = [r for r in all_rows if r.dataset == name]
        if not rows:
            continue
        sort_key = _sort_metric(rows, metric)
        rows = _sorted(rows, sort_key)
        for r in rows:
            if r.kind == "published":
                published.append(r)
                r.ref = f"P{len(published)}"
                continue
            pkey = json.dumps(r.protocol_dict, sort_keys=True, default=str)
            if pkey not in protocols:
                protocols[pkey] = (str(len(protocols) + 1), r.protocol_dict)
            r.ref = protocols[pkey][0]
        present = {k for r in rows for k in r.metrics}
        columns = [m for m in METRICS if m.key in present]
        tables.append(Table(dataset=name, metric=sort_key, columns=columns, rows=rows))
    if datasets:
        empty = [d for d in names if not any(r.dataset == d for r in run_rows)]
        if empty:
            notes.append(f"No runs for {', '.join(empty)}.")
    return Leaderboard(
        tables=tables,
        protocols=list(protocols.values()),
        published=published,
        metric=metric,
        all_runs=all_runs,
        notes=notes,
    )


# --- rendering ------------------------------------------------------------------------------------


def fmt_value(value: float | None, decimals: int) -> str:
    """Percent with ``decimals`` decimals; ``-`` when absent."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{decimals}f}"


def fmt_interval(bounds: tuple[float, float], value: float, decimals: int, style: str = "pm") -> str:
    """A confidence interval beside ``value``: ``± 2.1`` (half the width; ``style="pm"``) or
    ``[65.3, 69.5]`` (``style="interval"``, the bounds, which need not be symmetric)."""
    lo, hi = bounds
    if style == "interval":
        return f"[{lo:.{decimals}f}, {hi:.{decimals}f}]"
    return f"± {(hi - lo) / 2:.{decimals}f}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _best(table: Table, metric: Metric, decimals: int) -> str | None:
    vals = [r.metrics[metric.key] for r in table.rows if r.kind == "run" and metric.key in r.metrics]
    vals = [v for v in vals if not math.isnan(v)]
    if len(vals) < 2:  # a lone run is not "best" of anything
        return None
    best = max(vals) if metric.higher_is_better else min(vals)
    return fmt_value(best, decimals)


def protocol_footnotes(protocols: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """One line per numbered protocol: every setting, plus how it differs from the first protocol
    of the same name and version (so near-identical settings are easy to tell apart)."""
    lines = []
    first: dict[tuple[str, Any], tuple[str, dict[str, Any]]] = {}
    for ref, proto in protocols:
        name, version = proto.get("name", "?"), proto.get("version", "?")
        settings = {k: v for k, v in proto.items() if k not in ("name", "version")}
        text = f"[{ref}] {name} v{version}: " + ", ".join(f"{k}={fmt_setting(v)}" for k, v in settings.items())
        base = first.setdefault((name, version), (ref, settings))
        if base[0] != ref:
            diff = [f"{k}={fmt_setting(v)}" for k, v in settings.items() if base[1].get(k, object()) != v]
            diff += [f"{k} unset" for k in base[1] if k not in settings]
            text += f" (differs from [{base[0]}] in: {', '.join(diff)})"
        lines.append(text)
    return lines


def _published_footnote(r: Row) -> str:
    text = f"[{r.ref}] {r.model} ({r.checkpoint}), {r.dataset}: {r.info.get('source', '')}. Protocol: {r.info.get('protocol_note', '')}."
    if r.info.get("preset"):
        text += f" Compare only with runs of preset {r.info['preset']}."
    if r.info.get("note"):
        text += f" Note: {r.info['note']}."
    return text


def to_markdown(board: Leaderboard, decimals: int = 1) -> str:
    """Markdown tables (one per dataset), best run value per column in bold, then footnotes."""
    out: list[str] = []
    if not board.tables:
        out.append("No runs found.")
    for table in board.tables:
        m = METRIC_BY_KEY[table.metric]
        direction = "higher is better" if m.higher_is_better else "lower is better"
        out.append(f"### {table.dataset}")
        out.append("")
        out.append(f"Sorted by {m.header} ({direction}); values in %.")
        out.append("")
        # a Sequences column only where runs of one dataset cover different sequence sets
        mixed = len({r.sequences for r in table.rows if r.kind == "run"}) > 1
        extra = (["Sequences"] if mixed else []) + (["Run"] if board.all_runs else [])
        sig = ["vs best"] if board.significance else []
        headers = ["Model", "Checkpoint", "Protocol", *extra] + [c.header for c in table.columns] + sig
        aligns = [":--"] * (3 + len(extra)) + ["--:"] * len(table.columns) + [":--"] * len(sig)
        out.append("| " + " | ".join(headers) + " |")
        out.append("|" + "|".join(aligns) + "|")
        best = {c.key: _best(table, c, decimals) for c in table.columns}
        for r in table.rows:
            if r.kind == "published":
                cells = [f"{_md_escape(r.model)} *(published)*", _md_escape(r.checkpoint), f"{r.protocol} [{r.ref}]"]
            else:
                cells = [_md_escape(r.model), _md_escape(r.checkpoint), f"{r.protocol} [{r.ref}]"]
            if mixed:
                cells.append(_md_escape(r.sequences or "-"))
            if board.all_runs:
                cells.append(r.run_id or "-")
            for c in table.columns:
                text = fmt_value(r.metrics.get(c.key), decimals)
                if r.kind == "run" and text != "-" and text == best[c.key]:
                    text = f"**{text}**"
                if c.key in r.ci:
                    text += " " + fmt_interval(r.ci[c.key], r.metrics[c.key], decimals, board.ci_format)
                cells.append(text)
            if board.significance:
                cells.append(_md_escape(r.significance or "-"))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    if board.protocols:
        out.append("Protocols:")
        out.append("")
        out.extend(f"- {_md_escape(line)}" for line in protocol_footnotes(board.protocols))
        out.append("")
    legend = []
    if any(sum(r.kind == "run" for r in t.rows) > 1 for t in board.tables):
        decays = any(c.key.endswith("_decay") for t in board.tables for c in t.columns)
        legend.append("Bold: best vosbench run per column" + (" (J-Decay and F-Decay: lowest)." if decays else "."))
    if board.published:
        legend.append(
            "Rows marked *published* are numbers reported by papers, READMEs or users, not vosbench runs, "
            "and are never bold; see each one's protocol note before comparing."
        )
    if legend:
        out.append(" ".join(legend))
        out.append("")
    if board.published:
        out.append("Published rows:")
        out.append("")
        out.extend(f"- {_md_escape(_published_footnote(r))}" for r in board.published)
        out.append("")
    for note in board.notes:
        out.append(note)
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _round(value: float, decimals: int) -> float:
    return round(value, decimals)


def _metric_keys(board: Leaderboard) -> list[str]:
    present = {c.key for t in board.tables for c in t.columns}
    return [m.key for m in METRICS if m.key in present]


def to_records(board: Leaderboard, decimals: int = 3) -> list[dict[str, Any]]:
    """Flat dictionaries, one per row, in table order (what CSV and JSON carry)."""
    out = []
    for r in board.rows:
        out.append(
            {
                "dataset": r.dataset,
                "sequences": r.sequences,
                "kind": r.kind,
                "model": r.model,
                "checkpoint": r.checkpoint,
                "protocol": r.protocol,
                "protocol_ref": r.ref,
                "protocol_settings": r.protocol_settings,
                "run_id": r.run_id,
                "created": r.created,
                "metrics": {k: _round(v, decimals) for k, v in r.metrics.items() if not math.isnan(v)},
                "source": r.info.get("source", ""),
                "note": r.info.get("note", ""),
            }
        )
        if board.ci_format:  # only when intervals were asked for, so plain output is unchanged
            out[-1]["ci"] = {k: {"low": _round(lo, decimals), "high": _round(hi, decimals)}
                             for k, (lo, hi) in r.ci.items()}
        if board.significance:
            out[-1]["significance"] = r.significance
    return out


def to_csv(board: Leaderboard, decimals: int = 3) -> str:
    """One CSV for all tables: key columns, run id and time, one column per metric (percent,
    empty when absent), source and note (published rows)."""
    keys = _metric_keys(board)
    ci_keys = [k for k in keys if any(k in r.ci for r in board.rows)] if board.ci_format else []
    ci_cols = [f"{k}_ci_{side}" for k in ci_keys for side in ("low", "high")]
    sig_cols = ["significance"] if board.significance else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*KEY_COLUMNS, *RUN_COLUMNS, *keys, *ci_cols, *sig_cols, *INFO_COLUMNS])
    for rec in to_records(board, decimals):
        ci = rec.get("ci", {})
        writer.writerow(
            [rec[c] for c in KEY_COLUMNS]
            + [rec[c] for c in RUN_COLUMNS]
            + [repr(rec["metrics"][k]) if k in rec["metrics"] else "" for k in keys]
            + [repr(ci[k][side]) if k in ci else "" for k in ci_keys for side in ("low", "high")]
            + [rec.get("significance", "") for _ in sig_cols]
            + [rec[c] for c in INFO_COLUMNS]
        )
    return buf.getvalue()


def to_json(board: Leaderboard, decimals: int = 3) -> str:
    """The leaderboard as a JSON document (``format: vosbench-leaderboard``), readable by ``check``."""
    doc = {
        "format": "vosbench-leaderboard",
        "version": 1,
        "units": "percent",
        "metric": board.metric,
        "all_runs": board.all_runs,
        "protocols": [
            {"ref": ref, "name": p.get("name"), "version": p.get("version"),
             "settings": {k: v for k, v in p.items() if k not in ("name", "version")}}
            for ref, p in board.protocols
        ],
        "rows": to_records(board, decimals),
        "notes": board.notes,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render(board: Leaderboard, fmt: str, decimals: int | None = None) -> str:
    """Render as ``md``, ``csv`` or ``json`` (default decimals: 1 for md, 3 for csv/json, so a
    CSV or JSON leaderboard can serve as a regression baseline)."""
    if fmt == "md":
        return to_markdown(board, 1 if decimals is None else decimals)
    if fmt == "csv":
        return to_csv(board, 3 if decimals is None else decimals)
    if fmt == "json":
        return to_json(board, 3 if decimals is None else decimals)
    raise ConfigError(f"unknown format {fmt!r}; choose md, csv or json")


# --- per-sequence view ----------------------------------------------------------------------------


@dataclass
class PerSequence:
    """J&F (or, for keypoints, PCK@0.1) per sequence of one dataset, one column per (model,
    checkpoint, protocol[, run])."""

    dataset: str
    columns: list[Row]
    labels: list[str]
    sequences: list[str]
    values: dict[str, dict[str, float]]  # sequence -> label -> percent
    overall: dict[str, float]  # label -> the run's overall value (percent)
    protocols: list[tuple[str, dict[str, Any]]]
    metric: str = "J&F"
    overall_label: str = "J&F (all objects)"
    explanation: str = (
        "Per sequence: mean over the sequence's objects of (J-Mean + F-Mean) / 2. "
        "Last line: the run's J&F-Mean over all objects."
    )


def build_per_sequence(
    records: Iterable[RunRecord], dataset: str | None = None, *, all_runs: bool = False
) -> PerSequence:
    """Per-sequence J&F (mean over the sequence's objects of (J-Mean + F-Mean) / 2) for one dataset;
    for keypoint datasets, PCK@0.1 per video (``per_video_pck.csv``).

    Raises:
        ConfigError: no dataset given while runs cover several, or no runs for it.
        InputFileError: a run lacks a readable ``per_object.csv`` (``per_video_pck.csv``).
    """
    records = list(records)
    names = sorted({r.dataset for r in records})
    if dataset is None:
        if len(names) != 1:
            raise ConfigError(
                "--per-sequence shows one dataset; choose it with --dataset "
                f"(runs cover: {', '.join(names) or 'none'})"
            )
        dataset = names[0]
    chosen = [r for r in select_runs(records, all_runs=all_runs) if r.dataset == dataset]
    if not chosen:
        raise ConfigError(f"no runs for dataset {dataset!r} (runs cover: {', '.join(names) or 'none'})")
    pose = all(r.task == "pose" for r in chosen)
    board = build(chosen, datasets=[dataset], all_runs=all_runs)
    by_folder = {r.run_dir: r for r in chosen}
    cols = board.tables[0].rows
    labels: list[str] = []
    values: dict[str, dict[str, float]] = {}
    overall: dict[str, float] = {}
    seq_order: list[str] = []
    base = [r.model + ("" if r.checkpoint == "-" else f" @ {r.checkpoint}") + f" [{r.ref}]" for r in cols]
    for row, label in zip(cols, base):
        if base.count(label) > 1 and len({c.sequences for c, b in zip(cols, base) if b == label}) > 1:
            label += f" ({row.sequences})"  # same model and protocol on another sequence set
        if all_runs:
            label += f" {row.run_id}"
        labels.append(label)
        assert row.run_dir is not None  # a run row, built from one of ``chosen``
        record = by_folder[row.run_dir]
        per_seq = per_video_pck(record.run_dir) if pose else per_sequence_jf(record.run_dir)
        for seq in record.sequences or list(per_seq):
            if seq not in seq_order:
                seq_order.append(seq)
        for seq in per_seq:
            if seq not in seq_order:
                seq_order.append(seq)
            values.setdefault(seq, {})[label] = 100.0 * per_seq[seq]
        key = "PCK@0.1" if pose else "JF_mean"
        if key in record.metrics:
            overall[label] = 100.0 * record.metrics[key]
    view = PerSequence(
        dataset=dataset,
        columns=cols,
        labels=labels,
        sequences=seq_order,
        values=values,
        overall=overall,
        protocols=board.protocols,
    )
    if pose:
        view.metric = "PCK@0.1"
        view.overall_label = "PCK@0.1 (all videos)"
        view.explanation = (
            "Per video: mean over the 15 joints of each joint's PCK@0.1 in that video. "
            "Last line: the run's PCK@0.1 over all videos."
        )
    return view


def per_sequence_markdown(view: PerSequence, decimals: int = 1) -> str:
    """Rows = sequences, columns = runs; best value per sequence in bold."""
    out = [f"### {view.dataset}: {view.metric} per sequence (%)", ""]
    out.append("| Sequence | " + " | ".join(_md_escape(lb) for lb in view.labels) + " |")
    out.append("|:--|" + "|".join("--:" for _ in view.labels) + "|")

    def line(name: str, vals: dict[str, float]) -> str:
        texts = [fmt_value(vals.get(lb), decimals) for lb in view.labels]
        nums = [t for t in texts if t != "-"]
        best = max(nums, key=float) if nums else None
        cells = [f"**{t}**" if best is not None and t == best and len(view.labels) > 1 else t for t in texts]
        return f"| {_md_escape(name)} | " + " | ".join(cells) + " |"

    for seq in view.sequences:
        out.append(line(seq, view.values.get(seq, {})))
    out.append(line(view.overall_label, view.overall))
    out.append("")
    out.append(view.explanation)
    out.append("")
    out.append("Protocols:")
    out.append("")
    out.extend(f"- {_md_escape(line)}" for line in protocol_footnotes(view.protocols))
    return "\n".join(out) + "\n"


def per_sequence_csv(view: PerSequence, decimals: int = 3) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["sequence", *view.labels])
    for seq in view.sequences:
        vals = view.values.get(seq, {})
        writer.writerow([seq] + [repr(round(vals[lb], decimals)) if lb in vals else "" for lb in view.labels])
    writer.writerow(
        [view.overall_label]
        + [repr(round(view.overall[lb], decimals)) if lb in view.overall else "" for lb in view.labels]
    )
    return buf.getvalue()


def per_sequence_json(view: PerSequence, decimals: int = 3) -> str:
    doc = {
        "format": "vosbench-per-sequence",
        "version": 1,
        "units": "percent",
        "dataset": view.dataset,
        "metric": view.metric,
        "columns": [
            {"label": lb, "model": r.model, "checkpoint": r.checkpoint, "protocol": r.protocol,
             "protocol_ref": r.ref, "run_id": r.run_id}
            for lb, r in zip(view.labels, view.columns)
        ],
        "sequences": {
            seq: {lb: round(v, decimals) for lb, v in view.values.get(seq, {}).items()} for seq in view.sequences
        },
        "overall": {lb: round(v, decimals) for lb, v in view.overall.items()},
        "protocols": [{"ref": ref, **p} for ref, p in view.protocols],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_per_sequence(view: PerSequence, fmt: str, decimals: int | None = None) -> str:
    """Render the per-sequence view as ``md``, ``csv`` or ``json``."""
    if fmt == "md":
        return per_sequence_markdown(view, 1 if decimals is None else decimals)
    if fmt == "csv":
        return per_sequence_csv(view, 3 if decimals is None else decimals)
    if fmt == "json":
        return per_sequence_json(view, 3 if decimals is None else decimals)
    raise ConfigError(f"unknown format {fmt!r}; choose md, csv or json")
