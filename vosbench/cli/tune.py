"""``vosbench tune``: choose protocol settings on a tuning split, report them on the evaluation split."""

from __future__ import annotations

from typing import Any

import click

from vosbench.cli.run import run as run_command

EXAMPLES = """
\b
Examples:
  vosbench tune --model crw --checkpoint pretrained.pth --dataset davis17-val --tune-on davis17-train \\
      --sweep topk=5,10,20 --sweep temperature=0.05,0.07
  vosbench tune --dataset davis17-val --tune-on davis17-train --tune-sequences bear,bmx-bumps,boat \\
      --sweep context=5,10,20 --rule best
  vosbench tune --dataset synthetic-davis --tune-on synthetic-davis-train --sweep radius=4,none
  vosbench tune --dataset davis17-val --tune-on davis17-train \
      --candidates 'topk=5,radius=12;topk=10,radius=20;topk=20,radius=none'   # a list, simplest first
  vosbench tune ... --run-id mytune            # the same command again resumes an interrupted tune
  vosbench tune --config tune.toml --device cuda   # a tune described in a file; flags override it
"""

#: the options of `vosbench run` that `vosbench tune` takes as they are (the evaluation run and the grid)
RUN_OPTIONS = (
    "model", "dataset", "checkpoint", "data_root", "sequences", "protocol", "topk", "radius", "context",
    "temperature", "settings", "options", "dataset_options", "device", "batch_size", "workers", "out",
    "save_predictions", "precision", "sweeps", "shard", "run_id", "quiet", "as_json", "large_grid", "config_file",
)
#: the tune's own options, as a ``--config`` file spells them (vosbench.runs.config_file.TUNE_KEYS)
TUNE_OPTIONS = ("tune_on", "tune_data_root", "tune_dataset_options", "tune_sequences", "rule", "metric",
                "allow_test_tuning")


@click.command("tune", epilog=EXAMPLES)
@click.option("--tune-on", default=None, metavar="DATASET",
              help="Dataset to choose the settings on (default: --dataset); must be a train split in the dataset "
              "catalog (davis17-train, ytvos18-train, synthetic-davis-train ...) unless --allow-test-tuning.")
@click.option("--tune-data-root", default=None, type=click.Path(file_okay=False), help="Data root of --tune-on.")
@click.option("--tune-dataset-option", "tune_dataset_options", multiple=True, metavar="KEY=VALUE",
              help="Dataset option of --tune-on (repeatable). Changing an option the catalog fixes (its split, "
              "subset, seed) makes its split role undeclared, so it needs --allow-test-tuning.")
@click.option("--tune-sequences", default=None, help="Comma-separated subset of the --tune-on sequences.")
@click.option("--candidates", "candidates", multiple=True, metavar="K=V,K=V;K=V,K=V",
              help="A list of settings to choose from instead of a --sweep grid: candidates separated by ';', each "
              "KEY=VALUE pairs separated by ',', every candidate setting the same keys; list the simplest first "
              "(repeatable: the lists join in order).")
@click.option("--rule", type=click.Choice(["best", "simplest-within-ci"]), default="simplest-within-ci",
              show_default=True,
              help="best: the highest mean; simplest-within-ci: the simplest point (lowest grid index: list each "
              "setting's values simplest first; with --candidates the first in the list) whose mean lies in the "
              "confidence interval of the best.")
@click.option("--metric", default="JF_mean", show_default=True, help="The tuning runs' metric to compare.")
@click.option("--allow-test-tuning", is_flag=True,
              help="Allow tuning on a val/test split (recorded in the run record and shown on the leaderboard).")
@click.pass_context
def tune(ctx: click.Context, **kw: Any) -> None:
    """Run the --sweep grid (or the --candidates list) on a tuning split (features shared across
    the points, one run folder per point), choose one point by --rule from the scores and their bootstrap intervals, then run the
    chosen settings on --dataset. The evaluation run's record keeps the grid, every point's tuning
    score, the rule and the choice."""
    from vosbench.cli.run import _model_options, _overrides, _pairs
    from vosbench.core.names import comma_list
    from vosbench.propagation.sweep import check_grid_size, parse_sweep
    from vosbench.runs import RunConfig
    from vosbench.runs.signals import interruptible
    from vosbench.runs.tune import TuneConfig

    with interruptible():
        overrides = _overrides(kw["settings"], topk=kw["topk"], radius=kw["radius"], context=kw["context"],
                               temperature=kw["temperature"])
        cfg = RunConfig.from_options(
            model=kw["model"], dataset=kw["dataset"], checkpoint=kw["checkpoint"],
            model_options=_model_options(kw["options"]), data_root=kw["data_root"],
            dataset_options=_pairs(kw["dataset_options"], "--dataset-option"), sequences=kw["sequences"],
            protocol=kw["protocol"], overrides=overrides, device=kw["device"], out=kw["out"],
            save_predictions=kw["save_predictions"], batch_size=kw["batch_size"], workers=kw["workers"],
            precision=kw["precision"], sweep=parse_sweep(kw["sweeps"]), shard=kw["shard"], run_id=kw["run_id"],
            candidates=";".join(kw["candidates"]) if kw["candidates"] else None, large_grid=kw["large_grid"],
        )
        tune_kw = {
            "tune_on": kw["tune_on"],
            "tune_data_root": kw["tune_data_root"],
            "tune_dataset_options": _pairs(kw["tune_dataset_options"], "--tune-dataset-option"),
            "tune_sequences": tuple(comma_list(kw["tune_sequences"])) if kw["tune_sequences"] else (),
            "rule": kw["rule"],
            "metric": kw["metric"],
            "allow_test_tuning": kw["allow_test_tuning"],
        }
        if kw["config_file"] is not None:
            cfg, tune_kw = _with_file(ctx, cfg, tune_kw, kw["config_file"])
        check_grid_size(cfg.sweep, kw["large_grid"], cfg.candidates)
        tc = TuneConfig(run=cfg, **tune_kw)
        _execute(tc, kw["quiet"], kw["as_json"])


def _with_file(ctx: click.Context, cfg: Any, tune_kw: dict[str, Any], path: Any) -> tuple[Any, dict[str, Any]]:
    """The tune in a ``--config`` file under the options given on the command line: the run's
    keys as ``vosbench run --config`` reads them, the tune's own keys (:data:`TUNE_OPTIONS`)."""
    from click.core import ParameterSource

    from vosbench.cli.run_config import given_fields
    from vosbench.runs.config_file import load_tune_file, merge

    file_kw, _, file_tune = load_tune_file(path)
    typed = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    given = given_fields(ctx) | ({"candidates"} if ctx.get_parameter_source("candidates") in typed else set())
    merged = merge(file_kw, cfg, given, where=str(path))
    for key in TUNE_OPTIONS:
        if key in file_tune and ctx.get_parameter_source(key) not in typed:
            tune_kw[key] = file_tune[key]
    return merged, tune_kw


def _execute(tc: Any, quiet: bool, as_json: bool) -> None:
    import json
    import sys

    from vosbench.cli.progress import LogProgress, setup_logging
    from vosbench.cli.tables import print_run_summary, print_tuning_table
    from vosbench.runs.tune import tune as run_tune

    log = setup_logging(quiet=quiet, terminal=sys.stderr.isatty())
    result = run_tune(tc, None if quiet else LogProgress(log))
    if result.tuning is None:
        if as_json:
            click.echo(json.dumps({"tune_id": result.tune_id, "status": "waiting for other shards"}))
            return
        click.echo(f"tune {result.tune_id}: this shard's part of the grid is done; run the same command again once "
                   f"every shard has finished it, to choose and run the evaluation")
        return
    evaluation = result.evaluation
    assert evaluation is not None
    if as_json:
        click.echo(json.dumps({"tune_id": result.tune_id, "tuning": result.tuning,
                               "evaluation": evaluation.record, "run_dir": str(evaluation.run_dir)}, indent=2))
        return
    print_tuning_table(result.tuning)
    if evaluation.record.get("status") == "complete":
        print_run_summary(evaluation.record, evaluation.scores, evaluation.run_dir)
    else:
        click.echo(f"tune {result.tune_id}: evaluation run {evaluation.run_dir}: the record is written by the last "
                   f"shard to finish (or `vosbench merge {evaluation.run_dir}`)")


tune.params[:0] = [p for p in run_command.params if p.name in RUN_OPTIONS]
