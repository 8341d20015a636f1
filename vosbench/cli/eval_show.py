"""The tables ``vosbench eval`` prints, one layout per benchmark (percent with one decimal; the files
written with ``--out`` hold fractions at full precision)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vosbench.cli.tables import pct
from vosbench.evaluate.base import Evaluation, MetricValue, ProgressHook
from vosbench.evaluate.davis import EvaluationResult
from vosbench.evaluate.badja import BadjaEvaluation
from vosbench.evaluate.jhmdb import JHMDBEvaluation
from vosbench.evaluate.ytvos import YTVOSEvaluation
from vosbench.scoring.jf import METRIC_KEYS
from vosbench.scoring.pck import HEADLINE, PCKResult, threshold_key

#: what ``--out`` saves, by benchmark (for the "Nothing written" hint)
SAVED = {
    "davis": "per-object scores",
    "ytvos": "per-object scores",
    "jhmdb": "per-video and per-joint PCK",
    "badja": "per-video and per-joint PCK",
}


def _pct(v: MetricValue) -> str:
    return "-" if isinstance(v, Mapping) else pct(None if v is None else float(v))


@contextmanager
def scoring_progress() -> Iterator[ProgressHook]:
    """A transient progress bar on stderr when it is a terminal (nothing otherwise)."""
    err = Console(stderr=True)
    with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("scoring", total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def show(console: Console, ev: Evaluation[object]) -> None:
    """Print the evaluation's tables and headline."""
    if isinstance(ev.detail, EvaluationResult):
        _show_davis(console, ev)
    elif isinstance(ev.detail, YTVOSEvaluation):
        _show_ytvos(console, ev, ev.detail)
    elif isinstance(ev.detail, (JHMDBEvaluation, BadjaEvaluation)):
        _show_jhmdb(console, ev, ev.detail.result)


def _show_davis(console: Console, ev: Evaluation[object]) -> None:
    # two-line headers and no vertical rules keep the table within 80 columns
    table = Table(title=f"J&F (%)  {ev.pred}", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("sequence", no_wrap=True)
    table.add_column("obj", justify="right")
    for col in ("J&F\nMean", "J\nMean", "J\nRecall", "J\nDecay", "F\nMean", "F\nRecall", "F\nDecay"):
        table.add_column(col, justify="right", no_wrap=True)
    for s in ev.scores:
        jf = (s.J_mean + s.F_mean) / 2
        table.add_row(s.sequence, str(s.object), pct(jf), *(pct(getattr(s, k)) for k in METRIC_KEYS))
    table.add_section()
    m = ev.metrics
    table.add_row("[bold]overall[/bold]", str(len(ev.scores)), *(f"[bold]{_pct(m[k])}[/bold]" for k in m))
    console.print(table)
    console.print(
        f"J&F-Mean [bold]{_pct(m['JF_mean'])}[/bold]  J-Mean {_pct(m['J_mean'])}  "
        f"F-Mean {_pct(m['F_mean'])}  ({len(ev.scores)} objects, {len(ev.sequences)} sequences, "
        f"{ev.seconds:.2f} s)"
    )
    short = [s for s, n in ev.sequences.items() if n < 3]
    if short:
        console.print(f"[yellow]not scored (fewer than 3 frames): {', '.join(short)}[/yellow]")


def _show_ytvos(console: Console, ev: Evaluation[object], res: YTVOSEvaluation) -> None:
    m = ev.metrics
    table = Table(title=f"YouTube-VOS J/F (%)  {ev.pred}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("video", "obj", "category", "group"):
        table.add_column(col, no_wrap=True, justify="right" if col == "obj" else "left")
    # means only, as YouTube-VOS reports them (recall and decay are in the CSV)
    for col in ("J&F", "J-Mean", "F-Mean"):
        table.add_column(col, justify="right", no_wrap=True)
    for s in ev.scores:
        table.add_row(s.sequence, str(s.object), str(res.categories.get((s.sequence, s.object)) or "-"),
                      res.group(s.sequence, s.object) or "-", pct((s.J_mean + s.F_mean) / 2),
                      pct(s.J_mean), pct(s.F_mean))
    table.add_section()
    # the mean over all objects, named so that it is not mistaken for YouTube-VOS "overall"
    table.add_row("all objects", str(len(ev.scores)), "", "", *(_pct(m.get(k)) for k in ("JF_mean", "J_mean", "F_mean")))
    console.print(table)
    if "overall" in m:
        console.print(
            f"YouTube-VOS overall [bold]{_pct(m['overall'])}[/bold]  J seen {_pct(m['J_seen'])}  "
            f"F seen {_pct(m['F_seen'])}  J unseen {_pct(m['J_unseen'])}  F unseen {_pct(m['F_unseen'])}  "
            f"({len(ev.scores)} objects, {len(ev.sequences)} videos, {ev.seconds:.2f} s; categories: "
            f"{res.category_source})"
        )
    else:
        console.print(
            f"[yellow]no category information (no --unseen file, no unseen_categories.txt, no train/meta.json "
            f"beside {res.meta.parent}): no seen/unseen split and no YouTube-VOS overall[/yellow]  J&F over all "
            f"objects {_pct(m['JF_mean'])} ({len(ev.scores)} objects, {len(ev.sequences)} videos)"
        )


def _show_jhmdb(console: Console, ev: Evaluation[object], r: PCKResult) -> None:
    m = ev.metrics
    keys = [threshold_key(a) for a in HEADLINE]
    jt = Table(title=f"{ev.benchmark.upper()} PCK per joint (%)  {ev.pred}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("joint", "n", *(f"PCK@{k}" for k in keys)):
        jt.add_column(col, justify="left" if col == "joint" else "right")
    pj = r.per_joint()
    for j, name in enumerate(r.joints):
        jt.add_row(name, str(int(r.counts[j])), *(pct(float(pj[r.at(a), j])) for a in HEADLINE))
    console.print(jt)
    vt = Table(title="PCK per video (%)", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("video", "n", *(f"PCK@{k}" for k in keys)):
        vt.add_column(col, justify="left" if col == "video" else "right")
    for video, (hits, counts) in r.per_video.items():
        mean = PCKResult(r.thresholds, r.joints, hits, counts, headline=r.headline).reported()
        vt.add_row(video, str(int(counts.sum())), *(pct(float(mean[r.at(a)])) for a in HEADLINE))
    vt.add_section()
    vt.add_row("all", str(int(r.counts.sum())), *(_pct(m[f"PCK@{k}"]) for k in keys))
    console.print(vt)
    curve = m["pck_curve"]
    assert isinstance(curve, dict)
    console.print("PCK curve: " + "  ".join(f"@{k} {pct(v)}" for k, v in curve.items()))
    where = f"split {ev.facts['split']} {ev.facts['subset']}, " if "split" in ev.facts else ""
    console.print(
        f"PCK@0.1 [bold]{_pct(m['PCK@0.1'])}[/bold]  PCK@0.2 [bold]{_pct(m['PCK@0.2'])}[/bold]  "
        f"(pooled {_pct(m['PCK_pooled@0.1'])} / {_pct(m['PCK_pooled@0.2'])}; {len(ev.sequences)} videos, "
        f"{where}{ev.seconds:.2f} s)"
    )
