"""``vosbench eval --benchmark ytvos|jhmdb``: score YouTube-VOS masks or JHMDB keypoints made by any tool.

Same conventions as the DAVIS mode (``vosbench.cli.eval``): errors are one line naming the file
(exit code 2), tables are in percent, ``--out FILE.csv`` writes fractions at full precision and
``FILE.summary.json`` beside it, nothing is written without ``--out`` and never into the inputs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vosbench.core.errors import ConfigError
from vosbench.core.names import comma_list


def _pct(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * float(v):.1f}"


def _sibling(out_csv: Path, suffix: str) -> Path:
    return out_csv.with_name(out_csv.name.removesuffix(".csv") + suffix)


def eval_other(
    benchmark: str,
    gt_dir: Path,
    pred: Path,
    sequences: str | None,
    workers: int | None,
    out_csv: Path | None,
    per_frame: bool,
    binary: bool | None,
    meta_path: Path | None,
    unseen_file: Path | None,
    jhmdb_split: int | None,
    subset: str | None,
) -> None:
    """Check which options apply to ``benchmark`` and run its evaluation."""
    from vosbench.core.safepath import inside

    applies = {
        "--meta": (meta_path is not None, "ytvos"),
        "--unseen": (unseen_file is not None, "ytvos"),
        "--split": (jhmdb_split is not None, "jhmdb"),
        "--subset": (subset is not None, "jhmdb"),
        "--binary/--no-binary": (binary is not None, "davis"),
        "--workers": (workers is not None, "davis or ytvos"),
        "--per-frame": (per_frame and benchmark == "jhmdb", "davis or ytvos"),
    }
    for opt, (given, where) in applies.items():
        if given and benchmark not in where:
            raise ConfigError(f"{opt} applies to --benchmark {where}, not {benchmark}")
    if per_frame and out_csv is None:
        raise ConfigError("--per-frame needs --out FILE.csv (the per-frame file is written beside it)")
    if out_csv is not None:
        for folder, what in ((gt_dir, "GT"), (pred, "prediction")):
            if folder.is_dir() and inside(folder, out_csv):
                raise ConfigError(f"--out {out_csv} lies inside the {what} folder {folder}; vosbench never writes "
                                  "there. Choose a path elsewhere.")
    seqs = comma_list(sequences) if sequences else None
    if benchmark == "ytvos":
        if meta_path is None:
            raise ConfigError("--benchmark ytvos needs --meta <split>/meta.json (the frames and first appearances)")
        _eval_ytvos(gt_dir, pred, meta_path, unseen_file, seqs, out_csv, per_frame, workers)
    else:
        _eval_jhmdb(gt_dir, pred, jhmdb_split or 1, subset or "test", seqs, out_csv)


def _eval_ytvos(
    gt_dir: Path,
    pred: Path,
    meta_path: Path,
    unseen_file: Path | None,
    seqs: list[str] | None,
    out_csv: Path | None,
    per_frame: bool,
    workers: int | None,
) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from vosbench.core.version import __version__
    from vosbench.evaluate.ytvos import evaluate_ytvos
    from vosbench.records.schema import write_eval_summary
    from vosbench.scoring.jf import write_per_frame_csv, write_per_object_csv

    res = evaluate_ytvos(gt_dir, pred, meta_path, unseen_file, seqs, workers=workers)
    m = res.metrics
    if m.get("JF_mean") is None or math.isnan(float(m["JF_mean"] or math.nan)):
        raise ConfigError(f"{meta_path}: nothing to score: no object has a frame between its first appearance and "
                          "its video's last meta.json frame")
    console = Console()
    table = Table(title=f"YouTube-VOS J/F (%)  {pred}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("video", "obj", "category", "group"):
        table.add_column(col, no_wrap=True, justify="right" if col == "obj" else "left")
    # means only, as YouTube-VOS reports them (recall and decay are in the CSV)
    for col in ("J&F", "J-Mean", "F-Mean"):
        table.add_column(col, justify="right", no_wrap=True)
    for s in res.scores:
        table.add_row(s.sequence, str(s.object), str(res.categories.get((s.sequence, s.object)) or "-"),
                      res.group(s.sequence, s.object) or "-", _pct((s.J_mean + s.F_mean) / 2),
                      _pct(s.J_mean), _pct(s.F_mean))
    table.add_section()
    # the mean over all objects, named so that it is not mistaken for YouTube-VOS "overall"
    table.add_row("all objects", str(len(res.scores)), "", "", *(_pct(m.get(k)) for k in ("JF_mean", "J_mean", "F_mean")))
    console.print(table)
    if "overall" in m:
        console.print(
            f"YouTube-VOS overall [bold]{_pct(m['overall'])}[/bold]  J seen {_pct(m['J_seen'])}  "
            f"F seen {_pct(m['F_seen'])}  J unseen {_pct(m['J_unseen'])}  F unseen {_pct(m['F_unseen'])}  "
            f"({len(res.scores)} objects, {len(res.frames)} videos, {res.seconds:.2f} s; categories: "
            f"{res.category_source})"
        )
    else:
        console.print(
            f"[yellow]no category information (no --unseen file, no unseen_categories.txt, no train/meta.json "
            f"beside {meta_path.parent}): no seen/unseen split and no YouTube-VOS overall[/yellow]  J&F over all "
            f"objects {_pct(m['JF_mean'])} ({len(res.scores)} objects, {len(res.frames)} videos)"
        )
    if out_csv is None:
        console.print("[dim]Nothing written; use --out FILE.csv to save per-object scores and the summary.[/dim]")
        return
    write_per_object_csv(out_csv, res.scores)
    summary_path = _sibling(out_csv, ".summary.json")
    metrics: dict[str, Any] = dict(m)  # None for a group without objects
    write_eval_summary(
        summary_path,
        metrics,
        benchmark="ytvos",
        objects=len(res.scores),
        sequences=len(res.frames),
        frames_per_sequence=res.frames,
        categories=res.category_source,
        unseen_categories=sorted(res.unseen) if res.unseen is not None else None,
        gt=str(gt_dir.resolve()),
        pred=str(pred.resolve()),
        meta=str(meta_path.resolve()),
        rules="YouTube-VOS: meta.json frames; each object scored from the frame after its first appearance, "
        "last frame excluded; overall = mean of J_seen, F_seen, J_unseen, F_unseen",
        vosbench_version=__version__,
        seconds=round(res.seconds, 3),
    )
    console.print(f"wrote {out_csv} and {summary_path}")
    if per_frame:
        frame_path = _sibling(out_csv, ".per_frame.csv")
        write_per_frame_csv(frame_path, res.scores)
        console.print(f"wrote {frame_path}")


def _eval_jhmdb(root: Path, pred: Path, split: int, subset: str, seqs: list[str] | None, out_csv: Path | None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from vosbench.core.io import atomic_write_text
    from vosbench.core.version import __version__
    from vosbench.evaluate.jhmdb import evaluate_jhmdb
    from vosbench.records.schema import write_eval_summary
    from vosbench.scoring.pck import HEADLINE, PCKResult, per_joint_csv_text, per_video_csv_text, threshold_key

    ev = evaluate_jhmdb(root, pred, split, subset, seqs)
    r = ev.result
    metrics = r.metrics()
    if int(r.counts.sum()) == 0:
        raise ConfigError(f"{root}: nothing to score: no visible GT joint in any frame after the first")
    console = Console()
    keys = [threshold_key(a) for a in HEADLINE]
    jt = Table(title=f"JHMDB PCK per joint (%)  {ev.keypoints_dir}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("joint", "n", *(f"PCK@{k}" for k in keys)):
        jt.add_column(col, justify="left" if col == "joint" else "right")
    pj = r.per_joint()
    for j, name in enumerate(r.joints):
        jt.add_row(name, str(int(r.counts[j])), *(_pct(pj[r.at(a), j]) for a in HEADLINE))
    console.print(jt)
    vt = Table(title="PCK per video (%)", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("video", "n", *(f"PCK@{k}" for k in keys)):
        vt.add_column(col, justify="left" if col == "video" else "right")
    for video, (hits, counts) in r.per_video.items():
        mean = PCKResult(r.thresholds, r.joints, hits, counts).mean()
        vt.add_row(video, str(int(counts.sum())), *(_pct(mean[r.at(a)]) for a in HEADLINE))
    vt.add_section()
    vt.add_row("all", str(int(r.counts.sum())), *(_pct(metrics[f"PCK@{k}"]) for k in keys))
    console.print(vt)
    curve = metrics["pck_curve"]
    assert isinstance(curve, dict)
    console.print("PCK curve: " + "  ".join(f"@{k} {_pct(v)}" for k, v in curve.items()))
    console.print(
        f"PCK@0.1 [bold]{_pct(metrics['PCK@0.1'])}[/bold]  PCK@0.2 [bold]{_pct(metrics['PCK@0.2'])}[/bold]  "
        f"(pooled {_pct(metrics['PCK_pooled@0.1'])} / {_pct(metrics['PCK_pooled@0.2'])}; {len(ev.frames)} videos, "
        f"split {split} {subset}, {ev.seconds:.2f} s)"
    )
    if out_csv is None:
        console.print("[dim]Nothing written; use --out FILE.csv to save per-video and per-joint PCK and the "
                      "summary.[/dim]")
        return
    joint_path = _sibling(out_csv, ".per_joint.csv")
    summary_path = _sibling(out_csv, ".summary.json")
    atomic_write_text(out_csv, per_video_csv_text(r))
    atomic_write_text(joint_path, per_joint_csv_text(r))
    write_eval_summary(
        summary_path,
        metrics,  # type: ignore[arg-type]  # pck_curve is a dict of fractions
        benchmark="jhmdb",
        videos=len(ev.frames),
        frames_per_video=ev.frames,
        split=split,
        subset=subset,
        gt=str(root.resolve()),
        pred=str(ev.keypoints_dir.resolve()),
        rules="JHMDB PCK: frame 0 excluded; normaliser 0.6 x diagonal of the visible GT joints' box; "
        "PCK@a = mean of the per-joint PCKs; a missing prediction is a miss",
        vosbench_version=__version__,
        seconds=round(ev.seconds, 3),
    )
    console.print(f"wrote {out_csv}, {joint_path} and {summary_path}")
