"""``vosbench leaderboard``: tables of run records, as papers print them."""

from __future__ import annotations

from pathlib import Path

import click

from vosbench.cli.runs_folder import runs_folder_records, runs_option
from vosbench.core.names import comma_list

EXAMPLES = """
\b
Examples:
  vosbench leaderboard                                   # latest run per model/checkpoint/protocol/dataset
  vosbench leaderboard --dataset davis17-val --with-published
  vosbench leaderboard --format csv --out baselines/leaderboard.csv
  vosbench leaderboard --per-sequence --dataset davis16-val
  vosbench leaderboard --all --metric J_mean --runs my_runs
  vosbench leaderboard --ci --significance              # 95% intervals, rows indistinguishable from the best
  vosbench leaderboard --format html --out site         # a web page: site/index.html
"""


@click.command("leaderboard", epilog=EXAMPLES)
@runs_option("Runs folder (the --out of `vosbench run`).")
@click.option("--dataset", "datasets", multiple=True, metavar="NAME",
              help="Only these datasets (repeatable or comma-separated), in this order.")
@click.option("--metric", default="auto", show_default=True,
              help="Sort column: JF_mean, J_mean, F_mean, overall, PCK@0.1, ... ('auto' = each table's main metric).")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json", "html"]), default=None,
              help="Output format [default: from --out's extension, else md]; html writes OUT/index.html, "
                   "a self-contained page (sortable, with 95% interval whiskers unless --ci gives a level).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write to this file instead of printing (html: this folder).")
@click.option("--all", "all_runs", is_flag=True, help="One row per run instead of the latest run per row.")
@click.option("--with-published", is_flag=True, help="Add published reference numbers (marked as such).")
@click.option("--per-sequence", is_flag=True, help="J&F per sequence of one dataset, one column per model.")
@click.option("--decimals", type=click.IntRange(0, 6), default=None,
              help="Decimals of the percent values [default: 1 for md, 3 for csv/json].")
@click.option("--ci", "ci_level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              is_flag=False, flag_value=0.95, metavar="[LEVEL]",
              help="Bootstrap confidence intervals over sequences (default level 0.95): '± half-width' in md, "
                   "<metric>_ci_low/_ci_high columns in csv/json.")
@click.option("--ci-style", type=click.Choice(["pm", "interval"]), default="pm", show_default=True,
              help="Markdown intervals as '67.4 ± 2.1' (pm) or '[65.3, 69.5]' (interval).")
@click.option("--ci-method", type=click.Choice(["percentile", "bca"]), default="percentile", show_default=True,
              help="Bootstrap interval method.")
@click.option("--significance", is_flag=True,
              help="Mark rows statistically indistinguishable from the best (paired test on shared sequences).")
def leaderboard(
    runs: Path | None,
    datasets: tuple[str, ...],
    metric: str,
    fmt: str | None,
    out: Path | None,
    all_runs: bool,
    with_published: bool,
    per_sequence: bool,
    decimals: int | None,
    ci_level: float | None,
    ci_style: str,
    ci_method: str,
    significance: bool,
) -> None:
    """Leaderboard of the run records under RUNS: one row per (model, checkpoint, protocol,
    dataset), percent values, best run value per column in bold (markdown), sorted by METRIC.
    Rows that differ in any protocol setting are never merged; the footnote lists each
    protocol's settings."""
    from vosbench.results import leaderboard as lb
    from vosbench.core.errors import ConfigError
    from vosbench.core.io import atomic_write_text

    names = [n for d in datasets for n in comma_list(d)]
    if fmt is None:
        fmt = {".csv": "csv", ".json": "json"}.get(out.suffix.lower(), "md") if out else "md"
    if fmt == "html":
        if out is None:
            raise ConfigError("--format html writes a folder: give it with --out DIR")
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file; --format html writes a folder (DIR/index.html)")
        if per_sequence:
            raise ConfigError("--per-sequence is for md, csv and json; the html page has a per-sequence view per row")
        ci_level = 0.95 if ci_level is None else ci_level
    elif out is not None and out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name (only --format html writes a folder)")
    records, unfinished = runs_folder_records(runs)
    if per_sequence:
        if len(names) > 1:
            raise ConfigError("--per-sequence shows one dataset; give a single --dataset")
        from vosbench.results import per_sequence as ps

        view = ps.build_per_sequence(records, names[0] if names else None, all_runs=all_runs)
        text = ps.render_per_sequence(view, fmt, decimals)
    else:
        board = lb.build(records, datasets=names or None, metric=metric, all_runs=all_runs,
                         with_published=with_published)
        if ci_level is not None or significance:
            from vosbench.results import leaderboard_stats as lbs

            if ci_level is not None:
                lbs.attach_intervals(board, records, level=ci_level, method=ci_method, style=ci_style)
            if significance:
                lbs.attach_significance(board, records)
        if fmt == "html":
            from vosbench.results.leaderboard_html import write_html

            assert out is not None  # checked above
            page = write_html(board, records, out, 1 if decimals is None else decimals, ci_level)
            _unfinished_notes(unfinished)
            click.echo(f"wrote {page}", err=True)
            return
        text = lb.render(board, fmt, decimals)
        if fmt == "csv":  # markdown and JSON carry the notes; a CSV has no place for them
            for note in board.notes:
                click.echo(f"note: {note}", err=True)
    _unfinished_notes(unfinished)
    if out is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(out, text)
        click.echo(f"wrote {out}", err=True)


def _unfinished_notes(unfinished: list[str]) -> None:
    if unfinished:
        click.echo(f"note: {len(unfinished)} unfinished run(s) left out:", err=True)
        for line in unfinished:
            click.echo(f"  {line}", err=True)
