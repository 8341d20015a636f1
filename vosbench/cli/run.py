"""``vosbench run``."""

from __future__ import annotations

from pathlib import Path

from typing import Any

import click

from vosbench.propagation.sweep import MAX_GRID_POINTS

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
  vosbench run --model crw --checkpoint pretrained.pth --dataset ytvos18-val --shard 0/4 --run-id yt   # + 1/4 2/4 3/4
  torchrun --nproc-per-node 8 -m vosbench run --model crw --checkpoint pretrained.pth --dataset ytvos18-val
  vosbench run --resume runs/davis17-val/crw/20240101-120000-abcdef   # after SIGTERM, kill -9, ...
  vosbench run --config davis17.toml --device cuda      # a run described in a file; flags override it
  vosbench run --replay runs/davis17-val/crw/20261125-184500-ab12cd/summary.json
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
@click.option("--data-root", default=None, type=click.Path(), help="The dataset's own root folder, or a TAP-Vid pickle (default: $VOSBENCH_DATA/<subfolder>).")
@click.option("--sequences", default=None, help="Comma-separated subset of sequences.")
@click.option("--protocol", "-p", default=None, help="Preset: crw (default), crw-jhmdb, dino, corrflow, ... (`vosbench list protocols`), or 'native' (the model's own).")
@click.option("--topk", default=None, help="Override: top-k candidates ('none' = all).")
@click.option("--radius", default=None, help="Override: locality radius in feature cells ('none' = unrestricted).")
@click.option("--context", default=None, type=int, help="Override: number of previous frames in the context.")
@click.option("--temperature", default=None, type=float, help="Override: softmax temperature.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Override any protocol setting (repeatable), e.g. --set window=square.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Model option (repeatable), e.g. --option seed=1.")
@click.option("--dataset-option", "dataset_options", multiple=True, metavar="KEY=VALUE", help="Dataset option (repeatable), e.g. --dataset-option gt_root=DIR.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(1, 256), help="Frames per encoder batch.")
@click.option(
    "--workers",
    default="auto",
    metavar="auto|N",
    show_default=True,
    callback=lambda ctx, param, value: _workers(value),
    help="Worker processes decoding frames, writing PNGs and scoring (0: threads of the run process). "
    "auto: the CPUs on a GPU run (shared by the processes of a torchrun node, at most 16), 0 on a CPU run.",
)
@click.option("--out", "-o", default="runs", show_default=True, type=click.Path(file_okay=False), help="Runs folder; the run goes to OUT/<dataset>/<model>/<run-id>/.")
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
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML file with any of these options (and protocol settings, model/dataset options, a sweep); options "
    "given on the command line override it. See the README, 'Runs in files'.",
)
@click.option(
    "--replay",
    type=click.Path(path_type=Path),
    default=None,
    help="RUN_DIR/summary.json of an earlier run: run it again with the same model, checkpoint (hash checked), "
    "dataset, sequences, protocol and precision.",
)
@click.option("--force", is_flag=True, help="With --replay: run even if the checkpoint or vosbench version differs.")
@click.option("--shard", default=None, metavar="I/N", help="Do part I of N of the sequences (frame-count balanced) in the shared run folder; default: from torchrun (RANK/WORLD_SIZE) or a SLURM array (SLURM_ARRAY_TASK_ID/COUNT), else all.")
@click.option("--run-id", default=None, help="Run folder id shared by every shard (default: new; sharded: derived from the settings). An existing run with this id is resumed.")
@click.option("--resume", "resume", default=None, type=click.Path(file_okay=False, exists=True), metavar="RUN_DIR", help="Resume the run in RUN_DIR with its own settings: committed sequences are kept, the rest is (re)done. Other options given here must match the run's (per-process ones: --device, --batch-size, --workers, --shard).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or progress lines; only warnings, errors and the final table.")
@click.option("--json", "as_json", is_flag=True, help="Print the final record (summary.json) to stdout instead of the tables (a list for --sweep).")
@click.option("--large-grid", is_flag=True, help=f"Allow a --sweep of more than {MAX_GRID_POINTS} grid points (each is a run folder).")
@click.pass_context
def run(
    ctx: click.Context,
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
    workers: int | None,
    out: str,
    save_predictions: bool,
    precision: str,
    sweeps: tuple[str, ...],
    config_file: Path | None,
    replay: Path | None,
    force: bool,
    shard: str | None,
    run_id: str | None,
    resume: str | None,
    quiet: bool,
    as_json: bool,
    large_grid: bool,
) -> None:
    """Propagate first-frame labels with MODEL through every video of DATASET, write the
    predictions, score them (J&F, or PCK for keypoints) and store a run record.

    With no options it runs the offline demo: the `lab` colour baseline on generated
    DAVIS-style videos (generated on first use into the vosbench cache).
    """
    from vosbench.propagation.sweep import check_grid_size, parse_sweep
    from vosbench.runs import RunConfig
    from vosbench.runs.signals import interruptible

    with interruptible():  # SIGTERM/SIGINT from here on: exit 143/130, record says interrupted
        overrides = _overrides(settings, topk=topk, radius=radius, context=context, temperature=temperature)
        cfg = RunConfig.from_options(
            model=model,
            dataset=dataset,
            checkpoint=checkpoint,
            model_options=_model_options(options),
            data_root=data_root,
            dataset_options=_pairs(dataset_options, "--dataset-option"),
            sequences=sequences,
            protocol=protocol,
            overrides=overrides,
            device=device,
            out=out,
            save_predictions=save_predictions,
            batch_size=batch_size,
            workers=workers,
            precision=precision,
            sweep=parse_sweep(sweeps),
            shard=shard,
            run_id=run_id,
            large_grid=large_grid,
        )
        cfg = _from_files(ctx, cfg, config_file, replay, force)
        if resume is not None:
            cfg = _resumed(ctx, cfg, resume, overrides)
        check_grid_size(cfg.sweep, large_grid, cfg.candidates)
        _execute(cfg, quiet, as_json)


def _overrides(settings: tuple[str, ...], **flags: object) -> dict[str, Any]:
    """``--set`` pairs and the protocol flags given (as the text ``--set`` takes)."""
    overrides: dict[str, Any] = _pairs(settings, "--set")
    overrides.update({key: str(value) for key, value in flags.items() if value is not None})
    return overrides


def _from_files(ctx: click.Context, cfg: Any, config_file: Path | None, replay: Path | None, force: bool) -> Any:
    """``cfg`` with a ``--config`` file or a ``--replay`` record under the explicit options."""
    resume = ctx.params.get("resume")
    if config_file is not None and replay is not None:
        raise click.UsageError("--config and --replay exclude each other: a replay takes its settings from the record")
    if (config_file is not None or replay is not None) and resume is not None:
        raise click.UsageError("--resume takes the run's own settings; leave out --config / --replay")
    if config_file is None and replay is None:
        if force:
            raise click.UsageError("--force only applies to --replay")
        return cfg
    from vosbench.cli.run_config import from_config_file, from_replay

    if replay is not None:
        return from_replay(ctx, cfg, replay, force)
    assert config_file is not None
    return from_config_file(ctx, cfg, config_file)


def _resumed(ctx: click.Context, cfg: Any, resume: str, overrides: dict[str, Any]) -> Any:
    """The stored run of ``resume`` with the options typed on the command line on top."""
    import dataclasses

    from vosbench.cli.run_config import given_fields
    from vosbench.core.errors import ConfigError
    from vosbench.runs import resume_config

    for name in ("run_id", "out"):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            raise ConfigError(f"--resume RUN_DIR sets the run folder; leave out --{name.replace('_', '-')}")
    stored = resume_config(resume)
    values = {f: getattr(cfg, f) for f in given_fields(ctx, environment=False)}
    if "overrides" in values:  # --topk 5 on top of the stored settings: the plan check names it
        values["overrides"] = {**stored.overrides, **overrides}
    return dataclasses.replace(stored, **values)


def _execute(cfg: Any, quiet: bool, as_json: bool) -> None:
    import sys

    from vosbench.cli.progress import LogProgress, setup_logging
    from vosbench.runs import run_sweep

    log = setup_logging(quiet=quiet, terminal=sys.stderr.isatty())
    if quiet:
        results = run_sweep(cfg)
    elif not sys.stderr.isatty():
        results = run_sweep(cfg, LogProgress(log))
    else:
        results = _run_with_bar(cfg)
    _report(results, cfg, as_json)


def _run_with_bar(cfg: Any) -> list[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from vosbench.runs import run_sweep

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

        return run_sweep(cfg, progress)


def _report(results: list[Any], cfg: Any, as_json: bool) -> None:
    import json

    from vosbench.cli.tables import print_run_summary, print_sweep_table
    from vosbench.runs.shards import resolve_shard

    shard = resolve_shard(cfg.shard)
    if shard.launcher == "torchrun" and shard.index != 0:
        return  # rank 0 reports the run
    done = [r for r in results if r.record.get("status") == "complete"]
    if len(done) < len(results):  # another shard is still working: it writes the record
        if as_json:
            click.echo(json.dumps([_waiting(r, shard) for r in results] if cfg.sweep or cfg.candidates else _waiting(results[0], shard)))
        else:
            for r in results:
                click.echo(
                    f"shard {shard}: done; the record of {r.run_dir} is written by the last shard to finish "
                    f"(or `vosbench merge {r.run_dir}`)"
                )
        return
    if as_json:
        records = [r.record for r in results]
        click.echo(json.dumps(records if cfg.sweep or cfg.candidates else records[0], indent=2))
        return
    for result in results:
        print_run_summary(result.record, result.scores, result.run_dir)
    if cfg.sweep or cfg.candidates:
        print_sweep_table(results)


def _waiting(result: Any, shard: Any) -> dict[str, Any]:
    from vosbench.runs.ledger import committed_names, read_plan

    names = [s["name"] for s in read_plan(result.run_dir)["sequences"]]
    return {
        "run_dir": str(result.run_dir),
        "status": "waiting for other shards",
        "shard": str(shard),
        "sequences_done": len(committed_names(result.run_dir, names)),
        "sequences_total": len(names),
    }


def _workers(value: str | int | None) -> int | None:
    """``--workers``: ``auto`` (None) or a number of processes >= 0."""
    if value is None or str(value).strip().lower() == "auto":
        return None
    try:
        n = int(str(value))
    except ValueError:
        n = -1
    if n < 0:
        raise click.BadParameter(f"{value!r}: expected auto or a number of processes (0 = none)")
    return n
