"""``vosbench eval``: score a folder of predicted masks against DAVIS-style GT annotations."""

from __future__ import annotations

from pathlib import Path

import click

from vosbench.core.names import comma_list

EXAMPLES = """
\b
Examples:
  vosbench eval --gt DAVIS/Annotations/480p --pred my_predictions
  vosbench eval --gt DAVIS/Annotations/480p --pred my_predictions --out scores.csv --workers 4
  vosbench eval --gt DAVIS-2016/Annotations/480p --pred preds --sequences blackswan,dog --binary
  vosbench eval --benchmark ytvos --gt valid_gt/Annotations --meta valid/meta.json --pred RUN/submission.zip
  vosbench eval --benchmark jhmdb --gt JHMDB --pred RUN/keypoints --split 1 --out pck.csv
"""


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


@click.command("eval", epilog=EXAMPLES)
@click.option("--benchmark", type=click.Choice(["davis", "ytvos", "jhmdb"]), default="davis", show_default=True,
              help="davis: J&F of mask folders; ytvos: J/F from first appearance, seen/unseen, overall; "
              "jhmdb: PCK of keypoint CSVs.")
@click.option("--gt", "gt_dir", required=True, type=click.Path(path_type=Path),
              help="davis/ytvos: GT annotation folder GT_DIR/<sequence>/<frame>.png (e.g. DAVIS/Annotations/480p, "
              "valid_gt/Annotations); jhmdb: the JHMDB root (Rename_Images, joint_positions, splits).")
@click.option("--pred", "pred_dir", required=True, type=click.Path(path_type=Path),
              help="davis: PRED_DIR/<sequence>/<frame>.png, GT file names, palette or grey PNGs; ytvos: the same "
              "layout or a submission.zip (Annotations/<video>/<frame>.png); jhmdb: keypoints/<video>.csv "
              "(frame,joint,x,y) or a run folder holding keypoints/.")
@click.option("--meta", "meta_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="ytvos: the split's meta.json (required).")
@click.option("--unseen", "unseen_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="ytvos: unseen categories, one per line (default: unseen_categories.txt beside or in the split "
              "folder, else categories absent from train/meta.json).")
@click.option("--split", "jhmdb_split", type=click.IntRange(1, 3), default=None, help="jhmdb: split 1-3 (default 1).")
@click.option("--subset", type=click.Choice(["test", "train"]), default=None, help="jhmdb: split files' subset (default test).")
@click.option("--sequences", default=None, help="Comma-separated subset of sequences (default: all GT sequences).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes, one sequence each at a time (default: CPU count).")
@click.option("--out", "out_csv", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Per-object CSV to write (fractions); the summary goes to FILE.summary.json beside it. "
              "Without --out nothing is written.")
@click.option("--per-frame", is_flag=True, help="Also write J and F of every scored frame to FILE.per_frame.csv.")
@click.option("--binary/--no-binary", default=None,
              help="Read the GT as DAVIS-2016 binary masks (object 1 = value > 128) or as id maps. "
              "Default: binary when a sequence's first GT frame is greyscale with only 0 and 255.")
def eval_cmd(
    benchmark: str,
    gt_dir: Path,
    pred_dir: Path,
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
    """Score predictions made by any tool: DAVIS J&F (default), YouTube-VOS or JHMDB PCK.

    DAVIS: the official semi-supervised J&F rules. First and last frames are not scored; objects
    are the ids 1..max of each sequence's first GT frame; a predicted id that is not an object is
    an error. YouTube-VOS and JHMDB: scored exactly as a vosbench run scores them (see the README).
    Prints scores in percent; the CSV and JSON hold fractions at full precision.
    """
    if benchmark != "davis" or meta_path or unseen_file or jhmdb_split or subset:
        from vosbench.cli.eval_other import eval_other

        eval_other(benchmark, gt_dir, pred_dir, sequences, workers, out_csv, per_frame, binary, meta_path,
                   unseen_file, jhmdb_split, subset)
        return
    import math

    from rich import box
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from vosbench.core.version import __version__
    from vosbench.core.errors import ConfigError
    from vosbench.evaluate.davis import evaluate_folders, list_sequences
    from vosbench.records.schema import write_eval_summary
    from vosbench.scoring.jf import METRIC_KEYS, summarize, write_per_frame_csv, write_per_object_csv

    if per_frame and out_csv is None:
        raise ConfigError("--per-frame needs --out FILE.csv (the per-frame file is written beside it)")
    if out_csv is not None:
        for folder, what in ((gt_dir, "GT"), (pred_dir, "prediction")):
            if folder.exists() and _inside(out_csv, folder):
                raise ConfigError(f"--out {out_csv} lies inside the {what} folder {folder}; vosbench never writes "
                                  "there. Choose a path elsewhere.")
    seqs = comma_list(sequences) if sequences else None
    console = Console()
    n_seq = len(list_sequences(gt_dir, pred_dir, seqs))
    err = Console(stderr=True)
    with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("scoring", total=n_seq)
        result = evaluate_folders(gt_dir, pred_dir, seqs, workers, binary,
                                  on_sequence_done=lambda _s: progress.advance(task))
    scores = result.scores
    summary = summarize(scores)
    if math.isnan(summary["JF_mean"]):
        raise ConfigError(
            f"{gt_dir}: nothing to score: no sequence has an object in its first GT frame and a frame between "
            "its first and last frames"
        )

    def pct(v: float) -> str:
        return "-" if math.isnan(v) else f"{100 * v:.1f}"

    # two-line headers and no vertical rules keep the table within 80 columns
    table = Table(title=f"J&F (%)  {pred_dir}", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("sequence", no_wrap=True)
    table.add_column("obj", justify="right")
    for col in ("J&F\nMean", "J\nMean", "J\nRecall", "J\nDecay", "F\nMean", "F\nRecall", "F\nDecay"):
        table.add_column(col, justify="right", no_wrap=True)
    for s in scores:
        jf = (s.J_mean + s.F_mean) / 2
        table.add_row(s.sequence, str(s.object), pct(jf), *(pct(getattr(s, k)) for k in METRIC_KEYS))
    table.add_section()
    table.add_row("[bold]overall[/bold]", str(len(scores)), *(f"[bold]{pct(summary[k])}[/bold]" for k in summary))
    console.print(table)
    console.print(
        f"J&F-Mean [bold]{pct(summary['JF_mean'])}[/bold]  J-Mean {pct(summary['J_mean'])}  "
        f"F-Mean {pct(summary['F_mean'])}  ({len(scores)} objects, {len(result.frames)} sequences, "
        f"{result.seconds:.2f} s)"
    )
    short = [s for s, n in result.frames.items() if n < 3]
    if short:
        console.print(f"[yellow]not scored (fewer than 3 frames): {', '.join(short)}[/yellow]")
    if out_csv is None:
        console.print("[dim]Nothing written; use --out FILE.csv to save per-object scores and the summary.[/dim]")
        return
    write_per_object_csv(out_csv, scores)
    summary_path = out_csv.with_name(out_csv.name.removesuffix(".csv") + ".summary.json")
    write_eval_summary(
        summary_path,
        summary,
        objects=len(scores),
        sequences=len(result.frames),
        frames_per_sequence=result.frames,
        binary_gt=result.binary,
        gt=str(gt_dir.resolve()),
        pred=str(pred_dir.resolve()),
        rules="DAVIS 2017 semi-supervised: first and last frame excluded, objects 1..max id of frame 0",
        vosbench_version=__version__,
        seconds=round(result.seconds, 3),
    )
    console.print(f"wrote {out_csv} and {summary_path}")
    if per_frame:
        frame_path = out_csv.with_name(out_csv.name.removesuffix(".csv") + ".per_frame.csv")
        write_per_frame_csv(frame_path, scores)
        console.print(f"wrote {frame_path}")
