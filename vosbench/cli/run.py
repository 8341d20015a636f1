"""``vosbench run``."""

from __future__ import annotations

from typing import Any

import click

EXAMPLES = """
\b
Examples:
  vosbench run                      # demo: `lab` on generated DAVIS-style videos, CPU, no download
  vosbench run --model resnet18 --dataset davis16-val --data-root ~/data/DAVIS-2016
  vosbench run --model crw --checkpoint pretrained.pth --dataset davis17-val --topk 5 --radius 8
  vosbench run --model corrflow --checkpoint corrflow.pth --dataset davis17-val --protocol native
  vosbench run --model lab --dataset davis16-val --sequences dog,libby --set norm_mask=true
  vosbench run --model resnet18 --dataset davis16-val --sweep topk=5,10,20 --sweep temperature=0.05,0.07
  vosbench run --model resnet18 --dataset davis17-val --device cuda --precision fp16
  vosbench run --model resnet18 --dataset jhmdb-split1 --data-root ~/data/JHMDB     # PCK, preset crw-jhmdb
  vosbench run --model lab --dataset ytvos18-train --dataset-option heldout=heldout.txt
"""


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{v!r}: expected KEY=VALUE", param_hint=what)
        out[key.strip().replace("-", "_")] = val.strip()
    return out


def _model_options(values: tuple[str, ...]) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for key, val in _pairs(values, "--option").items():
        for cast in (int, float):
            try:
                opts[key] = cast(val)
                break
            except ValueError:
                continue
        else:
            opts[key] = {"true": True, "false": False}.get(val.lower(), val)
    return opts


@click.command("run", epilog=EXAMPLES)
@click.option("--model", "-m", default="lab", show_default=True, help="Model name (`vosbench list models`).")
@click.option("--dataset", "-d", default="synthetic-davis", show_default=True, help="Dataset name (`vosbench list datasets`).")
@click.option("--checkpoint", "-c", default=None, help="Checkpoint file, or the name of a downloaded official file.")
@click.option("--data-root", default=None, type=click.Path(file_okay=False), help="The dataset's own root folder (default: $VOSBENCH_DATA/<subfolder>).")
@click.option("--sequences", default=None, help="Comma-separated subset of sequences.")
@click.option("--protocol", "-p", default=None, help="Preset: crw (default), crw-jhmdb, dino, corrflow, or 'native' (the model's own).")
@click.option("--topk", default=None, help="Override: top-k candidates ('none' = all).")
@click.option("--radius", default=None, help="Override: locality radius in feature cells ('none' = unrestricted).")
@click.option("--context", default=None, type=int, help="Override: number of previous frames in the context.")
@click.option("--temperature", default=None, type=float, help="Override: softmax temperature.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Override any protocol setting (repeatable), e.g. --set window=square.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Model option (repeatable), e.g. --option seed=1.")
@click.option("--dataset-option", "dataset_options", multiple=True, metavar="KEY=VALUE", help="Dataset option (repeatable), e.g. --dataset-option gt_root=DIR.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(1, 256), help="Frames per encoder batch.")
@click.option("--out", "-o", default="results/runs", show_default=True, type=click.Path(file_okay=False), help="Runs folder; the run goes to OUT/<dataset>/<model>/<run-id>/.")
@click.option("--save-predictions/--no-save-predictions", default=True, show_default=True, help="Write predicted PNGs.")
@click.option(
    "--precision",
    type=click.Choice(["fp32", "tf32", "bf16", "fp16"]),
    default="fp32",
    show_default=True,
    help="fp32: true fp32 (TF32 off on GPUs); tf32: GPU matrix products and convolutions in TensorFloat-32; "
    "bf16/fp16: features stored in half precision, matched in fp32 (fp16 and tf32: GPU only). Recorded; "
    "runs in other than fp32 are kept apart on the leaderboard.",
)
@click.option(
    "--sweep",
    "sweeps",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="Protocol grid (repeatable; one quoted value may also hold several space-separated KEY=... items): every "
    "combination is run as its own run folder, the features of each sequence are computed once and shared, and a "
    "table compares the grid points. Sweepable: topk, temperature, radius, context, window, radius_on_first, "
    "pad_with_first, first_frame, feedback, norm_mask, label_downsample (not resize, size, l2_normalize).",
)
def run(
    model: str,
    dataset: str,
    checkpoint: str | None,
    data_root: str | None,
    sequences: str | None,
    protocol: str | None,
    topk: str | None,
    radius: str | None,
    context: int | None,
    temperature: float | None,
    settings: tuple[str, ...],
    options: tuple[str, ...],
    dataset_options: tuple[str, ...],
    device: str,
    batch_size: int,
    out: str,
    save_predictions: bool,
    precision: str,
    sweeps: tuple[str, ...],
) -> None:
    """Propagate first-frame labels with MODEL through every video of DATASET, write the
    predictions, score them (J&F, or PCK for keypoints) and store a run record.

    With no options it runs the offline demo: the `lab` colour baseline on generated
    DAVIS-style videos (generated on first use into the vosbench cache).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from vosbench.cli.tables import print_run_summary
    from vosbench.runs import RunConfig, run_sweep
    from vosbench.cli.tables import print_sweep_table
    from vosbench.propagation.sweep import parse_sweep

    overrides: dict[str, Any] = _pairs(settings, "--set")
    for key, val in (("topk", topk), ("radius", radius), ("context", context), ("temperature", temperature)):
        if val is not None:
            overrides[key] = str(val)
    cfg = RunConfig(
        model=model,
        dataset=dataset,
        checkpoint=checkpoint,
        model_options=_model_options(options),
        data_root=data_root,
        dataset_options=dict(_pairs(dataset_options, "--dataset-option")),
        sequences=tuple(s.strip() for s in sequences.split(",") if s.strip()) if sequences else (),
        protocol=protocol,
        overrides=overrides,
        device=device,
        out=out,
        save_predictions=save_predictions,
        batch_size=batch_size,
        precision=precision,
        sweep=parse_sweep(sweeps),
    )
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}
        overall = bar.add_task("all frames", total=None)

        def progress(seq: str, done: int, total: int) -> None:
            if seq not in tasks:
                for old in tasks.values():
                    bar.update(old, visible=False)
                tasks[seq] = bar.add_task(seq, total=None)
            bar.update(tasks[seq], advance=1)
            bar.update(overall, completed=done, total=total)

        results = run_sweep(cfg, progress)
    for result in results:
        print_run_summary(result.record, result.scores, result.run_dir)
    if cfg.sweep:
        print_sweep_table(results)
