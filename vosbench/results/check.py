"""Regression check: the latest run records against a committed baseline leaderboard.

A baseline is a leaderboard written as CSV or JSON (``vosbench leaderboard --format csv|json`` or
``vosbench check --update``). Rows are matched on (dataset, sequence set, model, checkpoint,
protocol name and version, protocol settings); values are percent, so the tolerance is in points. A metric fails
when it got *worse* by more than the tolerance (lower for most metrics, higher for the decays);
with ``both_ways`` any move beyond the tolerance fails, so a baseline cannot silently go stale.
A baseline row without a current run fails; current rows the baseline does not know are only
reported. New values are rounded to the decimals each baseline value was written with before
comparing, so ``--tolerance 0`` means "unchanged at the baseline's precision".
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

from vosbench.core.errors import ConfigError, InputFileError
from vosbench.results.leaderboard import INFO_COLUMNS, KEY_COLUMNS, RUN_COLUMNS, build, to_csv, to_json
from vosbench.results.rows import Row
from vosbench.records.labels import canonical_settings_text
from vosbench.records.reader import RunRecord, find_records
from vosbench.records.schema import METRIC_BY_KEY

# Float noise from rounding the baseline to its decimals must never flip a verdict.
_EPS = 1e-9
MATCH_COLUMNS = ("dataset", "model", "checkpoint", "protocol", "protocol_settings", "sequences")


@dataclass(frozen=True)
class BaselineRow:
    """One row of a baseline file: its identity and its metric values (percent)."""

    key: tuple[str, str, str, str, str, str]
    metrics: dict[str, float]
    line: int = 0
    decimals: dict[str, int] = field(default_factory=dict)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric -> (low, high), if written
    blank: tuple[str, ...] = ()  # metrics whose cell (value) is there but empty
    where: str = ""  # "<file>: line 3" (CSV) or "<file>: rows[2]" (JSON), for messages

    def describe(self) -> str:
        dataset, model, checkpoint, protocol, _, sequences = self.key
        ck = "" if checkpoint in ("", "-") else f" @ {checkpoint}"
        seqs = f" [{sequences}]" if sequences else ""
        return f"{model}{ck} on {dataset}{seqs} ({protocol})"


@dataclass(frozen=True)
class Comparison:
    """One metric of one matched row."""

    row: BaselineRow
    metric: str
    baseline: float
    now: float | None
    status: str  # "pass", "fail" (worse beyond tolerance), "changed" (better beyond it, both_ways), "missing"

    @property
    def delta(self) -> float | None:
        return None if self.now is None else self.now - self.baseline

    @property
    def failed(self) -> bool:
        return self.status != "pass"


@dataclass
class CheckResult:
    """Everything a check found; ``exit_code`` is 1 on any failure or missing row, else 0."""

    comparisons: list[Comparison]
    missing: list[BaselineRow]
    extra: list[Row]
    tolerance: float
    both_ways: bool = False
    baseline_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    ci: bool = False  # judged against the baseline's confidence bounds (check_ci), not a tolerance

    @property
    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.failed]

    @property
    def passed(self) -> bool:
        return not self.failures and not self.missing

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def verdict(self) -> str:
        """One line: what passed or why it failed."""
        if self.passed:
            n = len({c.row.key for c in self.comparisons})
            within = "within the baseline's confidence bounds" if self.ci else f"within {self.tolerance:g} points"
            return f"check passed: {len(self.comparisons)} metric(s) of {n} row(s) {within}"
        parts = []
        worse = [c for c in self.failures if c.status == "fail"]
        changed = [c for c in self.failures if c.status == "changed"]
        gone = [c for c in self.failures if c.status == "missing"]
        if worse and self.ci:
            parts.append(f"{len(worse)} metric(s) beyond the baseline's confidence bound (below ci_low; decays: above ci_high)")
        elif worse:
            parts.append(f"{len(worse)} metric(s) worse by more than {self.tolerance:g} points")
        if changed:
            parts.append(
                f"{len(changed)} metric(s) improved by more than {self.tolerance:g} points "
                "(baseline out of date: rerun with --update if intended)"
            )
        if gone:
            parts.append(f"{len(gone)} metric(s) no longer reported")
        if self.missing:
            parts.append(
                f"{len(self.missing)} baseline row(s) without a run: "
                + "; ".join(r.describe() for r in self.missing)
            )
        return "check failed: " + ", ".join(parts)


# --- reading baselines ----------------------------------------------------------------------------


def _bad(path: Path, what: str) -> InputFileError:
    return InputFileError(
        f"{path}: {what}. Expected a baseline written by `vosbench leaderboard --format csv|json` "
        f"or `vosbench check --update`."
    )


def _decimals(value: Any) -> int:
    """Decimals a baseline value was written with (``61.25`` -> 2), so new values are compared at
    the same precision and rounding never counts as a change."""
    text = value.strip() if isinstance(value, str) else repr(float(value))
    if "e" in text.lower() or "." not in text:
        return 12 if "e" in text.lower() else 0
    return len(text.split(".", 1)[1])


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "-"))


def _value(path: Path, where: str, metric: str, value: Any) -> float | None:
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        raise _bad(path, f"{where}: {metric}={value!r} is not a number")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise _bad(path, f"{where}: {metric}={value!r} is not a number") from None
    if not math.isfinite(v):
        raise _bad(path, f"{where}: {metric}={value!r} is not a finite number")
    return v


def _match_key(cells: list[str]) -> tuple[str, str, str, str, str, str]:
    """A baseline row's identity cells, its settings in the form current records give them."""
    dataset, model, checkpoint, protocol, settings, sequences = cells
    return dataset, model, checkpoint, protocol, canonical_settings_text(settings), sequences


def _read_csv_baseline(path: Path, text: str) -> list[BaselineRow]:
    try:
        # strict: an unbalanced quote is an error, not a field that swallows the following lines
        reader = csv.DictReader(io.StringIO(text), strict=True)
        header = reader.fieldnames or []
        raw = list(reader)
    except csv.Error as e:
        raise _bad(path, f"cannot parse CSV ({e}; an unbalanced quote?)") from None
    missing = [c for c in MATCH_COLUMNS if c not in header]
    if missing:
        raise _bad(path, f"missing column(s) {', '.join(missing)} (header: {','.join(header) or 'empty'})")
    ci_cols = {f"{m}_ci_{side}": (m, side) for m in METRIC_BY_KEY for side in ("low", "high")}
    known = set(KEY_COLUMNS) | set(RUN_COLUMNS) | set(INFO_COLUMNS) | set(METRIC_BY_KEY) | set(ci_cols) | {"significance", "tuned_on"}
    unknown = [c for c in header if c not in known]
    if unknown:
        raise _bad(path, f"unknown column(s) {', '.join(unknown)}; metric columns are {', '.join(METRIC_BY_KEY)}")
    metric_cols = [c for c in header if c in METRIC_BY_KEY]
    rows = []
    for i, rec in enumerate(raw, start=2):
        if None in rec:  # more cells than header columns
            raise _bad(path, f"line {i}: more values than columns")
        short = [c for c in header if rec.get(c) is None]
        if short:  # a truncated row: DictReader fills the missing cells with None
            raise _bad(path, f"line {i}: {len(header) - len(short)} value(s) for {len(header)} columns (truncated row?)")
        multiline = [c for c in header if "\n" in (rec.get(c) or "") or "\r" in (rec.get(c) or "")]
        if multiline:
            raise _bad(path, f"line {i}: column {multiline[0]} spans several lines (an unbalanced quote?)")
        if (rec.get("kind") or "run") == "published":
            continue
        metrics = {}
        decimals: dict[str, int] = {}
        for m in metric_cols:
            v = _value(path, f"line {i}", m, rec.get(m))
            if v is not None:
                metrics[m] = v
                decimals[m] = _decimals(rec.get(m))
        bounds: dict[str, dict[str, float]] = {}
        for col, (m, side) in ci_cols.items():
            v = _value(path, f"line {i}", col, rec.get(col)) if col in header else None
            if v is not None:
                bounds.setdefault(m, {})[side] = v
        ci = {m: (b["low"], b["high"]) for m, b in bounds.items() if len(b) == 2}
        key = _match_key([(rec.get(c) or "").strip() for c in MATCH_COLUMNS])
        blank = tuple(m for m in metric_cols if _is_blank(rec.get(m)))
        rows.append(BaselineRow(key=key, metrics=metrics, line=i, decimals=decimals, ci=ci,
                                blank=blank, where=f"{path}: line {i}"))
    return rows


def _read_json_baseline(path: Path, text: str) -> list[BaselineRow]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(path, f"cannot parse JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != "vosbench-leaderboard" or not isinstance(doc.get("rows"), list):
        raise _bad(path, "not a JSON leaderboard (needs \"format\": \"vosbench-leaderboard\" and a \"rows\" list)")
    rows = []
    for i, rec in enumerate(doc["rows"]):
        where = f"rows[{i}]"
        if not isinstance(rec, dict):
            raise _bad(path, f"{where} is not an object")
        if rec.get("kind", "run") == "published":
            continue
        missing = [c for c in MATCH_COLUMNS if not isinstance(rec.get(c), str)]
        if missing:
            raise _bad(path, f"{where} lacks text field(s) {', '.join(missing)}")
        raw = rec.get("metrics")
        if not isinstance(raw, dict):
            raise _bad(path, f"{where} lacks a \"metrics\" object")
        metrics = {}
        decimals: dict[str, int] = {}
        for m, value in raw.items():
            if m not in METRIC_BY_KEY:
                raise _bad(path, f"{where}: unknown metric {m!r}; known: {', '.join(METRIC_BY_KEY)}")
            v = _value(path, where, m, value)
            if v is not None:
                metrics[m] = v
                decimals[m] = _decimals(value)
        ci = {}
        for m, b in (rec.get("ci") or {}).items():
            if m not in METRIC_BY_KEY or not isinstance(b, dict):
                raise _bad(path, f"{where}: ci entry {m!r} is not {{\"low\": .., \"high\": ..}} of a known metric")
            lo, hi = _value(path, where, f"{m} ci low", b.get("low")), _value(path, where, f"{m} ci high", b.get("high"))
            if lo is not None and hi is not None:
                ci[m] = (lo, hi)
        key = _match_key([rec[c].strip() for c in MATCH_COLUMNS])
        blank = tuple(m for m, value in raw.items() if _is_blank(value))
        rows.append(BaselineRow(key=key, metrics=metrics, line=i, decimals=decimals, ci=ci, blank=blank,
                                where=f"{path}: {where}"))
    return rows


def baseline_format(path: Path, text: str | None = None) -> str:
    """``json`` or ``csv``, from the extension, else from the first character of the contents."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix == ".csv":
        return "csv"
    if suffix in (".md", ".markdown"):
        raise _bad(path, "markdown leaderboards are for reading; write baselines as .csv or .json")
    if text is not None and text.lstrip().startswith("{"):
        return "json"
    return "csv"


def load_baseline(path: str | Path) -> list[BaselineRow]:
    """Read a baseline leaderboard (CSV or JSON); published rows are skipped.

    Raises:
        InputFileError: missing or unreadable file, wrong columns, non-numeric values, no rows, or
            two rows for one identity (a leaderboard written with ``--all``).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(
            f"baseline {p} not found; create it with `vosbench check --baseline {p} --update`"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise _bad(p, f"cannot read ({e})") from None
    fmt = baseline_format(p, text)
    rows = _read_json_baseline(p, text) if fmt == "json" else _read_csv_baseline(p, text)
    if not rows:
        raise _bad(p, "no run rows")
    if not any(r.metrics for r in rows):  # a check that compares nothing could never fail
        raise _bad(
            p,
            f"no metric values in its {len(rows)} run row(s) (blank cells or no metric columns; metric columns are "
            f"{', '.join(METRIC_BY_KEY)}); a check would compare nothing. Rewrite it with `vosbench check --update`",
        )
    seen: dict[tuple[str, ...], BaselineRow] = {}
    for r in rows:
        if r.key in seen:
            raise _bad(
                p,
                f"two rows for {r.describe()} (lines/rows {seen[r.key].line} and {r.line}); "
                "a baseline holds the latest run per row, so write it without --all",
            )
        seen[r.key] = r
    return rows


# --- comparing ------------------------------------------------------------------------------------


def pair_rows(
    baseline: Iterable[BaselineRow], current: Iterable[Row]
) -> tuple[list[tuple[BaselineRow, Row]], list[BaselineRow], list[Row]]:
    """Match baseline rows with the current run rows of the same identity: the pairs, the baseline
    rows without a run, and the run rows the baseline does not have.

    Raises:
        InputFileError: a baseline cell is blank for a metric its run reports (the check would
            silently skip that metric).
    """
    current_by_key = {r.key: r for r in current if r.kind == "run"}
    pairs: list[tuple[BaselineRow, Row]] = []
    missing: list[BaselineRow] = []
    for b in baseline:
        row = current_by_key.get(b.key)
        if row is None:
            missing.append(b)
        else:
            pairs.append((b, row))
    for b, row in pairs:
        reported = [m for m in b.blank if not math.isnan(row.metrics.get(m, math.nan))]
        if reported:
            raise InputFileError(
                f"{b.where}: {reported[0]} is blank, but the run {row.describe()} reports it, so the check would "
                "skip it; fill in the value, or rewrite the baseline with `vosbench check --update`"
            )
    matched = {b.key for b, _ in pairs}
    return pairs, missing, [r for k, r in current_by_key.items() if k not in matched]


def current_value(b: BaselineRow, row: Row, metric: str) -> float | None:
    """The run's value of ``metric`` rounded to the baseline's own precision; ``None`` when absent."""
    now = row.metrics.get(metric)
    if now is None or math.isnan(now):
        return None
    return round(now, b.decimals.get(metric, 12))


def compare(
    baseline: Iterable[BaselineRow], current: Iterable[Row], tolerance: float = 0.5, *, both_ways: bool = False
) -> CheckResult:
    """Compare baseline rows with current leaderboard rows (both in percent).

    Args:
        baseline: Rows from :func:`load_baseline`.
        current: Run rows (latest per identity) from :func:`vosbench.results.leaderboard.build`.
        tolerance: Allowed change in points.
        both_ways: Also fail when a metric improves by more than ``tolerance``.
    """
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise ConfigError(f"--tolerance must be a non-negative number of points, got {tolerance}")
    pairs, missing, extra = pair_rows(baseline, current)
    comparisons: list[Comparison] = []
    for b, row in pairs:
        for metric, base in b.metrics.items():
            now = current_value(b, row, metric)
            if now is None:
                comparisons.append(Comparison(b, metric, base, None, "missing"))
                continue
            change = now - base
            worse = -change if METRIC_BY_KEY[metric].higher_is_better else change
            if worse > tolerance + _EPS:
                status = "fail"
            elif both_ways and -worse > tolerance + _EPS:
                status = "changed"
            else:
                status = "pass"
            comparisons.append(Comparison(b, metric, base, now, status))
    return CheckResult(comparisons=comparisons, missing=missing, extra=extra, tolerance=tolerance, both_ways=both_ways)


RunsFolders = Union[str, Path, Sequence[Union[str, Path]]]


def find_runs(runs_dir: RunsFolders) -> list[RunRecord]:
    """The finished run records under one runs folder, or under each of several."""
    folders = [runs_dir] if isinstance(runs_dir, (str, Path)) else list(runs_dir)
    return [r for folder in folders for r in find_records(folder)]


def folders_label(runs_dir: RunsFolders) -> str:
    """``runs`` or ``runs and results/runs``, for messages."""
    return str(runs_dir) if isinstance(runs_dir, (str, Path)) else " and ".join(map(str, runs_dir))


def run_check(
    baseline_path: str | Path, runs_dir: RunsFolders, tolerance: float = 0.5, *, both_ways: bool = False
) -> CheckResult:
    """Load the baseline and the latest run records under ``runs_dir`` (one folder or several)
    and compare them."""
    baseline = load_baseline(baseline_path)
    records = find_runs(runs_dir)
    board = build(records)
    result = compare(baseline, board.rows, tolerance, both_ways=both_ways)
    result.baseline_path = Path(baseline_path)
    if not result.comparisons and not result.missing:
        raise InputFileError(
            f"{baseline_path}: no metric of the baseline could be compared with the runs under {folders_label(runs_dir)}; "
            "a check that compares nothing cannot pass. Check the baseline's metric columns and --runs"
        )
    if not records:
        result.notes.append(f"no run records under {folders_label(runs_dir)}")
    return result


def baseline_text(records: Iterable[RunRecord], fmt: str) -> str:
    """The baseline file contents for ``records`` (latest run per row; no published rows)."""
    board = build(list(records))
    return to_json(board) if fmt == "json" else to_csv(board)


def update_baseline(baseline_path: str | Path, runs_dir: RunsFolders) -> tuple[Path, int, list[BaselineRow]]:
    """Rewrite the baseline from the latest runs.

    Returns:
        The path written, the number of rows, and the rows of the old baseline (if any, and
        readable) that no run covers any more, so the caller can say what was dropped.

    Raises:
        InputFileError: no run records to write.
    """
    from vosbench.core.io import atomic_write_text

    p = Path(baseline_path)
    records = find_runs(runs_dir)
    if not records:
        raise InputFileError(f"no run records under {folders_label(runs_dir)}; nothing to write to {p}")
    fmt = baseline_format(p)
    text = baseline_text(records, fmt)
    dropped: list[BaselineRow] = []
    if p.is_file():
        try:
            old = load_baseline(p)
        except InputFileError:
            old = []
        new_keys = {r.key for r in build(records).rows}
        dropped = [r for r in old if r.key not in new_keys]
    atomic_write_text(p, text)
    return p, len(build(records).rows), dropped
