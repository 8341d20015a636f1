"""The tables ``vosbench eval`` prints, one layout per benchmark (percent with one decimal; the files
written with ``--out`` hold fractions at full precision)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vosbench.cli.tables import pct
from vosbench.evaluate.base import Evaluation, MetricValue, ProgressHook
from vosbench.evaluate.davis import EvaluationResult
from vosbench.evaluate.badja import BadjaEvaluation
from vosbench.evaluate.jhmdb import JHMDBEvaluation
from vosbench.evaluate.tapvid import TapVidEvaluation
from vosbench.evaluate.vip import VIPEvaluation
from vosbench.evaluate.ytvos import YTVOSEvaluation
from vosbench.scoring.jf import METRIC_KEYS
from vosbench.scoring.parsing import CLASSES, scores_of
from vosbench.scoring.pck import HEADLINE, PCKResult, threshold_key

#: what ``--out`` saves, by benchmark (for the "Nothing written" hint)
SAVED = {
    "davis": "per-object scores",
    "ytvos": "per-object scores",
    "jhmdb": "per-video and per-joint PCK",
    "badja": "per-video and per-joint PCK",
    "vip": "per-video and per-class IoU and the confusion matrices",
    "tapvid": "per-video TAP-Vid metrics",
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
    elif isinstance(ev.detail, VIPEvaluation):
        _show_vip(console, ev, ev.detail)
    elif isinstance(ev.detail, TapVidEvaluation):
        _show_tapvid(console, ev, ev.detail)


def _show_tapvid(console: Console, ev: Evaluation[object], r: TapVidEvaluation) -> None:
    keys = ("average_jaccard", "average_pts_within_thresh", "occlusion_accuracy")
    table = Table(title=f"TAP-Vid ({r.query_mode}, %)  {ev.pred}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("video", "queries", "AJ", "<δ_avg", "OA"):
        table.add_column(col, justify="right" if col != "video" else "left")
    for s in r.scores:
        table.add_row(s.video, str(s.queries), *(pct(s.metrics[k]) for k in keys))
    table.add_section()
    table.add_row("[bold]mean", "", *(f"[bold]{pct(ev.metrics.get(k))}" for k in keys))  # type: ignore[arg-type]
    console.print(table)


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


def _show_vip(console: Console, ev: Evaluation[object], res: VIPEvaluation) -> None:
    m = ev.metrics
    keys = ("mIoU", "pixel_accuracy", "mean_accuracy", "fwIoU")
    ct = Table(title=f"VIP IoU per class (%)  {ev.pred}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("class", "IoU", "accuracy"):
        ct.add_column(col, justify="left" if col == "class" else "right")
    s = scores_of(np.sum(list(res.hists.values()), axis=0))
    for c, name in enumerate(CLASSES):
        ct.add_row(f"{c} {name}", pct(float(s.class_iou[c])), pct(float(s.class_accuracy[c])))
    console.print(ct)
    vt = Table(title="per video (%)", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("video", "frames", "mIoU", "pixel acc.", "mean acc.", "FW IoU"):
        vt.add_column(col, justify="left" if col == "video" else "right")
    for video, hist in res.hists.items():
        v = scores_of(hist)
        vt.add_row(video, str(res.frames[video]), *(pct(x) for x in (v.mIoU, v.pixel_accuracy, v.mean_accuracy, v.fwIoU)))
    vt.add_section()
    vt.add_row("all", str(sum(res.frames.values())), *(_pct(m[k]) for k in keys))
    console.print(vt)
    console.print(
        f"mIoU [bold]{_pct(m['mIoU'])}[/bold]  pixel acc. {_pct(m['pixel_accuracy'])}  mean acc. "
        f"{_pct(m['mean_accuracy'])}  FW IoU {_pct(m['fwIoU'])}  ({sum(res.frames.values())} frames of "
        f"{len(res.frames)} videos, scorer {res.scorer}, {ev.seconds:.2f} s)"
    )
    if res.unpredicted:
        console.print(f"[yellow]{res.unpredicted} ground-truth frame(s) without a prediction were not scored "
                      "(as the official scripts skip them)[/yellow]")
