"""``vosbench data download NAME [--dir DIR]`` and ``vosbench data check NAME [--data-root DIR]``."""

from __future__ import annotations

from pathlib import Path

import click

from vosbench.cli.tables import fmt_size

EXAMPLES = """
\b
Examples:
  vosbench data download davis17-trainval            # into $VOSBENCH_DATA/DAVIS-2017
  vosbench data download jhmdb --dir ~/data          # into ~/data/JHMDB
  vosbench data download ytvos18                     # prints what to download by hand, and where
  vosbench data check davis17-val --data-root ~/data/DAVIS-2017
"""


@click.command("download", epilog=EXAMPLES)
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data folder; the set is unpacked into DIR/<subfolder> (default: $VOSBENCH_DATA).")
@click.option("--force", is_flag=True, help="Download and unpack again even if a finished copy is there.")
@click.option("--keep-archives", is_flag=True, help="Keep the archives in DIR/.downloads after unpacking.")
def download_cmd(name: str, directory: Path | None, force: bool, keep_archives: bool) -> None:
    """Download the official archives of NAME, check them, and unpack them where the loaders look.

    \b
    NAME: davis16 (DAVIS-2016), davis17-trainval (DAVIS-2017 train+val 480p),
          davis17-test-dev (480p), jhmdb (frames, joint positions, splits);
          ytvos18 / ytvos19 print what to download by hand (an account is needed);
          vip prints where the VIP release is shared and the layout to unpack it into;
          tapvid-davis, tapvid-rgb-stacking, robotap (TAP-Vid pickles, point tracking).

    Interrupted downloads resume; each archive is checked against its official size and hashes
    where known, and against the SHA-256 recorded at its first download. The data set is
    unpacked into a hidden folder, its layout checked, and only then renamed into place.
    """
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from vosbench.datasets import download as dl
    from vosbench.datasets.layout_check import check_layout

    src = dl.find_source(name)
    if src is None:
        click.echo(dl.manual_instructions(name, directory.expanduser() if directory is not None else None))
        return
    base = dl.data_dir(directory)
    console = Console(stderr=True)

    def validate(folder: Path) -> list[str]:
        return check_layout(src.datasets[0], folder).problems

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=console, transient=True,
    ) as bar:
        tasks: dict[str, object] = {}

        def update(filename: str, done: int, total: int | None) -> None:
            if filename not in tasks:
                tasks[filename] = bar.add_task(filename, total=total)
            bar.update(tasks[filename], completed=done, total=total)  # type: ignore[arg-type]

        click.echo(f"{src.title}: {len(src.archives)} archive(s) -> {base / src.subfolder}", err=True)
        result = dl.download_source(src, base, force=force, keep_archives=keep_archives, progress=update,
                                    validate=validate)
    if result.up_to_date:
        click.echo(f"{result.folder}: {src.title} is already there (unpacked by vosbench); nothing to do "
                   f"(--force downloads it again)")
        return
    records = dl.read_records(base / dl.DOWNLOADS)
    for a in src.archives:
        rec = records.get(a.filename, {})
        origin = "official" if a.sha256 else "recorded at its first download"
        extra = f", md5 {rec.get('md5')} (matches the official)" if a.md5 else ""
        click.echo(f"  {a.filename}: {fmt_size(rec.get('size', 0))}, sha256 {rec.get('sha256')} ({origin}){extra}")
    click.echo(f"unpacked {result.files} files into {result.folder}; datasets: {', '.join(src.datasets)}")


@click.command("check", epilog=EXAMPLES)
@click.argument("name")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="The dataset's own root folder (default: $VOSBENCH_DATA/<subfolder>).")
@click.option("--dataset-option", "dataset_options", multiple=True, metavar="KEY=VALUE",
              help="Dataset option (repeatable), as for `vosbench run`.")
def check_cmd(name: str, data_root: Path | None, dataset_options: tuple[str, ...]) -> None:
    """Validate the data folder of dataset NAME and print everything that is wrong with it.

    Checks that every listed sequence has frames and first-frame annotations, that frame and
    annotation counts and sizes agree, that annotation ids / palettes are sane and that
    meta.json (YouTube-VOS) or the joint files and splits (JHMDB) agree with the files.
    Exit code 0 when the layout is fine, 2 when it is not.
    """
    from vosbench.core.errors import ConfigError, DatasetLayoutError
    from vosbench.datasets.layout_check import check_layout

    opts: dict[str, str] = {}
    for v in dataset_options:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise ConfigError(f"--dataset-option {v!r}: expected KEY=VALUE")
        opts[key.strip().replace("-", "_")] = val.strip()
    rep = check_layout(name, data_root, **opts)
    for note in rep.notes[:50]:
        click.echo(f"note: {note}")
    if len(rep.notes) > 50:
        click.echo(f"note: ... and {len(rep.notes) - 50} more notes")
    what = f"{rep.sequences} sequences, {rep.frames} frames, {rep.annotations} annotation files"
    if rep.ok:
        click.echo(f"{name} at {rep.root}: OK ({what} checked)")
        return
    for p in rep.problems:
        click.echo(f"problem: {p}", err=True)
    raise DatasetLayoutError(
        f"{name} at {rep.root}: {len(rep.problems)} problem(s) ({what} checked); fix them or download the set "
        f"again (`vosbench data download`)"
    )
