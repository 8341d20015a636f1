"""The ``--runs`` option of ``vosbench leaderboard`` and ``vosbench check``: the runs folder to
read; by default ``runs`` and, while it exists, ``results/runs`` (the default of earlier versions),
so existing runs are still found."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from vosbench.core.paths import OLD_RUNS_DIR, RUNS_DIR, default_runs_folders


def runs_option(help: str) -> Callable[[Any], Any]:
    """The ``--runs DIR`` option (``None`` when not given)."""
    return click.option(
        "--runs", default=None, type=click.Path(file_okay=False, path_type=Path),
        help=f"{help} [default: {RUNS_DIR}; an existing {OLD_RUNS_DIR}, the old default, is read too]",
    )


def runs_folders(runs: Path | None) -> list[Path]:
    """``[runs]`` when given, else the default folders (saying on stderr when the old one is read)."""
    if runs is not None:
        return [runs]
    folders, note = default_runs_folders()
    if note:
        click.echo(f"note: {note}", err=True)
    return folders


def runs_folder_records(runs: Path | None) -> tuple[list[Any], list[str]]:
    """The finished run records of the folders to read, and one line per unfinished run (its
    folder relative to the runs folder, prefixed with that folder when several are read)."""
    from vosbench.records.reader import find_records, unfinished_runs

    folders = runs_folders(runs)
    records = [r for folder in folders for r in find_records(folder)]
    several = len(folders) > 1
    unfinished = [f"{folder}/{line}" if several else line for folder in folders for line in unfinished_runs(folder)]
    return records, unfinished
