"""The ``vosbench`` command line.

Subcommands live in their own modules and are imported only when invoked, so ``vosbench list``
and ``--help`` stay fast and never import torch. Library errors (:class:`VosbenchError`) become
one-line messages with exit code 2; nothing here prints a traceback for bad input.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from vosbench.core.version import __version__
from vosbench.core.errors import RunInterrupted, VosbenchError

# name -> ("module:attribute", one-line help). Keep in the order shown by `vosbench --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("vosbench.cli.run:run", "Propagate labels with a model over a dataset and score it."),
    "tune": ("vosbench.cli.tune:tune", "Choose protocol settings on a train split, then run them on the evaluation split."),
    "merge": ("vosbench.cli.merge:merge", "Write the record of a sharded run once all its sequences are in."),
    "eval": ("vosbench.cli.eval:eval_cmd", "Score a folder of predictions: DAVIS or YouTube-VOS J&F, JHMDB or BADJA PCK."),
    "list": ("vosbench.cli.list:list_cmd", "List registered models, datasets and protocols."),
    "data": ("vosbench.cli.data:data", "Download, check or generate data sets (DAVIS, YouTube-VOS, JHMDB, BADJA)."),
    "leaderboard": ("vosbench.cli.leaderboard:leaderboard", "Leaderboard tables (md/csv/json) from run records."),
    "check": ("vosbench.cli.check:check", "Fail when scores drop below a committed baseline."),
    "compare": ("vosbench.cli.compare:compare", "Paired significance test of runs on their shared sequences."),
    "report": ("vosbench.cli.report:report", "Overlay videos, plots and an offline report.html for runs."),
    "weights": ("vosbench.cli.weights:weights", "List and download official model checkpoints."),
}


class UserError(click.ClickException):
    """A VosbenchError shown as ``Error: <message>`` with its exit code (2 for bad input)."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, _ = COMMANDS[name]
        module_name, _, attr = target.partition(":")
        return getattr(importlib.import_module(module_name), attr)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VosbenchError as e:
            raise UserError(str(e), e.exit_code) from None
        except RunInterrupted as e:  # SIGTERM/SIGINT: 143/130, not click's "Aborted!" and 1
            click.echo(f"Interrupted ({e.signal_name}); committed sequences are kept (vosbench run --resume RUN_DIR).", err=True)
            raise click.exceptions.Exit(e.exit_code) from None
        except OSError as e:  # an ordinary file-system failure (full or read-only disk, ...): one line
            from vosbench.core.safepath import os_error_text

            raise UserError(os_error_text(e), 2) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


EXAMPLES = """
\b
Examples:
  vosbench run                                   # demo: lab colour model on generated DAVIS-style videos
  vosbench run --model resnet18 --dataset davis16-val --data-root ~/data/DAVIS-2016
  vosbench eval --gt DAVIS/Annotations/480p --pred my_predictions --out scores.csv
  vosbench list models
"""


@click.group(cls=LazyGroup, epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vosbench")
def cli() -> None:
    """vosbench: label-propagation benchmarks (DAVIS, YouTube-VOS, JHMDB) for video encoders."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="vosbench")
    except KeyboardInterrupt:
        click.echo("Interrupted; files written so far are kept.", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
