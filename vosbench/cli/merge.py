"""``vosbench merge``."""

from __future__ import annotations

from pathlib import Path

import click

EXAMPLES = """
\b
Examples:
  vosbench merge runs/ytvos18-val/crw/yt-val              # after `vosbench run ... --shard I/4 --run-id yt-val`
  vosbench merge RUN_DIR --json                           # print the record
"""


@click.command("merge", epilog=EXAMPLES)
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the record(s) (summary.json) to stdout.")
def merge(run_dirs: tuple[Path, ...], as_json: bool) -> None:
    """Write the record of sharded run folders (summary.json, per_object.csv, per_frame.csv,
    submission.zip, PCK tables) from their committed sequences, once every sequence is in.

    Shards run this themselves when they find they are the last; use it when the last one was
    killed after its final commit, or to rebuild a record. A folder with missing sequences is
    refused, naming them (resume the run to do them).
    """
    import json

    from vosbench.cli.tables import print_run_summary
    from vosbench.runs.merge import merge as merge_run

    records = []
    for run_dir in run_dirs:
        written = merge_run(run_dir)
        records.append(written.record)
        if not as_json:
            print_run_summary(written.record, written.scores, run_dir)
    if as_json:
        click.echo(json.dumps(records[0] if len(records) == 1 else records, indent=2))
