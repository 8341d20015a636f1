"""Filters of ``vosbench check`` (``--dataset``, ``--model``, ``--only-run``): check a partial set
of runs (one model, one dataset, the run just made) against a full baseline without the rest of
the baseline counting as "rows without a run"."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from vosbench.core.errors import ConfigError
from vosbench.results.check import CheckResult
from vosbench.records.reader import load_record
from vosbench.records.labels import identity


def _model_matches(label: str, names: Sequence[str]) -> bool:
    # a model label is the name, maybe followed by its options: "resnet18 (seed=1)"
    return any(label == n or label.startswith(f"{n} ") for n in names)


def filter_result(
    result: CheckResult,
    datasets: Sequence[str] = (),
    models: Sequence[str] = (),
    only_runs: Sequence[str | Path] = (),
) -> CheckResult:
    """Keep only the baseline rows (and unmatched runs) selected by every given filter.

    Args:
        result: The full check.
        datasets: Dataset names to keep (any of them).
        models: Model names to keep (any of them).
        only_runs: Run folders: keep only the baseline rows with the identity of one of these runs
            (dataset, model, checkpoint, protocol, settings, sequences).

    Raises:
        ConfigError: the filters leave no baseline row to check (the message names them).
    """
    if not (datasets or models or only_runs):
        return result
    keys = {identity(load_record(r)) for r in only_runs}

    def keep(key: tuple[str, ...]) -> bool:
        return (
            (not datasets or key[0] in datasets)
            and (not models or _model_matches(key[1], models))
            and (not keys or tuple(key) in keys)
        )

    out = dataclasses.replace(
        result,
        comparisons=[c for c in result.comparisons if keep(c.row.key)],
        missing=[b for b in result.missing if keep(b.key)],
        extra=[r for r in result.extra if keep(r.key)],
        notes=list(result.notes),
    )
    if not out.comparisons and not out.missing:
        what = "; ".join(
            f"{flag} {', '.join(map(str, vals))}"
            for flag, vals in (("--dataset", datasets), ("--model", models), ("--only-run", only_runs))
            if vals
        )
        unmatched = "; ".join(r.describe() for r in out.extra) if out.extra else ""
        raise ConfigError(
            f"no baseline row matches {what}, so nothing would be checked"
            + (f" (runs selected but not in the baseline: {unmatched})" if unmatched else "")
            + "; check the names against the baseline file, or add the run to it with --update"
        )
    skipped = len(result.missing) - len(out.missing) + len({c.row.key for c in result.comparisons}) - len(
        {c.row.key for c in out.comparisons}
    )
    if skipped:
        out.notes.append(f"{skipped} baseline row(s) outside the filter were not checked")
    return out
