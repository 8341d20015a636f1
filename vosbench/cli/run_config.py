"""``vosbench run --config FILE.toml`` / ``--replay RUN/summary.json``: merging a file or a run
record with the options given on the command line (explicit options win)."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from vosbench.core.errors import ConfigError
from vosbench.runs.config import RunConfig

#: ``vosbench run`` parameter -> the RunConfig field it sets (what an explicit option overrides in a
#: config file or a replayed record, and what ``--resume`` compares with the stored run)
PARAM_FIELDS = {
    "model": "model",
    "dataset": "dataset",
    "checkpoint": "checkpoint",
    "data_root": "data_root",
    "sequences": "sequences",
    "protocol": "protocol",
    "topk": "overrides",
    "radius": "overrides",
    "context": "overrides",
    "temperature": "overrides",
    "settings": "overrides",
    "options": "model_options",
    "dataset_options": "dataset_options",
    "device": "device",
    "batch_size": "batch_size",
    "workers": "workers",
    "out": "out",
    "save_predictions": "save_predictions",
    "precision": "precision",
    "sweeps": "sweep",
    "shard": "shard",
    "run_id": "run_id",
}


def given_fields(ctx: click.Context, environment: bool = True) -> set[str]:
    """RunConfig fields set by options typed on the command line (or, with ``environment``, by
    their environment variables)."""
    sources = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT) if environment else (ParameterSource.COMMANDLINE,)
    return {field for param, field in PARAM_FIELDS.items() if ctx.get_parameter_source(param) in sources}


def from_config_file(ctx: click.Context, cli_cfg: RunConfig, path: Path) -> RunConfig:
    """The run described by ``path``, with the explicit command-line options on top."""
    from vosbench.runs.config_file import load_config_file, merge

    file_kw, _ = load_config_file(path)
    return merge(file_kw, cli_cfg, given_fields(ctx), where=str(path))


def from_replay(ctx: click.Context, cli_cfg: RunConfig, path: Path, force: bool) -> RunConfig:
    """The run recorded in ``path`` (``summary.json`` or its folder), checked against this
    installation; explicit command-line options on top (``--out``, ``--device``, ...)."""
    from vosbench.runs.config_file import check_replay_checkpoint, load_replay, merge

    rep = load_replay(path)
    given = given_fields(ctx)
    changing = sorted(given & {"model", "dataset", "protocol", "overrides", "precision", "sweep", "sequences"})
    if changing and not force:
        raise ConfigError(
            f"--replay {path}: {', '.join(changing)} given on the command line would change what is replayed; "
            f"drop them, or add --force to run the changed settings anyway"
        )
    cfg = merge(rep.config, cli_cfg, given, where=str(path))
    differences = list(rep.differences)
    if "checkpoint" in given:  # the user points at the file (e.g. moved): it must be the same file
        differences = [d for d in differences if not d.startswith("checkpoint:")] + check_replay_checkpoint(rep, cfg)
    for note in rep.notes:
        click.echo(f"note: {note}", err=True)
    if differences:
        if not force:
            raise ConfigError(
                f"--replay {path}: cannot replay exactly:\n  " + "\n  ".join(differences)
                + "\nAdd --force to run anyway (the new record will show the difference)."
            )
        for d in differences:
            click.echo(f"warning: replaying despite a difference: {d}", err=True)
    changed = _changed(rep.config, cfg, changing)
    for line in changed:
        click.echo(f"warning: --force: {line}", err=True)
    pinned = "with every setting pinned" if not changed else f"with {len(changed)} change(s) from the command line"
    click.echo(
        f"replaying {rep.config['model']} on {rep.config['dataset']} ({len(cfg.sequences) or 'all'} sequences, "
        f"protocol {rep.config.get('protocol')} {pinned}, precision {cfg.precision})",
        err=True,
    )
    return cfg


def _changed(recorded: dict[str, object], cfg: RunConfig, fields: list[str]) -> list[str]:
    """What the command line changes in a replayed run: one line per setting (protocol
    settings one by one)."""
    lines = []
    for name in fields:
        old, new = recorded.get(name), getattr(cfg, name)
        if name == "overrides" and isinstance(old, dict):
            lines += [f"protocol setting {k}: {old.get(k, 'the preset default')} -> {v}"
                      for k, v in new.items() if old.get(k) != v]
        elif old != new:
            lines.append(f"{name}: {old} -> {new}")
    return lines
