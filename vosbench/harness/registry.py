"""Re-export of :mod:`vosbench.core.registry` for plugins written against vosbench 0.1."""

from vosbench.core.registry import BrokenPlugin, Entry, Registry, datasets, models

__all__ = ["BrokenPlugin", "Entry", "Registry", "datasets", "models"]
