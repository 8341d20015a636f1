"""``vosbench compare``: is one run significantly better than another?"""

from __future__ import annotations

from pathlib import Path

import click

EXAMPLES = """
\b
Examples:
  vosbench compare runs/davis17-val/crw/RUN_A runs/davis17-val/dino-vits16/RUN_B
  vosbench compare RUN_A RUN_B RUN_C                   # all pairs, Holm-corrected p-values
  vosbench compare RUN_A RUN_B --metric J_mean --ci 0.9 --format json --out cmp.json
"""


@click.command("compare", epilog=EXAMPLES)
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--metric", default="auto", show_default=True,
              help="JF_mean, J_mean, F_mean, ... or PCK@0.1, PCK@0.2 ('auto': J&F, or PCK@0.1 for keypoint runs).")
@click.option("--ci", "level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Confidence level of the interval of the difference.")
@click.option("--ci-method", type=click.Choice(["percentile", "bca"]), default="percentile", show_default=True,
              help="Bootstrap interval: percentile, or bias-corrected and accelerated.")
@click.option("--resamples", type=click.IntRange(100), default=10_000, show_default=True,
              help="Bootstrap resamples (and Monte Carlo sign flips when there are too many sequences to enumerate).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the resampling.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True,
              help="Significance level of the verdict.")
@click.option("--strict", is_flag=True, help="Refuse (exit 2) when the protocols or the sequence sets differ.")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default=None,
              help="Output format [default: from --out's extension, else a table].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of printing.")
@click.option("--decimals", type=click.IntRange(0, 6), default=None,
              help="Decimals of the percent values [default: 1 for table/md, 3 for csv/json].")
def compare(
    runs: tuple[Path, ...],
    metric: str,
    level: float,
    ci_method: str,
    resamples: int,
    seed: int,
    alpha: float,
    strict: bool,
    fmt: str | None,
    out: Path | None,
    decimals: int | None,
) -> None:
    """Paired comparison of RUNS (run folders holding summary.json and per_object.csv, or
    per_video_pck.csv for keypoint runs) on the sequences they share: the difference per
    sequence, a bootstrap interval of the difference of the scores (resampling sequences with
    all their objects), a sign-flip permutation test (exact up to 16 sequences) and the Wilcoxon
    signed-rank test, wins per run and the sequences that differ most. Three or more runs: every
    pair, with Holm-corrected p-values. Runs of different protocols or sequence sets are
    compared with a warning naming the difference (--strict refuses)."""
    from vosbench.results import compare as cmp
    from vosbench.core.io import atomic_write_text

    if fmt is None:
        fmt = {".csv": "csv", ".json": "json", ".md": "md"}.get(out.suffix.lower(), "md") if out else "table"
    report = cmp.compare_runs(runs, metric=metric, level=level, n_resamples=resamples, seed=seed,
                              method=ci_method, alpha=alpha, strict=strict)
    if fmt == "table":
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(width=200, highlight=False)
        rows = cmp.summary_rows(report, 1 if decimals is None else decimals)
        table = Table(title=escape(f"vosbench compare: {report.metric} (%)"))
        for head in rows[0]:
            table.add_column(escape(head), justify="left" if head in ("A", "B", "largest differences") else "right")
        for pair, row in zip(report.pairs, rows):
            style = "green" if pair.significant(report.alpha) else ""
            cells = [escape(str(v)) for v in row.values()]
            if style:
                cells[7] = f"[{style}]{cells[7]}[/{style}]"
            table.add_row(*cells)
        text_lines = cmp.explanation(report)
        if out is None:
            console.print(table)
            for line in text_lines:
                console.print(escape(line), soft_wrap=True)
            return
        fmt = "md"  # a table cannot be written to a file; write markdown instead
    text = cmp.render(report, fmt, decimals)
    if out is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(out, text)
        click.echo(f"wrote {out}", err=True)
