"""One way to run the ``vosbench`` command line in-process from a test."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner, Result

from vosbench.cli.main import cli


def invoke(*args: Any, code: int | None = None, catch_exceptions: bool = True,
           terminal_width: int | None = None) -> Result:
    """Run ``vosbench ARGS`` (each argument passed through ``str``, so paths may be given as is).

    Args:
        code: When given, assert the exit code is this (the output is the assertion message).
        catch_exceptions: ``False`` lets an unexpected exception propagate with its traceback
            (for tests whose commands must succeed); click's ``SystemExit`` is always caught.
        terminal_width: Width click formats help and tables to.
    """
    res = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=catch_exceptions,
                             terminal_width=terminal_width)
    if code is not None:
        assert res.exit_code == code, res.output
    return res
