"""Leaderboards: run records -> rows -> markdown, CSV or JSON. Pure functions, no I/O but reading
the packaged published numbers.

One row per (dataset, model with options, checkpoint, protocol name + version + settings): runs
that differ in any protocol setting are never merged. Values are percent (runs store fractions).
Each distinct protocol gets a number, and the footnote lists its settings. Published reference
numbers (see :mod:`vosbench.results.rows`) can be added as rows marked *published*, each with a
note saying where the number comes from and how it was measured.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Iterable

from vosbench.core.errors import ConfigError
from vosbench.records.reader import RunRecord
from vosbench.records.labels import fmt_setting
from vosbench.records.schema import METRIC_BY_KEY, METRICS, PRIMARY, Metric
from vosbench.results.formats import render_as
from vosbench.results.rows import Leaderboard, Row, Table, published_entries, published_rows, rows_from_records

KEY_COLUMNS = ("dataset", "sequences", "kind", "model", "checkpoint", "protocol", "protocol_ref", "protocol_settings")
RUN_COLUMNS = ("run_id", "created")
INFO_COLUMNS = ("source", "note")


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


def _table_names(datasets: Iterable[str] | None, run_rows: list[Row], with_published: bool) -> list[str]:
    """The tables to show: every dataset with runs, sorted; or ``datasets`` in order, each followed by
    its ``<name>@HxW`` benchmarks (runs scored against resized GT) that the runs or, with
    ``with_published``, the published rows have."""
    if not datasets:
        return sorted({r.dataset for r in run_rows})
    names = list(dict.fromkeys(datasets))
    keys = {r.dataset for r in run_rows} | ({e["dataset"] for e in published_entries()} if with_published else set())
    out: list[str] = []
    for n in names:
        out.append(n)
        out += sorted(k for k in keys if "@" not in n and k.startswith(f"{n}@"))
    return list(dict.fromkeys(out))


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
            A dataset name also brings its resized-ground-truth benchmarks (``davis17-val`` brings
            ``davis17-val@480x880``), each as a table of its own.
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
    names = _table_names(datasets, run_rows, with_published)
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


def md_escape(text: str) -> str:
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
        tuned = any(r.tuned for r in table.rows)  # a Tuned on column only where a run's settings were tuned
        extra = (["Sequences"] if mixed else []) + (["Run"] if board.all_runs else []) + (["Tuned on"] if tuned else [])
        sig = ["vs best"] if board.significance else []
        headers = ["Model", "Checkpoint", "Protocol", *extra] + [c.header for c in table.columns] + sig
        aligns = [":--"] * (3 + len(extra)) + ["--:"] * len(table.columns) + [":--"] * len(sig)
        out.append("| " + " | ".join(headers) + " |")
        out.append("|" + "|".join(aligns) + "|")
        best = {c.key: _best(table, c, decimals) for c in table.columns}
        for r in table.rows:
            if r.kind == "published":
                cells = [f"{md_escape(r.model)} *(published)*", md_escape(r.checkpoint), f"{r.protocol} [{r.ref}]"]
            else:
                cells = [md_escape(r.model), md_escape(r.checkpoint), f"{r.protocol} [{r.ref}]"]
            if mixed:
                cells.append(md_escape(r.sequences or "-"))
            if board.all_runs:
                cells.append(r.run_id or "-")
            if tuned:
                cells.append(md_escape(r.tuned or "-"))
            for c in table.columns:
                text = fmt_value(r.metrics.get(c.key), decimals)
                if r.kind == "run" and text != "-" and text == best[c.key]:
                    text = f"**{text}**"
                if c.key in r.ci:
                    text += " " + fmt_interval(r.ci[c.key], r.metrics[c.key], decimals, board.ci_format)
                cells.append(text)
            if board.significance:
                cells.append(md_escape(r.significance or "-"))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    if board.protocols:
        out.append("Protocols:")
        out.append("")
        out.extend(f"- {md_escape(line)}" for line in protocol_footnotes(board.protocols))
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
    if any(r.tuned for r in board.rows):
        legend.append(
            "Tuned on, and a protocol marked (tuned): the run's protocol settings were chosen by `vosbench tune` on "
            "that data (rule, metric and grid size given), then run on this dataset; (tuned on eval data) and TUNED "
            "ON EVALUATION DATA mark a choice made on a val/test split."
        )
    if legend:
        out.append(" ".join(legend))
        out.append("")
    if board.published:
        out.append("Published rows:")
        out.append("")
        out.extend(f"- {md_escape(_published_footnote(r))}" for r in board.published)
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
    tuned = any(row.tuned for row in board.rows)  # a tuned_on key only when a run was tuned: other output unchanged
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
        if tuned:
            out[-1]["tuned_on"] = r.tuned
    return out


def to_csv(board: Leaderboard, decimals: int = 3) -> str:
    """One CSV for all tables: key columns, run id and time, one column per metric (percent,
    empty when absent), source and note (published rows)."""
    keys = _metric_keys(board)
    ci_keys = [k for k in keys if any(k in r.ci for r in board.rows)] if board.ci_format else []
    ci_cols = [f"{k}_ci_{side}" for k in ci_keys for side in ("low", "high")]
    sig_cols = ["significance"] if board.significance else []
    tuned_cols = ["tuned_on"] if any(r.tuned for r in board.rows) else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*KEY_COLUMNS, *RUN_COLUMNS, *keys, *ci_cols, *sig_cols, *tuned_cols, *INFO_COLUMNS])
    for rec in to_records(board, decimals):
        ci = rec.get("ci", {})
        writer.writerow(
            [rec[c] for c in KEY_COLUMNS]
            + [rec[c] for c in RUN_COLUMNS]
            + [repr(rec["metrics"][k]) if k in rec["metrics"] else "" for k in keys]
            + [repr(ci[k][side]) if k in ci else "" for k in ci_keys for side in ("low", "high")]
            + [rec.get("significance", "") for _ in sig_cols]
            + [rec.get("tuned_on", "") for _ in tuned_cols]
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
    return render_as(fmt, decimals, md=lambda d: to_markdown(board, d), csv=lambda d: to_csv(board, d),
                     json=lambda d: to_json(board, d))
