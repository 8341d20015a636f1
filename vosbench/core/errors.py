"""Exceptions raised by vosbench library code.

Library code raises these; only the command line (``vosbench.cli.main``) turns them into
messages and exit codes. Every message names the file or setting at fault, what was expected,
and what to do about it.
"""

from __future__ import annotations


class VosbenchError(Exception):
    """Base class of every error vosbench raises on purpose (bad input, bad settings)."""

    exit_code = 2


class UnknownPluginError(VosbenchError, KeyError):
    """A model or dataset name that no registry knows."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class DuplicatePluginError(VosbenchError):
    """Two registrations under one name."""


class PluginLoadError(VosbenchError):
    """A plugin (built-in or third-party) failed to import or build."""


class DatasetLayoutError(VosbenchError):
    """A dataset folder is missing or does not have the expected layout."""


class InputFileError(VosbenchError):
    """An image, mask, prediction or annotation file is missing, unreadable or malformed."""


class CheckpointError(VosbenchError):
    """A checkpoint file is missing, unreadable, or does not match the model."""


class ConfigError(VosbenchError):
    """An invalid option or protocol setting."""


class EncoderContractError(ConfigError):
    """An encoder's output breaks the encoder contract (shape, dtype, device, finite values)."""


class DownloadError(VosbenchError):
    """A weight download failed or its hash did not match."""


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGTERM or SIGINT (raised by the handler ``vosbench run`` installs).

    A ``KeyboardInterrupt`` (not an ``Exception``), so ``except Exception`` clauses let it pass;
    the command line exits with :attr:`exit_code` (128 + the signal number: 143 for SIGTERM,
    130 for SIGINT).
    """

    def __init__(self, signum: int, name: str):
        super().__init__(f"stopped by {name}")
        self.signum = signum
        self.signal_name = name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
