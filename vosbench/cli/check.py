"""``vosbench check``: fail when scores drop below a committed baseline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vosbench.cli.runs_folder import runs_folders, runs_option

if TYPE_CHECKING:
    from rich.console import Console

    from vosbench.results.check import CheckResult

VERDICTS = {"pass": "[green]pass[/green]", "fail": "[red]FAIL[/red]", "changed": "[yellow]FAIL (improved)[/yellow]",
            "missing": "[red]FAIL (not reported)[/red]"}

EXAMPLES = """
\b
Examples:
  vosbench check --baseline baselines/baseline.csv              # exit 1 if any metric dropped > 0.5 points
  vosbench check --baseline baselines/baseline.json --tolerance 0.1 --runs ci_runs
  vosbench check --baseline baselines/baseline.csv --both-ways  # any move beyond the tolerance fails
  vosbench check --baseline baselines/baseline.csv --update     # accept the current numbers on purpose
  vosbench check --baseline ci_baseline.csv --tolerance ci      # fail only below the baseline's CI lower bound
  vosbench check --baseline baselines/baseline.csv --model lab --dataset synthetic-davis   # only what was run
  vosbench check --baseline baselines/baseline.csv --only-run runs/synthetic-davis/lab/RUN_ID
"""


@click.command("check", epilog=EXAMPLES)
@click.option("--baseline", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Baseline leaderboard (.csv or .json, as written by `vosbench leaderboard`).")
@click.option("--tolerance", default="0.5", show_default=True,
              help="Allowed change in points (percent), or 'ci': fail only when a score falls below the baseline's "
                   "confidence interval (its <metric>_ci_low column, from `vosbench leaderboard --ci`).")
@runs_option("Runs folder holding the new run records.")
@click.option("--both-ways", is_flag=True, help="Also fail when a metric improves by more than the tolerance.")
@click.option("--update", is_flag=True, help="Rewrite the baseline from the latest runs instead of checking.")
@click.option("--dataset", "datasets", multiple=True, help="Check only the baseline rows of this dataset (repeatable).")
@click.option("--model", "models", multiple=True, help="Check only the baseline rows of this model (repeatable).")
@click.option("--only-run", "only_runs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Check only the baseline rows matching this run folder (repeatable): a partial set of runs "
                   "against the full baseline.")
def check(baseline: Path, tolerance: str, runs: Path | None, both_ways: bool, update: bool,
          datasets: tuple[str, ...] = (), models: tuple[str, ...] = (), only_runs: tuple[Path, ...] = ()) -> None:
    """Compare the latest run per (model, checkpoint, protocol, dataset) under RUNS with BASELINE.
    Exit 0 when every metric is within the tolerance, 1 when one got worse by more (or a baseline
    row has no run), 2 on malformed input. Runs the baseline does not know are listed, not failed."""
    from rich.console import Console
    from rich.markup import escape

    from vosbench.results.check import folders_label, update_baseline

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(width=160, highlight=False)
    folders = runs_folders(runs)
    if update:
        path, n, dropped = update_baseline(baseline, folders)
        console.print(escape(f"wrote {path}: {n} row(s) from the latest runs under {folders_label(folders)}"),
                      soft_wrap=True)
        for r in dropped:
            console.print(f"dropped (no run any more): {escape(r.describe())}", soft_wrap=True)
        return
    result, limit = _compare(baseline, tolerance, folders, both_ways)
    if datasets or models or only_runs:
        from vosbench.results.check_filter import filter_result

        result = filter_result(result, datasets, models, only_runs)
    _print(console, result, f"vosbench check against {baseline} ({limit})")
    sys.exit(result.exit_code)


def _compare(baseline: Path, tolerance: str, runs: list[Path], both_ways: bool) -> tuple[CheckResult, str]:
    """The check against a number of points or (``ci``) the baseline's intervals, and its limit in words."""
    if tolerance.strip().lower() == "ci":
        from vosbench.results.check_ci import run_ci_check

        return run_ci_check(baseline, runs, both_ways=both_ways), "the baseline's confidence intervals"
    from vosbench.core.errors import ConfigError
    from vosbench.results.check import run_check

    try:
        points = float(tolerance)
    except ValueError:
        raise ConfigError(f"--tolerance must be a number of points or 'ci', got {tolerance!r}") from None
    return run_check(baseline, runs, points, both_ways=both_ways), f"tolerance {points:g} points"


def _print(console: Console, result: CheckResult, title: str) -> None:
    """The table of compared metrics and rows without a run, the notes, the extra runs, the verdict."""
    from rich.markup import escape
    from rich.table import Table

    # Tell apart rows whose protocols share a name and version but differ in settings.
    variants: dict[str, list[str]] = {}
    for key in [c.row.key for c in result.comparisons] + [b.key for b in result.missing]:
        if key[4] not in variants.setdefault(key[3], []):
            variants[key[3]].append(key[4])

    def cells(key: tuple[str, ...]) -> list[str]:
        ds, model, ck, name, settings, seqs = key
        v = variants.get(name, [])
        proto = name if len(v) <= 1 else f"{name} #{v.index(settings) + 1}"
        return [escape(ds), escape(seqs or "-"), escape(model), escape(ck), escape(proto)]

    table = Table(title=escape(title))
    for col in ("dataset", "sequences", "model", "checkpoint", "protocol", "metric", "baseline", "now", "delta",
                "result"):
        table.add_column(col, justify="right" if col in ("baseline", "now", "delta") else "left")
    for c in result.comparisons:
        now = "-" if c.now is None else f"{c.now:.3f}"
        delta = "-" if c.delta is None else f"{0.0 if abs(c.delta) < 5e-4 else c.delta:+.3f}"
        table.add_row(*cells(c.row.key), c.metric, f"{c.baseline:.3f}", now, delta, VERDICTS[c.status])
    for b in result.missing:
        table.add_row(*cells(b.key), "-", "-", "-", "-", "[red]FAIL (no run)[/red]")
    console.print(table)
    for name, settings in variants.items():
        if len(settings) > 1:
            for i, s in enumerate(settings, start=1):
                console.print(escape(f"{name} #{i}: {s}"), soft_wrap=True)
    for note in result.notes:
        console.print(f"note: {escape(note)}", soft_wrap=True)
    if result.extra:
        console.print("not in the baseline (reported, not checked):")
        for extra in result.extra:
            console.print(f"  {escape(extra.describe())}", soft_wrap=True)
    colour = "green" if result.passed else "red"
    console.print(f"[{colour}]{escape(result.verdict())}[/{colour}]", soft_wrap=True)
