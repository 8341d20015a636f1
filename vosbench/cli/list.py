"""``vosbench list models|datasets|protocols``."""

from __future__ import annotations

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
def list_cmd(what: str, verbose: bool) -> None:
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
    reg = models if what == "models" else datasets
    table = Table(title=f"{reg.kind}s")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("source")
    table.add_column("needs")
    for entry in reg.entries():
        spec = entry.spec
        needs = spec.needs if what == "models" else (spec.needs or "-")
        if what == "datasets" and getattr(spec, "generated", False):
            needs = "nothing (generated on first use)"
        table.add_row(spec.name, spec.description, entry.source, needs)
    console.print(table)
    for b in reg.broken():
        console.print(f"[red]plugin {b.name!r} ({b.source}) failed to load:[/red]\n{b.error}")
