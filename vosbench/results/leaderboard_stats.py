"""Opt-in statistics on a built leaderboard: confidence intervals per row
(``vosbench leaderboard --ci``) and which rows are indistinguishable from the best
(``--significance``). Both read the rows' per-sequence files; see :mod:`vosbench.records.stats`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

from vosbench.results.compare import PairComparison, apply_holm, compare_pair
from vosbench.core.errors import ConfigError, VosbenchError
from vosbench.results.rows import Leaderboard, Row
from vosbench.records.reader import RunRecord
from vosbench.records.stats import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, Clustered, bootstrap_intervals
from vosbench.records.stats_io import load_clustered


def _data_by_run(board: Leaderboard, records: Iterable[RunRecord]) -> tuple[dict[Path, Clustered], list[str]]:
    """Per-sequence data of every run row, keyed by run folder (two runs of different models may
    share a run id), and one note per run whose files cannot be read."""
    by_folder = {r.run_dir.resolve(): r for r in records}
    data: dict[Path, Clustered] = {}
    notes = []
    for row in board.rows:
        folder = _folder(row)
        if folder is None or folder in data or folder not in by_folder:
            continue
        try:
            data[folder] = load_clustered(by_folder[folder])
        except VosbenchError as e:
            notes.append(f"no interval or test for {row.describe()}: {e}")
    return data, notes


def _folder(row: Row) -> Path | None:
    """The run folder of a run row (its identity); ``None`` for published rows."""
    return row.run_dir.resolve() if row.kind == "run" and row.run_dir is not None else None


def _row_data(data: dict[Path, Clustered], row: Row) -> Clustered | None:
    folder = _folder(row)
    return None if folder is None else data.get(folder)


def attach_intervals(
    board: Leaderboard,
    records: Iterable[RunRecord],
    *,
    level: float = DEFAULT_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    method: str = "percentile",
    style: str = "pm",
) -> None:
    """Give every run row of ``board`` the bootstrap interval (percent) of each of its metrics that
    per-sequence data supports, and a note saying how they were made.

    Args:
        style: How markdown shows them: ``pm`` (``67.4 ± 2.1``) or ``interval`` (``[65.3, 69.5]``).
    """
    if style not in ("pm", "interval"):
        raise ConfigError(f"unknown interval style {style!r}; choose pm or interval")
    data, notes = _data_by_run(board, records)
    for row in board.rows:
        d = _row_data(data, row)
        if d is None:
            continue
        keys = [k for k in d.keys if k in row.metrics]
        found = bootstrap_intervals(d, keys, level=level, n_resamples=n_resamples, seed=seed, method=method)
        row.ci = {k: (100.0 * iv.low, 100.0 * iv.high) for k, iv in found.items() if math.isfinite(iv.low)}
    board.ci_format = style
    shown = "± half the width of" if style == "pm" else "bounds of"
    board.notes.append(
        f"Intervals ({shown} the {100 * level:g}% {method} bootstrap interval, {n_resamples} resamples, seed {seed}): "
        "sequences are resampled with all their objects (JHMDB: videos), so objects of one video are not "
        "counted as independent. YouTube-VOS overall and seen/unseen need the run's unseen-object list, "
        "which runs record since vosbench writes intervals into summary.json."
    )
    board.notes.extend(notes)


def attach_significance(
    board: Leaderboard,
    records: Iterable[RunRecord],
    *,
    alpha: float = 0.05,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> None:
    """Mark each run row by a paired test against its table's top run row (on the sequences both
    have, for the table's sort metric): ``best``, ``≈ best (p=…)`` when not significantly worse at
    ``alpha``, ``worse (p=…)`` when it is. p-values are from the sign-flip test, Holm-corrected over
    the rows of one table."""
    if not (0.0 < alpha < 1.0):
        raise ConfigError(f"--alpha must be between 0 and 1, got {alpha}")
    data, notes = _data_by_run(board, records)
    for table in board.tables:
        runs = [r for r in table.rows if r.kind == "run"]
        if len(runs) < 2:
            continue
        top = runs[0]
        top_data = _row_data(data, top)
        if top_data is None or table.metric not in top_data.keys:
            notes.append(f"{table.dataset}: the top row has no per-sequence {table.metric}; no significance marks")
            continue
        top.significance = "best"
        tested: list[tuple[Row, PairComparison]] = []
        for row in runs[1:]:
            d = _row_data(data, row)
            if d is None or table.metric not in d.keys:
                row.significance = "-"
                continue
            try:
                pair = compare_pair(top_data, d, table.metric, labels=(top.describe(), row.describe()),
                                    n_resamples=n_resamples, seed=seed)
            except ConfigError as e:
                row.significance = "-"
                notes.append(f"{row.describe()}: not tested ({e})")
                continue
            tested.append((row, pair))
        apply_holm([p for _, p in tested])
        for row, pair in tested:
            p = pair.p_sign_flip_holm
            row.significance = f"≈ best (p={p:.2g})" if p >= alpha else f"worse (p={p:.2g})"
    board.significance = True
    board.notes.append(
        f"vs best: paired sign-flip test of each row against the table's top row on the sequences both have "
        f"(Holm-corrected over the table's rows); ≈ best = not significantly worse at {100 * alpha:g} %."
    )
    board.notes.extend(notes)
