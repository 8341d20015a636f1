"""Turning registry names into built models and opened datasets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vosbench.harness.errors import ConfigError, DatasetLayoutError, PluginLoadError, VosbenchError
from vosbench.harness.registry import datasets, models
from vosbench.harness.specs import resolve


def create_model(name: str, checkpoint: str | os.PathLike[str] | None = None, **options: Any):
    """See :func:`vosbench.create_model`."""
    spec = models.get(name)
    if spec.checkpoint == "required" and checkpoint is None:
        where = "; ".join(f"{w.name}: {w.url}" for w in spec.weights) or "the model's authors"
        raise ConfigError(
            f"model {name!r} needs --checkpoint (random weights would be meaningless). "
            f"Official files: {where}. `vosbench weights download NAME` fetches one."
        )
    if checkpoint is not None:
        checkpoint = resolve_checkpoint(checkpoint)
    try:
        factory = resolve(spec.factory)
    except Exception as e:  # noqa: BLE001
        raise PluginLoadError(f"model {name!r}: cannot import its factory {spec.factory!r}: {e}") from e
    model = factory(spec, checkpoint=checkpoint, **options)
    if not hasattr(model, "stride"):
        raise PluginLoadError(f"model {name!r}: factory returned {type(model).__name__} without a `stride`")
    if not hasattr(model, "spec"):
        model.spec = spec
    return model.eval()


def resolve_checkpoint(checkpoint: str | os.PathLike[str]) -> Path:
    """A path to a file, or the name of an official file in the weights cache."""
    p = Path(checkpoint).expanduser()
    if p.is_file():
        return p
    try:
        from vosbench.models.weights import cached_weight_path
    except ImportError:  # weights cache not available
        cached_weight_path = None
    if cached_weight_path is not None and os.sep not in str(checkpoint):
        cached = cached_weight_path(str(checkpoint))
        if cached is not None:
            return cached
    raise ConfigError(
        f"checkpoint {checkpoint!s} not found: give a file path, or the name of an official file "
        f"downloaded with `vosbench weights download NAME` (see `vosbench weights list`)"
    )


def dataset_root(name: str, root: str | os.PathLike[str] | None) -> Path:
    """``root`` if given, else ``$VOSBENCH_DATA/<subfolder>``; clear error when neither works."""
    spec = datasets.get(name)
    if root is not None:
        p = Path(root).expanduser()
        if not spec.generated and not p.is_dir():
            raise DatasetLayoutError(f"dataset {name!r}: data root {p} does not exist (--data-root)")
        return p
    if spec.generated:
        from vosbench.harness.paths import cache_dir

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


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, **options: Any):
    """See :func:`vosbench.load_dataset`."""
    from vosbench.harness.dataset_options import parse_dataset_options

    spec = datasets.get(name)
    options = parse_dataset_options(spec, options)
    r = dataset_root(name, root)
    try:
        factory = resolve(spec.factory)
    except Exception as e:  # noqa: BLE001
        raise PluginLoadError(f"dataset {name!r}: cannot import its factory {spec.factory!r}: {e}") from e
    ds = factory(spec, r, **{**spec.options, **options})
    if not hasattr(ds, "sequence_names"):
        raise VosbenchError(f"dataset {name!r}: factory returned {type(ds).__name__}, not a VideoDataset")
    return ds
