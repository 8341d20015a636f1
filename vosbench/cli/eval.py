"""``vosbench eval``: score predictions made by any tool (DAVIS and YouTube-VOS masks, JHMDB keypoints).

The options are checked once (:func:`vosbench.evaluate.base.check_options`), the benchmark's folder
evaluator does the scoring (:func:`vosbench.evaluate.dispatch.evaluate_benchmark`), and
:mod:`vosbench.cli.eval_show` prints its tables. Errors are one line naming the file (exit code 2);
``--out FILE.csv`` writes fractions at full precision and ``FILE.summary.json`` beside it, nothing
is written without ``--out`` and never into the inputs.
"""

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
  vosbench eval --benchmark badja --gt BADJA --pred RUN/keypoints --out pck.csv
"""


#: how the command line spells each option in messages
FLAGS = {
    "benchmark": "--benchmark",
    "meta": "--meta",
    "unseen": "--unseen",
    "split": "--split",
    "subset": "--subset",
    "binary": "--binary/--no-binary",
    "workers": "--workers",
    "per_frame": "--per-frame",
}


@click.command("eval", epilog=EXAMPLES)
@click.option("--benchmark", type=click.Choice(["davis", "ytvos", "jhmdb", "badja"]), default="davis", show_default=True,
              help="davis: J&F of mask folders; ytvos: J/F from first appearance, seen/unseen, overall; "
              "jhmdb: PCK of keypoint CSVs; badja: BADJA PCK of keypoint CSVs.")
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
    from rich.console import Console

    from vosbench.cli.eval_show import SAVED, scoring_progress, show
    from vosbench.core.errors import ConfigError
    from vosbench.core.safepath import inside
    from vosbench.evaluate.base import check_options, write_outputs
    from vosbench.evaluate.dispatch import evaluate_benchmark

    options = {"meta": meta_path, "unseen": unseen_file, "split": jhmdb_split, "subset": subset, "binary": binary,
               "workers": workers, "per_frame": per_frame or None}
    check_options(benchmark, [k for k, v in options.items() if v is not None], FLAGS.__getitem__)
    if per_frame and out_csv is None:
        raise ConfigError("--per-frame needs --out FILE.csv (the per-frame file is written beside it)")
    if out_csv is not None:
        try:
            out_csv.resolve()
        except (OSError, RuntimeError):  # a symbolic-link loop: say so before scoring, not after
            raise ConfigError(f"--out {out_csv}: the path does not resolve (a symbolic link that points to "
                              "itself?); choose another path") from None
        for folder, what in ((gt_dir, "GT"), (pred_dir, "prediction")):
            if folder.exists() and inside(folder, out_csv):
                raise ConfigError(f"--out {out_csv} lies inside the {what} folder {folder}; vosbench never writes "
                                  "there. Choose a path elsewhere.")
    seqs = comma_list(sequences) if sequences else None
    with scoring_progress() as progress:
        ev = evaluate_benchmark(benchmark, gt_dir, pred_dir, sequences=seqs, workers=workers, binary=binary,
                                meta=meta_path, unseen=unseen_file, split=jhmdb_split, subset=subset,
                                progress=progress, label=FLAGS.__getitem__)
    if ev.empty is not None:
        raise ConfigError(ev.empty)
    console = Console()
    show(console, ev)
    if out_csv is None:
        console.print(f"[dim]Nothing written; use --out FILE.csv to save {SAVED[benchmark]} and the summary.[/dim]")
        return
    written, frame_path = write_outputs(ev, out_csv, per_frame)
    console.print(f"wrote {', '.join(map(str, written[:-1]))} and {written[-1]}")
    if frame_path is not None:
        console.print(f"wrote {frame_path}")
