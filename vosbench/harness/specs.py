"""Re-export of :mod:`vosbench.core.specs` for plugins written against vosbench 0.1."""

from vosbench.core.specs import DatasetSpec, ModelSpec, WeightFile, resolve

__all__ = ["DatasetSpec", "ModelSpec", "WeightFile", "resolve"]
