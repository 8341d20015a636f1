"""Re-export of :mod:`vosbench.core.errors` for plugins written against vosbench 0.1."""

from vosbench.core.errors import (
    CheckpointError,
    ConfigError,
    DatasetLayoutError,
    DownloadError,
    DuplicatePluginError,
    InputFileError,
    PluginLoadError,
    UnknownPluginError,
    VosbenchError,
)

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DatasetLayoutError",
    "DownloadError",
    "DuplicatePluginError",
    "InputFileError",
    "PluginLoadError",
    "UnknownPluginError",
    "VosbenchError",
]
