"""``vosbench weights list`` and ``vosbench weights download NAME [--dir DIR]``."""

from __future__ import annotations

from pathlib import Path

import click

from vosbench.cli.tables import fmt_size

EXAMPLES = """
\b
Examples:
  vosbench weights list
  vosbench weights download crw
  vosbench weights download dino-vits16 resnet18-imagenet --dir ~/checkpoints
  vosbench run --model crw --checkpoint crw --dataset davis17-val
"""

DIR_HELP = "Folder of the files (default: $VOSBENCH_CACHE/weights, i.e. the weights cache)."


@click.group("weights", epilog=EXAMPLES)
def weights() -> None:
    """List and download the official checkpoints of the built-in models.

    A downloaded file can be named by its weight name in `--checkpoint NAME`.
    """


@weights.command("list", epilog=EXAMPLES)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None, help=DIR_HELP)
def list_weights(directory: Path | None) -> None:
    """Show the official files: model, URL, downloaded or not, size, SHA-256."""
    from rich.console import Console
    from rich.table import Table

    from vosbench.models import weights as w

    d = directory.expanduser() if directory is not None else w.weights_dir()
    table = Table(title=f"official weights (folder: {d})")
    for col in ("name", "model", "file", "downloaded", "size", "sha256", "url"):
        table.add_column(col, overflow="fold", style="bold" if col == "name" else None)
    for name, ow in sorted(w.official_weights().items()):
        wf = ow.file
        path = d / wf.filename
        partial = d / f"{wf.filename}.part"
        if path.is_file():
            cached, size = "yes", fmt_size(path.stat().st_size)
        elif partial.is_file():
            cached, size = "partial (resumable)", fmt_size(partial.stat().st_size)
        else:
            cached, size = "no", "-"
        sha, origin = w.expected_hash(wf, d)
        if sha is None:
            prefix = w.hash_prefix(wf)
            shown = f"{prefix}... (from file name)" if prefix else "unknown (recorded at download)"
        else:
            shown = f"{sha} ({'official' if origin == 'official' else 'recorded'})"
        table.add_row(name, ow.model, wf.filename, cached, size, shown, w.source_url(wf))
    Console().print(table)


@weights.command("download", epilog=EXAMPLES)
@click.argument("names", nargs=-1, required=True)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None, help=DIR_HELP)
@click.option("--force", is_flag=True, help="Download again even if a verified copy is there.")
def download_weights(names: tuple[str, ...], directory: Path | None, force: bool) -> None:
    """Download official files by name; interrupted downloads resume.

    NAMES are weight names from `vosbench weights list`. Each file is checked against its
    known SHA-256 (or the one recorded at its first download) before it is kept.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from vosbench.models import weights as w
    from vosbench.core.digest import sha256_file

    console = Console()
    todo = [w.find_weight(n) for n in names]  # all names checked before any transfer starts
    d = directory.expanduser() if directory is not None else w.weights_dir()
    manual = [ow for ow in todo if w.gated(ow.file)]
    for ow in manual:  # behind a licence gate: where to get the file and where to put it
        console.print(w.manual_note(ow.file, d), soft_wrap=True)
    for ow in (ow for ow in todo if ow not in manual):
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(ow.name, total=None)

            def update(done: int, total: int | None, task=task, bar=bar) -> None:
                bar.update(task, completed=done, total=total)

            path = w.download(ow.file, directory, force=force, progress=update)
        console.print(f"{ow.name}: {path} ({fmt_size(path.stat().st_size)}, sha256 {sha256_file(path)})")
    if manual:
        from vosbench.core.errors import DownloadError

        raise DownloadError(f"not downloaded (no direct address): {', '.join(ow.name for ow in manual)}; see above")
