"""``vosbench list models|datasets|protocols``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

EXAMPLES = """
\b
Examples:
  vosbench list models
  vosbench list datasets
  vosbench list protocols
  vosbench list protocols --verbose
"""


@click.command("list", epilog=EXAMPLES)
@click.argument("what", type=click.Choice(["models", "datasets", "protocols"]))
@click.option("--verbose", "-v", is_flag=True, help="Protocols: also each preset's reference script and how it was verified.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Models: the folder of downloaded weights (default: $VOSBENCH_CACHE/weights).")
def list_cmd(what: str, verbose: bool, directory: Path | None) -> None:
    """List registered models, datasets (with where they come from and what they need) or protocols."""
    from rich.console import Console
    from rich.table import Table

    from vosbench.core.registry import datasets, models

    console = Console()
    if what == "protocols":
        from vosbench.propagation.protocol import PRESET_INFO, PRESETS

        table = Table(title="protocol presets")
        table.add_column("name", style="bold")
        table.add_column("version")
        table.add_column("settings")
        if verbose:
            table.add_column("reference")
            table.add_column("verified")
        for name, p in PRESETS.items():
            row = [name, str(p.version), ", ".join(f"{k}={v}" for k, v in p.settings().items())]
            if verbose:
                info = PRESET_INFO[name]
                row += [info.reference, info.verified]
            table.add_row(*row)
        console.print(table)
        return
    if what == "models":
        console.print(models_table(directory))
        for b in models.broken():
            console.print(f"[red]plugin {b.name!r} ({b.source}) failed to load:[/red]\n{b.error}")
        return
    reg = datasets
    table = Table(title=f"{reg.kind}s")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("source")
    table.add_column("needs")
    for entry in reg.entries():
        spec = entry.spec
        needs = spec.needs or "-"
        if getattr(spec, "generated", False):
            needs = "nothing (generated on first use)"
        table.add_row(spec.name, spec.description, entry.source, needs)
    console.print(table)
    for b in reg.broken():
        console.print(f"[red]plugin {b.name!r} ({b.source}) failed to load:[/red]\n{b.error}")


def weights_present(spec: Any, directory: Path) -> str:
    """Whether a model's official files are in ``directory``: ``yes`` / ``no`` (naming the files),
    ``-`` for a model that takes no weights, ``no official file`` for one without a download."""
    if spec.checkpoint == "none":
        return "-"
    if not spec.weights:
        return "no official file"
    have = [wf.name for wf in spec.weights if (directory / wf.filename).is_file()]
    if have:
        return "yes: " + ", ".join(have)
    return "no (" + ", ".join(wf.name for wf in spec.weights) + ")"


def models_table(directory: Path | None) -> Any:
    """The ``list models`` table: name, family, paper, what the model loads (format), default
    preset, whether its weights are downloaded, and the plugin source."""
    from rich.table import Table

    from vosbench.core.registry import models
    from vosbench.models.weights import weights_dir

    d = directory.expanduser() if directory is not None else weights_dir()
    table = Table(title=f"models (weights folder: {d})")
    for col in ("name", "family", "paper", "checkpoint format", "default preset", "weights present", "source"):
        table.add_column(col, style="bold" if col == "name" else None, overflow="fold")
    for entry in models.entries():
        spec = entry.spec
        factory = spec.factory if isinstance(spec.factory, str) else getattr(spec.factory, "__module__", "")
        family = spec.family or factory.split(":")[0].rsplit(".", 1)[-1] or "-"
        fmt = spec.description if spec.checkpoint != "none" else f"{spec.description} (takes no weights)"
        table.add_row(spec.name, family, spec.paper or "-", fmt, spec.native_protocol,
                      weights_present(spec, d), entry.source)
    return table
