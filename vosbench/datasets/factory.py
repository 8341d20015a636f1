"""Turning a registered dataset name (and a data root) into an opened dataset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vosbench.core.dataset_options import parse_dataset_options
from vosbench.core.errors import DatasetLayoutError, PluginLoadError
from vosbench.core.paths import cache_dir
from vosbench.core.registry import datasets
from vosbench.core.specs import resolve
from vosbench.datasets.base import VideoDataset


def dataset_root(name: str, root: str | os.PathLike[str] | None) -> Path:
    """``root`` if given, else ``$VOSBENCH_DATA/<subfolder>``; clear error when neither works."""
    spec = datasets.get(name)
    if root is not None:
        p = Path(root).expanduser()
        # a point-tracking set may be given as its pickle file
        if not spec.generated and p.is_file() and spec.task != "points":
            raise DatasetLayoutError(f"dataset {name!r}: data root {p} is a file; expected the dataset's folder (--data-root)")
        if not spec.generated and not (p.is_dir() or (spec.task == "points" and p.is_file())):
            raise DatasetLayoutError(f"dataset {name!r}: data root {p} does not exist (--data-root)")
        return p
    if spec.generated:
        return cache_dir() / "synthetic" / name
    base = os.environ.get("VOSBENCH_DATA")
    if not base:
        raise DatasetLayoutError(
            f"dataset {name!r}: no data folder given. Pass --data-root DIR (the dataset's own root, "
            f"holding {spec.needs or 'its files'}) or set VOSBENCH_DATA so that "
            f"$VOSBENCH_DATA/{spec.subfolder} is that folder."
        )
    p = Path(base).expanduser() / spec.subfolder
    if not p.is_dir():
        raise DatasetLayoutError(
            f"dataset {name!r}: {p} does not exist ($VOSBENCH_DATA/{spec.subfolder}); "
            f"download the dataset there or pass --data-root"
        )
    return p


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, **options: Any) -> VideoDataset:
    """See :func:`vosbench.load_dataset`."""
    spec = datasets.get(name)
    options = parse_dataset_options(spec, options)
    r = dataset_root(name, root)
    try:
        factory = resolve(spec.factory)
    except Exception as e:  # noqa: BLE001
        raise PluginLoadError(f"dataset {name!r}: cannot import its factory {spec.factory!r}: {e}") from e
    ds = factory(spec, r, **{**spec.options, **options})
    if not isinstance(ds, VideoDataset):
        raise PluginLoadError(
            f"dataset {name!r}: factory {spec.factory!r} returned {type(ds).__name__}; it must return a "
            f"vosbench.datasets.base.VideoDataset"
        )
    return ds
